// config/units.h — HAProxy time and size values ("5s", "100us", "16k").
//
// Time: a bare number is milliseconds; suffixes us, ms, s, m, h, d (lower
// case only); the result must fit in 2147483647 ms. Sizes: k, m, g (x1024).
//
// Thread rules: pure functions; any thread may call them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace herd::config {

struct TimeValue {
  enum class Status { Ok, Empty, BadChar, Overflow };
  Status status = Status::Ok;
  int64_t ms = 0;
  char bad_char = 0;          // BadChar: the offending character
  std::string trailing_junk;  // Ok: text after a valid unit (HAProxy only warns)
};

TimeValue parse_time(std::string_view text);

// The common HAProxy message for a failed time value of keyword `kw`
// (e.g. "timeout client"): "unexpected character 'x' in 'timeout client'",
// "timer overflow in argument '25d' to 'timeout client' (maximum ...)" or
// "'timeout client' expects an integer value (in milliseconds)".
std::string time_error(const TimeValue& v, std::string_view text, std::string_view kw);

// The warning HAProxy prints (without a location) for "5sx".
std::string time_junk_warning(std::string_view text, const TimeValue& v);

// Sizes with an optional k/m/g suffix. Returns false on anything else.
bool parse_size(std::string_view text, uint64_t* out);

}  // namespace herd::config
