// membership/msgpack.cpp — see msgpack.h.
#include "membership/msgpack.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace herd::membership::msgpack {

const char* errc_name(Errc e) {
  switch (e) {
    case Errc::kOk:
      return "ok";
    case Errc::kTruncated:
      return "truncated";
    case Errc::kUnexpectedType:
      return "unexpected type";
    case Errc::kOverflow:
      return "integer overflow";
    case Errc::kTooDeep:
      return "nesting too deep";
    case Errc::kTooLarge:
      return "length too large";
    case Errc::kInvalid:
      return "invalid";
    case Errc::kTrailing:
      return "trailing bytes";
  }
  return "?";
}

// ---------------------------------------------------------------- Writer

void Writer::be(uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void Writer::uint(uint64_t v) {
  if (v < 0x80) {
    out_.push_back(static_cast<uint8_t>(v));
  } else if (v <= 0xff) {
    out_.push_back(0xcc);
    be(v, 1);
  } else if (v <= 0xffff) {
    out_.push_back(0xcd);
    be(v, 2);
  } else if (v <= 0xffffffffu) {
    out_.push_back(0xce);
    be(v, 4);
  } else {
    out_.push_back(0xcf);
    be(v, 8);
  }
}

void Writer::sint(int64_t v) {
  if (v >= 0) return uint(static_cast<uint64_t>(v));
  auto u = static_cast<uint64_t>(v);
  if (v >= -32) {
    out_.push_back(static_cast<uint8_t>(u));
  } else if (v >= -128) {
    out_.push_back(0xd0);
    be(u, 1);
  } else if (v >= -32768) {
    out_.push_back(0xd1);
    be(u, 2);
  } else if (v >= std::numeric_limits<int32_t>::min()) {
    out_.push_back(0xd2);
    be(u, 4);
  } else {
    out_.push_back(0xd3);
    be(u, 8);
  }
}

void Writer::f64(double v) {
  out_.push_back(0xcb);
  be(std::bit_cast<uint64_t>(v), 8);
}

void Writer::f32(float v) {
  out_.push_back(0xca);
  be(std::bit_cast<uint32_t>(v), 4);
}

void Writer::sized_header(uint8_t code, bool has8, uint64_t n) {
  // code, code+1, code+2 are the 8/16/32-bit length forms (16/32 without has8).
  if (has8 && n <= 0xff) {
    out_.push_back(code);
    be(n, 1);
    return;
  }
  if (has8) ++code;
  if (n <= 0xffff) {
    out_.push_back(code);
    be(n, 2);
  } else {
    out_.push_back(static_cast<uint8_t>(code + 1));
    be(n, 4);
  }
}

void Writer::str(std::string_view s) {
  if (s.size() < 32) {
    out_.push_back(static_cast<uint8_t>(0xa0 | s.size()));
  } else if (flavor_ == Flavor::kRpc) {
    sized_header(0xd9, true, s.size());
  } else {
    sized_header(0xda, false, s.size());  // old raw format: no str8
  }
  out_.insert(out_.end(), s.begin(), s.end());
}

void Writer::bin(ByteView b) {
  if (flavor_ == Flavor::kGossip) return str(as_chars(b));
  sized_header(0xc4, true, b.size());
  out_.insert(out_.end(), b.begin(), b.end());
}

void Writer::array_header(uint32_t n) {
  if (n < 16) {
    out_.push_back(static_cast<uint8_t>(0x90 | n));
  } else {
    sized_header(0xdc, false, n);
  }
}

void Writer::map_header(uint32_t n) {
  if (n < 16) {
    out_.push_back(static_cast<uint8_t>(0x80 | n));
  } else {
    sized_header(0xde, false, n);
  }
}

// ---------------------------------------------------------------- StructWriter

Writer& StructWriter::field(std::string_view name) {
  fields_.emplace_back(std::string(name), Writer(out_.flavor()));
  return fields_.back().second;
}

void StructWriter::finish() {
  if (done_) return;
  done_ = true;
  // std::string compares as unsigned bytes (char_traits<char> is memcmp-like).
  std::stable_sort(fields_.begin(), fields_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  out_.map_header(static_cast<uint32_t>(fields_.size()));
  for (const auto& [name, value] : fields_) {
    out_.str(name);
    out_.raw(value.bytes());
  }
}

// ---------------------------------------------------------------- Reader

bool Reader::fail(Errc code) {
  if (err_.code == Errc::kOk) {
    err_.code = code;
    err_.offset = pos_;
  }
  return false;
}

bool Reader::need(std::size_t n) {
  if (!ok()) return false;
  if (remaining() < n) return fail(Errc::kTruncated);
  return true;
}

uint64_t Reader::be(std::size_t n) {
  uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | data_[pos_ + i];
  pos_ += n;
  return v;
}

bool Reader::enter() {
  if (!ok()) return false;
  if (depth_ >= max_depth_) return fail(Errc::kTooDeep);
  ++depth_;
  return true;
}

Kind Reader::peek() const {
  if (!ok() || at_end()) return Kind::kEnd;
  const uint8_t t = data_[pos_];
  if (t <= 0x7f || t >= 0xe0) return Kind::kInt;
  if (t <= 0x8f) return Kind::kMap;
  if (t <= 0x9f) return Kind::kArray;
  if (t <= 0xbf) return Kind::kStr;
  switch (t) {
    case 0xc0:
      return Kind::kNil;
    case 0xc2:
    case 0xc3:
      return Kind::kBool;
    case 0xc4:
    case 0xc5:
    case 0xc6:
      return Kind::kBin;
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      return Kind::kExt;
    case 0xca:
    case 0xcb:
      return Kind::kFloat;
    case 0xd9:
    case 0xda:
    case 0xdb:
      return Kind::kStr;
    case 0xdc:
    case 0xdd:
      return Kind::kArray;
    case 0xde:
    case 0xdf:
      return Kind::kMap;
    case 0xc1:
      return Kind::kInvalid;
    default:
      return Kind::kInt;  // 0xcc..0xd3
  }
}

bool Reader::try_nil() {
  if (ok() && !at_end() && data_[pos_] == 0xc0) {
    ++pos_;
    return true;
  }
  return false;
}

bool Reader::read_nil() {
  if (!need(1)) return false;
  if (data_[pos_] != 0xc0) return fail(Errc::kUnexpectedType);
  ++pos_;
  return true;
}

bool Reader::read_bool(bool& v) {
  if (!need(1)) return false;
  const uint8_t t = data_[pos_];
  if (t != 0xc2 && t != 0xc3) return fail(Errc::kUnexpectedType);
  v = t == 0xc3;
  ++pos_;
  return true;
}

namespace {
// Any msgpack integer: its sign and value.
struct RawInt {
  bool negative = false;
  uint64_t u = 0;  // value when !negative
  int64_t i = 0;   // value when negative
};
}  // namespace

static bool read_raw_int(ByteView data, std::size_t& pos, RawInt& out) {
  const uint8_t t = data[pos];
  auto be = [&](std::size_t n) {
    uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v = (v << 8) | data[pos + 1 + k];
    return v;
  };
  std::size_t width = 0;
  if (t <= 0x7f) {
    out.u = t;
  } else if (t >= 0xe0) {
    out.negative = true;
    out.i = static_cast<int8_t>(t);
  } else {
    switch (t) {
      case 0xcc:
        width = 1;
        break;
      case 0xcd:
        width = 2;
        break;
      case 0xce:
        width = 4;
        break;
      case 0xcf:
        width = 8;
        break;
      case 0xd0:
        width = 1;
        break;
      case 0xd1:
        width = 2;
        break;
      case 0xd2:
        width = 4;
        break;
      case 0xd3:
        width = 8;
        break;
      default:
        return false;
    }
    if (data.size() - pos < 1 + width) {
      pos = data.size() + 1;  // signals truncation
      return false;
    }
    const uint64_t v = be(width);
    if (t <= 0xcf) {
      out.u = v;
    } else {
      int64_t s = 0;
      switch (width) {
        case 1:
          s = static_cast<int8_t>(v);
          break;
        case 2:
          s = static_cast<int16_t>(v);
          break;
        case 4:
          s = static_cast<int32_t>(v);
          break;
        default:
          s = static_cast<int64_t>(v);
          break;
      }
      if (s < 0) {
        out.negative = true;
        out.i = s;
      } else {
        out.u = static_cast<uint64_t>(s);
      }
    }
  }
  pos += 1 + width;
  return true;
}

bool Reader::read_uint(uint64_t& v) {
  if (!need(1)) return false;
  RawInt ri;
  std::size_t p = pos_;
  if (!read_raw_int(data_, p, ri)) {
    return fail(p > data_.size() ? Errc::kTruncated : Errc::kUnexpectedType);
  }
  if (ri.negative) return fail(Errc::kOverflow);
  pos_ = p;
  v = ri.u;
  return true;
}

bool Reader::read_int(int64_t& v) {
  if (!need(1)) return false;
  RawInt ri;
  std::size_t p = pos_;
  if (!read_raw_int(data_, p, ri)) {
    return fail(p > data_.size() ? Errc::kTruncated : Errc::kUnexpectedType);
  }
  if (ri.negative) {
    v = ri.i;
  } else {
    if (ri.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return fail(Errc::kOverflow);
    }
    v = static_cast<int64_t>(ri.u);
  }
  pos_ = p;
  return true;
}

bool Reader::read_int32(int32_t& v) {
  int64_t w = 0;
  if (!read_int(w)) return false;
  if (w < std::numeric_limits<int32_t>::min() || w > std::numeric_limits<int32_t>::max()) {
    return fail(Errc::kOverflow);
  }
  v = static_cast<int32_t>(w);
  return true;
}

bool Reader::read_float(double& v) {
  if (!need(1)) return false;
  const uint8_t t = data_[pos_];
  if (t == 0xca) {
    if (!need(5)) return false;
    ++pos_;
    v = std::bit_cast<float>(static_cast<uint32_t>(be(4)));
    return true;
  }
  if (t == 0xcb) {
    if (!need(9)) return false;
    ++pos_;
    v = std::bit_cast<double>(be(8));
    return true;
  }
  int64_t i = 0;
  if (peek() != Kind::kInt) return fail(Errc::kUnexpectedType);
  if (!read_int(i)) return false;
  v = static_cast<double>(i);
  return true;
}

bool Reader::read_len_prefixed(std::size_t& len, bool& is_bin) {
  if (!need(1)) return false;
  const uint8_t t = data_[pos_];
  std::size_t width = 0;
  is_bin = false;
  if (t >= 0xa0 && t <= 0xbf) {
    ++pos_;
    len = t & 0x1f;
  } else {
    switch (t) {
      case 0xd9:
        width = 1;
        break;
      case 0xda:
        width = 2;
        break;
      case 0xdb:
        width = 4;
        break;
      case 0xc4:
        width = 1;
        is_bin = true;
        break;
      case 0xc5:
        width = 2;
        is_bin = true;
        break;
      case 0xc6:
        width = 4;
        is_bin = true;
        break;
      default:
        return fail(Errc::kUnexpectedType);
    }
    if (!need(1 + width)) return false;
    ++pos_;
    len = static_cast<std::size_t>(be(width));
  }
  if (len > remaining()) return fail(Errc::kTruncated);
  return true;
}

bool Reader::read_str(std::string& v) {
  ByteView view;
  if (!read_bytes_view(view)) return false;
  v.assign(as_chars(view));
  return true;
}

bool Reader::read_bytes(Bytes& v) {
  ByteView view;
  if (!read_bytes_view(view)) return false;
  v.assign(view.begin(), view.end());
  return true;
}

bool Reader::read_bytes_view(ByteView& v) {
  if (try_nil()) {
    v = {};
    return true;
  }
  std::size_t len = 0;
  bool is_bin = false;
  if (!read_len_prefixed(len, is_bin)) return false;
  v = data_.subspan(pos_, len);
  pos_ += len;
  return true;
}

bool Reader::read_nilable_bytes(std::optional<Bytes>& v) {
  if (try_nil()) {
    v.reset();
    return true;
  }
  v.emplace();
  return read_bytes(*v);
}

bool Reader::read_container_header(uint8_t fix_base, uint8_t code16, uint32_t min_bytes_each,
                                   uint32_t& n, bool* was_nil) {
  if (was_nil) *was_nil = false;
  if (try_nil()) {
    n = 0;
    if (was_nil) *was_nil = true;
    return true;
  }
  if (!need(1)) return false;
  const uint8_t t = data_[pos_];
  if (t >= fix_base && t <= fix_base + 0x0f) {
    ++pos_;
    n = t & 0x0f;
  } else if (t == code16 || t == code16 + 1) {
    const std::size_t width = t == code16 ? 2 : 4;
    if (!need(1 + width)) return false;
    ++pos_;
    n = static_cast<uint32_t>(be(width));
  } else {
    return fail(Errc::kUnexpectedType);
  }
  // Every element takes at least min_bytes_each bytes of input.
  if (static_cast<uint64_t>(n) * min_bytes_each > remaining()) return fail(Errc::kTruncated);
  return true;
}

bool Reader::read_array_header(uint32_t& n, bool* was_nil) {
  return read_container_header(0x90, 0xdc, 1, n, was_nil);
}

bool Reader::read_map_header(uint32_t& n, bool* was_nil) {
  return read_container_header(0x80, 0xde, 2, n, was_nil);
}

bool Reader::read_raw(std::size_t n, ByteView& v) {
  if (!need(n)) return false;
  v = data_.subspan(pos_, n);
  pos_ += n;
  return true;
}

bool Reader::skip() {
  if (!enter()) return false;
  const bool r = skip_inner();
  leave();
  return r;
}

static bool read_ext(Reader& r, Value& out);

bool Reader::skip_inner() {
  if (!need(1)) return false;
  switch (peek()) {
    case Kind::kNil:
    case Kind::kBool:
      ++pos_;
      return true;
    case Kind::kInt: {
      int64_t ignored_i = 0;
      uint64_t ignored_u = 0;
      if (data_[pos_] == 0xcf) return read_uint(ignored_u);
      return read_int(ignored_i);
    }
    case Kind::kFloat: {
      double ignored = 0;
      return read_float(ignored);
    }
    case Kind::kStr:
    case Kind::kBin: {
      std::size_t len = 0;
      bool is_bin = false;
      if (!read_len_prefixed(len, is_bin)) return false;
      pos_ += len;
      return true;
    }
    case Kind::kArray: {
      uint32_t n = 0;
      if (!read_array_header(n)) return false;
      for (uint32_t i = 0; i < n; ++i) {
        if (!skip()) return false;
      }
      return true;
    }
    case Kind::kMap: {
      uint32_t n = 0;
      if (!read_map_header(n)) return false;
      for (uint32_t i = 0; i < n; ++i) {
        if (!skip() || !skip()) return false;
      }
      return true;
    }
    case Kind::kExt: {
      Value v;  // read_ext, not read_value: skip() already counted this level
      return read_ext(*this, v);
    }
    case Kind::kInvalid:
      return fail(Errc::kInvalid);
    case Kind::kEnd:
      return fail(Errc::kTruncated);
  }
  return fail(Errc::kInvalid);
}

// ---------------------------------------------------------------- Value

const Value* Value::find(std::string_view key) const {
  if (type != Type::kMap) return nullptr;
  for (const auto& [k, v] : m) {
    if ((k.type == Type::kStr || k.type == Type::kBin) && k.s == key) return &v;
  }
  return nullptr;
}

static bool read_ext(Reader& r, Value& out) {
  ByteView head;
  if (!r.read_raw(1, head)) return false;
  std::size_t len = 0;
  switch (head[0]) {
    case 0xd4:
      len = 1;
      break;
    case 0xd5:
      len = 2;
      break;
    case 0xd6:
      len = 4;
      break;
    case 0xd7:
      len = 8;
      break;
    case 0xd8:
      len = 16;
      break;
    default: {
      const std::size_t width = head[0] == 0xc7 ? 1 : head[0] == 0xc8 ? 2 : 4;
      ByteView lb;
      if (!r.read_raw(width, lb)) return false;
      for (uint8_t b : lb) len = (len << 8) | b;
    }
  }
  ByteView t;
  ByteView body;
  if (!r.read_raw(1, t) || !r.read_raw(len, body)) return false;
  out.type = Value::Type::kExt;
  out.ext_type = static_cast<int8_t>(t[0]);
  out.s.assign(as_chars(body));
  return true;
}

bool read_value(Reader& r, Value& out) {
  out = Value{};
  if (!r.enter()) return false;
  bool good = false;
  switch (r.peek()) {
    case Kind::kEnd:
      good = r.fail(Errc::kTruncated);
      break;
    case Kind::kInvalid:
      good = r.fail(Errc::kInvalid);
      break;
    case Kind::kNil:
      good = r.read_nil();
      break;
    case Kind::kBool:
      out.type = Value::Type::kBool;
      good = r.read_bool(out.b);
      break;
    case Kind::kInt: {
      const uint8_t t = r.rest()[0];
      if (t == 0xcf || t <= 0x7f || (t >= 0xcc && t <= 0xce)) {
        out.type = Value::Type::kUint;
        good = r.read_uint(out.u);
      } else {
        int64_t i = 0;
        good = r.read_int(i);
        if (i >= 0) {
          out.type = Value::Type::kUint;
          out.u = static_cast<uint64_t>(i);
        } else {
          out.type = Value::Type::kInt;
          out.i = i;
        }
      }
      break;
    }
    case Kind::kFloat:
      out.type = r.rest()[0] == 0xca ? Value::Type::kF32 : Value::Type::kF64;
      good = r.read_float(out.f);
      break;
    case Kind::kStr:
      out.type = Value::Type::kStr;
      good = r.read_str(out.s);
      break;
    case Kind::kBin:
      out.type = Value::Type::kBin;
      good = r.read_str(out.s);
      break;
    case Kind::kArray: {
      uint32_t n = 0;
      out.type = Value::Type::kArray;
      good = r.read_array_header(n);
      for (uint32_t i = 0; good && i < n; ++i) {
        out.a.emplace_back();
        good = read_value(r, out.a.back());
      }
      break;
    }
    case Kind::kMap: {
      uint32_t n = 0;
      out.type = Value::Type::kMap;
      good = r.read_map_header(n);
      for (uint32_t i = 0; good && i < n; ++i) {
        out.m.emplace_back();
        good = read_value(r, out.m.back().first) && read_value(r, out.m.back().second);
      }
      break;
    }
    case Kind::kExt:
      good = read_ext(r, out);
      break;
  }
  r.leave();
  return good && r.ok();
}

void write_value(Writer& w, const Value& v) {
  switch (v.type) {
    case Value::Type::kNil:
      w.nil();
      break;
    case Value::Type::kBool:
      w.boolean(v.b);
      break;
    case Value::Type::kUint:
      w.uint(v.u);
      break;
    case Value::Type::kInt:
      w.sint(v.i);
      break;
    case Value::Type::kF32:
      w.f32(static_cast<float>(v.f));
      break;
    case Value::Type::kF64:
      w.f64(v.f);
      break;
    case Value::Type::kStr:
      w.str(v.s);
      break;
    case Value::Type::kBin:
      w.bin(as_bytes(v.s));
      break;
    case Value::Type::kArray:
      w.array_header(static_cast<uint32_t>(v.a.size()));
      for (const auto& e : v.a) write_value(w, e);
      break;
    case Value::Type::kMap:
      w.map_header(static_cast<uint32_t>(v.m.size()));
      for (const auto& [k, e] : v.m) {
        write_value(w, k);
        write_value(w, e);
      }
      break;
    case Value::Type::kExt: {
      const auto n = v.s.size();
      Bytes head;
      if (n == 1 || n == 2 || n == 4 || n == 8 || n == 16) {
        const uint8_t code = n == 1 ? 0xd4 : n == 2 ? 0xd5 : n == 4 ? 0xd6 : n == 8 ? 0xd7 : 0xd8;
        head = {code};
      } else if (n <= 0xff) {
        head = {0xc7, static_cast<uint8_t>(n)};
      } else if (n <= 0xffff) {
        head = {0xc8, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
      } else {
        head = {0xc9, static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
      }
      head.push_back(static_cast<uint8_t>(v.ext_type));
      w.raw(head);
      w.raw(as_bytes(v.s));
      break;
    }
  }
}

}  // namespace herd::membership::msgpack
