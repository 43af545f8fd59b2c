// membership/snapshot.cpp — the snapshot file and the tags file (snapshot.h).
#include "membership/snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace herd::membership {
namespace {

constexpr std::size_t kBytesPerNode = 128;
constexpr std::size_t kCompactionThreshold = 2;

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

SnapshotState replay_snapshot(std::string_view text, bool rejoin_after_leave,
                              std::vector<std::string>* warnings) {
  SnapshotState s;
  auto warn = [&](const std::string& w) {
    if (warnings) warnings->push_back(w);
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;  // a partial last line
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    auto cut = [&](std::string_view prefix, std::string_view& rest) {
      if (line.substr(0, prefix.size()) != prefix) return false;
      rest = line.substr(prefix.size());
      return true;
    };
    std::string_view rest;
    uint64_t v = 0;
    if (cut("alive: ", rest)) {
      const auto sp = rest.rfind(' ');
      if (sp == std::string_view::npos) {
        warn("Failed to parse address: " + std::string(line));
        continue;
      }
      s.alive[std::string(rest.substr(0, sp))] = std::string(rest.substr(sp + 1));
    } else if (cut("not-alive: ", rest)) {
      s.alive.erase(std::string(rest));
    } else if (cut("clock: ", rest)) {
      if (parse_u64(rest, v))
        s.clock = v;
      else
        warn("Failed to convert clock time: " + std::string(line));
    } else if (cut("event-clock: ", rest)) {
      if (parse_u64(rest, v))
        s.event_clock = v;
      else
        warn("Failed to convert event clock time: " + std::string(line));
    } else if (cut("query-clock: ", rest)) {
      if (parse_u64(rest, v))
        s.query_clock = v;
      else
        warn("Failed to convert query clock time: " + std::string(line));
    } else if (cut("incarnation: ", rest)) {
      if (parse_u64(rest, v) && v <= UINT32_MAX)
        s.incarnation = static_cast<uint32_t>(v);
      else
        warn("Failed to convert incarnation: " + std::string(line));
    } else if (cut("keyring: ", rest)) {
      s.keys.clear();
      for (size_t at = 0; at < rest.size();) {
        size_t sp = rest.find(' ', at);
        if (sp == std::string_view::npos) sp = rest.size();
        if (sp > at) s.keys.emplace_back(rest.substr(at, sp - at));
        at = sp + 1;
      }
    } else if (cut("self-coordinate: ", rest)) {
      std::vector<double> nums;
      std::istringstream in{std::string(rest)};
      for (double d; in >> d;) nums.push_back(d);
      if (nums.size() < 4 || !in.eof() ||
          !std::all_of(nums.begin(), nums.end(), [](double d) { return std::isfinite(d); })) {
        warn("Failed to convert coordinate: " + std::string(line));
        continue;
      }
      s.coordinate_adjustment = nums[0];
      s.coordinate_error = nums[1];
      s.coordinate_height = nums[2];
      s.coordinate_vec.assign(nums.begin() + 3, nums.end());
    } else if (cut("coordinate: ", rest)) {
      // Serf ignores persisted coordinates; they re-converge.
    } else if (line == "leave") {
      if (rejoin_after_leave) continue;
      s = SnapshotState{};
    } else if (!line.empty() && line.front() == '#') {
      // comment
    } else {
      warn("Unrecognized snapshot line: " + std::string(line));
    }
  }
  return s;
}

std::string handover_text(const SnapshotState& s) {
  std::string out;
  for (const auto& [name, addr] : s.alive) out += "alive: " + name + " " + addr + "\n";
  out += "clock: " + std::to_string(s.clock) + "\n";
  out += "event-clock: " + std::to_string(s.event_clock) + "\n";
  out += "query-clock: " + std::to_string(s.query_clock) + "\n";
  out += "incarnation: " + std::to_string(s.incarnation) + "\n";
  if (!s.keys.empty()) {
    out += "keyring:";
    for (const auto& k : s.keys) out += " " + k;
    out += "\n";
  }
  if (!s.coordinate_vec.empty()) {
    std::ostringstream c;
    c.precision(17);  // round-trips a double
    c << "self-coordinate: " << s.coordinate_adjustment << ' ' << s.coordinate_error << ' '
      << s.coordinate_height;
    for (double d : s.coordinate_vec) c << ' ' << d;
    out += c.str() + "\n";
  }
  return out;
}

std::string snapshot_address(const std::string& ip, uint16_t port) {
  if (ip.find(':') != std::string::npos) return "[" + ip + "]:" + std::to_string(port);
  return ip + ":" + std::to_string(port);
}

Snapshotter::~Snapshotter() { close(); }

std::string Snapshotter::open(const std::string& path, bool rejoin_after_leave,
                              std::vector<std::string>* warnings, std::size_t min_compact_size) {
  close();
  path_ = path;
  rejoin_after_leave_ = rejoin_after_leave;
  min_compact_size_ = min_compact_size;
  leaving_ = false;
  fh_ = std::fopen(path.c_str(), "a+e");
  if (fh_ == nullptr) return "failed to open snapshot " + path + ": " + errno_text();
  std::string text;
  std::rewind(fh_);
  char buf[8192];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, fh_)) > 0) text.append(buf, n);
  if (std::ferror(fh_)) {
    std::string e = errno_text();
    close();
    return "failed to read snapshot " + path + ": " + e;
  }
  state_ = replay_snapshot(text, rejoin_after_leave, warnings);
  offset_ = text.size();
  return "";
}

std::vector<std::pair<std::string, std::string>> Snapshotter::previous(const std::string& self,
                                                                       uint64_t seed) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, addr] : state_.alive)
    if (name != self) out.emplace_back(name, addr);
  std::mt19937_64 rng(seed);
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

void Snapshotter::append(const std::string& line) {
  if (fh_ == nullptr) return;
  if (std::fwrite(line.data(), 1, line.size(), fh_) != line.size() || std::fflush(fh_) != 0) {
    error_ = "failed to update snapshot " + path_ + ": " + errno_text();
    // Serf tries a compaction to recover from a write error.
    if (auto e = compact(); !e.empty()) error_ += "; " + e;
    return;
  }
  offset_ += line.size();
  const std::size_t max_size =
      std::max(min_compact_size_, state_.alive.size() * kBytesPerNode * kCompactionThreshold);
  if (offset_ > max_size) {
    if (auto e = compact(); !e.empty()) error_ = e;
  }
}

std::string Snapshotter::compact() {
  std::string text;
  for (const auto& [name, addr] : state_.alive) text += "alive: " + name + " " + addr + "\n";
  text += "clock: " + std::to_string(state_.clock) + "\n";
  text += "event-clock: " + std::to_string(state_.event_clock) + "\n";
  text += "query-clock: " + std::to_string(state_.query_clock) + "\n";
  const std::string tmp = path_ + ".compact";
  std::FILE* f = std::fopen(tmp.c_str(), "we");
  if (f == nullptr) return "failed to open new snapshot " + tmp + ": " + errno_text();
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() &&
                  std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const std::string e = ok ? "" : errno_text();
  std::fclose(f);
  if (!ok) return "failed to write new snapshot " + tmp + ": " + e;
  if (::rename(tmp.c_str(), path_.c_str()) != 0)
    return "failed to install new snapshot " + path_ + ": " + errno_text();
  if (fh_ != nullptr) std::fclose(fh_);
  fh_ = std::fopen(path_.c_str(), "ae");
  if (fh_ == nullptr) return "failed to open snapshot " + path_ + ": " + errno_text();
  offset_ = text.size();
  ++compactions_;
  return "";
}

void Snapshotter::alive(const std::string& name, const std::string& addr) {
  if (leaving_) return;
  state_.alive[name] = addr;
  append("alive: " + name + " " + addr + "\n");
}

void Snapshotter::not_alive(const std::string& name) {
  if (leaving_) return;
  state_.alive.erase(name);
  append("not-alive: " + name + "\n");
}

void Snapshotter::clock(uint64_t current_time) {
  if (leaving_ || current_time == 0) return;
  const uint64_t last_seen = current_time - 1;
  if (last_seen <= state_.clock) return;
  state_.clock = last_seen;
  append("clock: " + std::to_string(last_seen) + "\n");
}

void Snapshotter::event_clock(uint64_t ltime) {
  if (leaving_ || ltime <= state_.event_clock) return;
  state_.event_clock = ltime;
  append("event-clock: " + std::to_string(ltime) + "\n");
}

void Snapshotter::query_clock(uint64_t ltime) {
  if (leaving_ || ltime <= state_.query_clock) return;
  state_.query_clock = ltime;
  append("query-clock: " + std::to_string(ltime) + "\n");
}

void Snapshotter::leave() {
  if (leaving_ || fh_ == nullptr) return;
  if (!rejoin_after_leave_) state_.alive.clear();
  append("leave\n");
  leaving_ = true;
  if (fh_ != nullptr) ::fsync(::fileno(fh_));
}

void Snapshotter::close() {
  if (fh_ == nullptr) return;
  std::fflush(fh_);
  ::fsync(::fileno(fh_));
  std::fclose(fh_);
  fh_ = nullptr;
}

// ---- tags file -----------------------------------------------------------------

std::string write_file_atomic(const std::string& path, const std::string& text, unsigned mode) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return tmp + ": " + errno_text();
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string e = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      return tmp + ": " + e;
    }
    off += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string e = errno_text();
    ::unlink(tmp.c_str());
    return path + ": " + e;
  }
  return "";
}

namespace {

void json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xA8) {
      out += (static_cast<unsigned char>(s[i + 2]) == 0xA8) ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

struct JsonReader {
  std::string_view t;
  std::size_t i = 0;
  std::string err;
  void ws() {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
  }
  bool fail(const std::string& why) {
    err = why + " at offset " + std::to_string(i);
    return false;
  }
  bool hex4(uint32_t& v) {
    if (i + 4 > t.size()) return fail("short \\u escape");
    v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = t[i++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<uint32_t>(c - 'A' + 10);
      else
        return fail("bad \\u escape");
    }
    return true;
  }
  bool string(std::string& out) {
    if (i >= t.size() || t[i] != '"') return fail("expected a string");
    ++i;
    while (i < t.size() && t[i] != '"') {
      const char c = t[i++];
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= t.size()) break;
      const char e = t[i++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && i + 1 < t.size() && t[i] == '\\' && t[i + 1] == 'u') {
            i += 2;
            uint32_t lo = 0;
            if (!hex4(lo)) return false;
            if (lo >= 0xDC00 && lo < 0xE000)
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            else
              cp = 0xFFFD;
          } else if (cp >= 0xD800 && cp < 0xE000) {
            cp = 0xFFFD;
          }
          put_utf8(out, cp);
          break;
        }
        default:
          return fail("bad escape");
      }
    }
    if (i >= t.size()) return fail("unterminated string");
    ++i;
    return true;
  }
};

}  // namespace

std::string tags_json(const std::map<std::string, std::string>& tags) {
  if (tags.empty()) return "{}";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : tags) {
    out += first ? "\n  " : ",\n  ";
    first = false;
    json_string(out, k);
    out += ": ";
    json_string(out, v);
  }
  out += "\n}";
  return out;
}

std::optional<std::map<std::string, std::string>> parse_tags_json(std::string_view text,
                                                                  std::string* error) {
  JsonReader r{text, 0, ""};
  std::map<std::string, std::string> tags;
  auto bad = [&]() -> std::optional<std::map<std::string, std::string>> {
    if (error) *error = r.err;
    return std::nullopt;
  };
  r.ws();
  // Go decodes `null` into a map as no change.
  if (text.substr(r.i, 4) == "null") {
    r.i += 4;
    r.ws();
    if (r.i == text.size()) return tags;
  }
  if (r.i >= text.size() || text[r.i] != '{') {
    r.fail("expected a JSON object of strings");
    return bad();
  }
  ++r.i;
  r.ws();
  if (r.i < text.size() && text[r.i] == '}') {
    ++r.i;
  } else {
    for (;;) {
      r.ws();
      std::string k, v;
      if (!r.string(k)) return bad();
      r.ws();
      if (r.i >= text.size() || text[r.i] != ':') {
        r.fail("expected ':'");
        return bad();
      }
      ++r.i;
      r.ws();
      if (!r.string(v)) return bad();
      tags[k] = v;
      r.ws();
      if (r.i < text.size() && text[r.i] == ',') {
        ++r.i;
        continue;
      }
      if (r.i < text.size() && text[r.i] == '}') {
        ++r.i;
        break;
      }
      r.fail("expected ',' or '}'");
      return bad();
    }
  }
  r.ws();
  if (r.i != text.size()) {
    r.fail("trailing characters after the object");
    return bad();
  }
  return tags;
}

std::string load_tags_file(const std::string& path, std::map<std::string, std::string>& tags) {
  std::ifstream in(path);
  if (!in) {
    if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return "";
    return "Failed to read tags file " + path + ": " + errno_text();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string err;
  auto parsed = parse_tags_json(ss.str(), &err);
  if (!parsed) return "Failed to decode tags file " + path + ": " + err;
  for (auto& [k, v] : *parsed) tags[k] = v;
  return "";
}

std::string save_tags_file(const std::string& path,
                           const std::map<std::string, std::string>& tags) {
  if (auto e = write_file_atomic(path, tags_json(tags), 0600); !e.empty())
    return "Failed to write tags file: " + e;
  return "";
}

}  // namespace herd::membership
