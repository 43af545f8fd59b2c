// config/units.cpp — see units.h.
#include "config/units.h"

namespace herd::config {

TimeValue parse_time(std::string_view text) {
  TimeValue v;
  if (text.empty()) {
    v.status = TimeValue::Status::Empty;
    return v;
  }
  size_t i = 0;
  // Accumulate in microseconds-safe 128-bit-free arithmetic: stop counting
  // once the value is certainly too large.
  uint64_t n = 0;
  bool huge = false;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    n = n * 10 + static_cast<uint64_t>(text[i] - '0');
    if (n > (uint64_t{1} << 50)) huge = true, n = uint64_t{1} << 50;
    ++i;
  }
  if (i == 0) {
    v.status = TimeValue::Status::BadChar;
    v.bad_char = text[0];
    return v;
  }
  std::string_view unit = text.substr(i);
  uint64_t ms = 0;
  size_t used = 0;
  if (unit.substr(0, 2) == "us") {
    ms = (n + 999) / 1000, used = 2;
  } else if (unit.substr(0, 2) == "ms") {
    ms = n, used = 2;
  } else if (unit.substr(0, 1) == "s") {
    ms = n * 1000, used = 1;
  } else if (unit.substr(0, 1) == "m") {
    ms = n * 60000, used = 1;
  } else if (unit.substr(0, 1) == "h") {
    ms = n * 3600000, used = 1;
  } else if (unit.substr(0, 1) == "d") {
    ms = n * 86400000, used = 1;
  } else if (unit.empty()) {
    ms = n;
  } else {
    v.status = TimeValue::Status::BadChar;
    v.bad_char = unit[0];
    return v;
  }
  if (huge || ms > 2147483647u) {
    v.status = TimeValue::Status::Overflow;
    return v;
  }
  v.ms = static_cast<int64_t>(ms);
  v.trailing_junk = std::string(unit.substr(used));
  return v;
}

std::string time_error(const TimeValue& v, std::string_view text, std::string_view kw) {
  switch (v.status) {
    case TimeValue::Status::Empty:
      return "'" + std::string(kw) + "' expects an integer value (in milliseconds)";
    case TimeValue::Status::BadChar:
      return "unexpected character '" + std::string(1, v.bad_char) + "' in '" + std::string(kw) +
             "'";
    case TimeValue::Status::Overflow:
      return "timer overflow in argument '" + std::string(text) + "' to '" + std::string(kw) +
             "' (maximum value is 2147483647 ms or ~24.8 days)";
    case TimeValue::Status::Ok:
      break;
  }
  return "";
}

std::string time_junk_warning(std::string_view text, const TimeValue& v) {
  return "unexpected character '" + std::string(1, v.trailing_junk[0]) +
         "' after the timer value '" + std::string(text) +
         "', only (us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are "
         "supported. This will be reported as an error in next versions.";
}

bool parse_size(std::string_view text, uint64_t* out) {
  size_t i = 0;
  uint64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    n = n * 10 + static_cast<uint64_t>(text[i] - '0');
    if (n > (uint64_t{1} << 40)) return false;
    ++i;
  }
  if (i == 0) return false;
  std::string_view unit = text.substr(i);
  if (unit == "k" || unit == "K")
    n <<= 10;
  else if (unit == "m" || unit == "M")
    n <<= 20;
  else if (unit == "g" || unit == "G")
    n <<= 30;
  else if (!unit.empty())
    return false;
  *out = n;
  return true;
}

}  // namespace herd::config
