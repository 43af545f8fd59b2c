// Test support for the Serf vectors: hex files, a small JSON reader for
// index.json, and comparison of msgpack values with index.json's decoded
// forms (byte strings that are printable ASCII as text, others "hex:...").
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "membership/msgpack.h"
#include "test_data.h"

namespace herd::membership::testing {

inline std::string vectors_dir() { return herd::testing::data_path("serf-vectors"); }

inline Bytes from_hex(std::string_view h) {
  Bytes out;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    const int a = nib(h[i]);
    const int b = nib(h[i + 1]);
    if (a < 0 || b < 0) break;
    out.push_back(static_cast<uint8_t>(a * 16 + b));
  }
  return out;
}

inline std::string to_hex(ByteView b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s.push_back(d[x >> 4]);
    s.push_back(d[x & 15]);
  }
  return s;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool file_exists(const std::string& name) {
  return std::filesystem::exists(vectors_dir() + "/" + name);
}

inline Bytes read_vector(const std::string& name) {
  return from_hex(read_file(vectors_dir() + "/" + name));
}

// ---- minimal JSON ------------------------------------------------------------

struct Json {
  enum class T { kNull, kBool, kNum, kStr, kArr, kObj } t = T::kNull;
  bool b = false;
  double num = 0;
  bool is_int = false;
  int64_t i = 0;
  std::string s;
  std::vector<Json> a;
  std::vector<std::pair<std::string, Json>> o;

  const Json* get(std::string_view k) const {
    for (const auto& [key, v] : o) {
      if (key == k) return &v;
    }
    return nullptr;
  }
  const Json& operator[](std::string_view k) const {
    static const Json kNullJson;
    const Json* v = get(k);
    return v ? *v : kNullJson;
  }
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : t_(text) {}
  Json parse() {
    Json v = value();
    return v;
  }

 private:
  void ws() {
    while (p_ < t_.size() &&
           (t_[p_] == ' ' || t_[p_] == '\n' || t_[p_] == '\r' || t_[p_] == '\t')) {
      ++p_;
    }
  }
  Json value() {
    ws();
    Json v;
    if (p_ >= t_.size()) return v;
    const char c = t_[p_];
    if (c == '{') {
      v.t = Json::T::kObj;
      ++p_;
      ws();
      if (t_[p_] == '}') {
        ++p_;
        return v;
      }
      for (;;) {
        ws();
        std::string k = str();
        ws();
        ++p_;  // ':'
        Json e = value();
        v.o.emplace_back(std::move(k), std::move(e));
        ws();
        if (t_[p_++] == '}') break;
      }
    } else if (c == '[') {
      v.t = Json::T::kArr;
      ++p_;
      ws();
      if (t_[p_] == ']') {
        ++p_;
        return v;
      }
      for (;;) {
        v.a.push_back(value());
        ws();
        if (t_[p_++] == ']') break;
      }
    } else if (c == '"') {
      v.t = Json::T::kStr;
      v.s = str();
    } else if (t_.substr(p_, 4) == "true") {
      v.t = Json::T::kBool;
      v.b = true;
      p_ += 4;
    } else if (t_.substr(p_, 5) == "false") {
      v.t = Json::T::kBool;
      p_ += 5;
    } else if (t_.substr(p_, 4) == "null") {
      p_ += 4;
    } else {
      v.t = Json::T::kNum;
      const std::size_t start = p_;
      while (p_ < t_.size() && (std::isdigit(static_cast<unsigned char>(t_[p_])) || t_[p_] == '-' ||
                                t_[p_] == '+' || t_[p_] == '.' || t_[p_] == 'e' || t_[p_] == 'E')) {
        ++p_;
      }
      const std::string n(t_.substr(start, p_ - start));
      v.num = std::strtod(n.c_str(), nullptr);
      v.is_int = n.find_first_of(".eE") == std::string::npos;
      if (v.is_int) v.i = std::strtoll(n.c_str(), nullptr, 10);
    }
    return v;
  }
  std::string str() {
    std::string out;
    ++p_;  // opening quote
    while (p_ < t_.size() && t_[p_] != '"') {
      char c = t_[p_++];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      c = t_[p_++];
      switch (c) {
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'u': {
          const unsigned cp =
              static_cast<unsigned>(std::stoul(std::string(t_.substr(p_, 4)), nullptr, 16));
          p_ += 4;
          if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
          } else {
            out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
          }
          break;
        }
        default:
          out.push_back(c);
      }
    }
    ++p_;  // closing quote
    return out;
  }
  std::string_view t_;
  std::size_t p_ = 0;
};

inline const Json& index_json() {
  static const Json kIndex = JsonParser(read_file(vectors_dir() + "/index.json")).parse();
  return kIndex;
}

// ---- comparison -----------------------------------------------------------------

// How index.json renders a byte string.
inline std::string render_bytes(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return "hex:" + to_hex(as_bytes(s));
  }
  return std::string(s);
}

// Compares a msgpack value with its index.json rendering; appends mismatches.
inline void compare(const Json& want, const msgpack::Value& got, const std::string& path,
                    std::vector<std::string>& errs) {
  using VT = msgpack::Value::Type;
  auto bad = [&](const std::string& why) { errs.push_back(path + ": " + why); };
  switch (want.t) {
    case Json::T::kNull:
      if (got.type != VT::kNil) bad("want nil");
      return;
    case Json::T::kBool:
      if (got.type != VT::kBool || got.b != want.b) bad("bool differs");
      return;
    case Json::T::kNum:
      if (got.type == VT::kUint) {
        if (!want.is_int || want.i < 0 || static_cast<uint64_t>(want.i) != got.u) {
          bad("uint differs: " + std::to_string(got.u));
        }
      } else if (got.type == VT::kInt) {
        if (!want.is_int || want.i != got.i) bad("int differs");
      } else if (got.type == VT::kF64 || got.type == VT::kF32) {
        if (std::fabs(want.num - got.f) > 1e-9 * std::max(1.0, std::fabs(want.num))) {
          bad("float differs");
        }
      } else {
        bad("want number");
      }
      return;
    case Json::T::kStr:
      if (got.type != VT::kStr && got.type != VT::kBin) {
        bad("want string " + want.s);
      } else if (render_bytes(got.s) != want.s) {
        bad("string differs: got " + render_bytes(got.s) + " want " + want.s);
      }
      return;
    case Json::T::kArr:
      if (got.type != VT::kArray || got.a.size() != want.a.size()) {
        bad("array shape differs");
        return;
      }
      for (std::size_t i = 0; i < want.a.size(); ++i) {
        compare(want.a[i], got.a[i], path + "[" + std::to_string(i) + "]", errs);
      }
      return;
    case Json::T::kObj:
      if (got.type != VT::kMap || got.m.size() != want.o.size()) {
        bad("map shape differs");
        return;
      }
      for (const auto& [k, v] : want.o) {
        const msgpack::Value* g = got.find(k);
        if (!g) {
          bad("missing key " + k);
          continue;
        }
        compare(v, *g, path + "." + k, errs);
      }
      return;
  }
}

// Decodes one msgpack object from bytes (either flavour).
inline msgpack::Value to_value(ByteView b) {
  msgpack::Reader r(b);
  msgpack::Value v;
  EXPECT_TRUE(msgpack::read_value(r, v)) << msgpack::errc_name(r.error().code);
  return v;
}

inline ::testing::AssertionResult matches(const Json& want, ByteView msgpack_bytes,
                                          const std::string& what) {
  std::vector<std::string> errs;
  compare(want, to_value(msgpack_bytes), what, errs);
  if (errs.empty()) return ::testing::AssertionSuccess();
  auto f = ::testing::AssertionFailure();
  for (const auto& e : errs) f << e << "\n";
  return f;
}

}  // namespace herd::membership::testing
