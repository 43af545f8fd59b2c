// membership/msgpack.h — a small msgpack codec for Serf's two flavours.
//
// Serf's gossip (memberlist messages, serf messages, tags, coordinates) uses
// go-msgpack's OLD format: strings and byte slices are both "raw" (fixstr,
// 0xda, 0xdb; never str8 0xd9, never bin 0xc4..0xc6). Serf's RPC port uses
// the newer format: strings may be str8, byte slices are bin. Writer picks the
// encoding by its Flavor; Reader accepts everything Go's decoder accepts
// (str8/bin8..32 for strings and bytes, any integer width for any integer
// field, nil where bytes/arrays/maps/strings are expected).
//
// Error model: no exceptions. Reader keeps a sticky error: the first failure
// (truncated input, wrong type, overflow, depth or size limit) is recorded,
// every later read returns false/zero, and the caller checks ok() or
// error() once at the end. Reader never reads outside its span and never
// allocates more than the input could describe (a header announcing n
// elements is rejected when fewer than n bytes remain).
//
// Thread rules: Writer and Reader are plain values with no shared state; any
// thread may use its own instances.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herd::membership {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace herd::membership

namespace herd::membership::msgpack {

// Which encoder rules to follow (decoding accepts both).
enum class Flavor : uint8_t {
  kGossip,  // old raw format: fixstr/0xda/0xdb for strings AND bytes
  kRpc,     // new format: fixstr/str8/str16/str32 for strings, bin for bytes
};

enum class Errc : uint8_t {
  kOk = 0,
  kTruncated,       // input ended inside a value (on a stream: read more and retry)
  kUnexpectedType,  // e.g. a map where an integer is required
  kOverflow,        // integer does not fit the destination
  kTooDeep,         // nesting beyond the reader's depth limit
  kTooLarge,        // a length larger than the remaining input or a limit
  kInvalid,         // reserved/unsupported type byte, semantically invalid value
  kTrailing,        // bytes left after a value that must end the input
};
const char* errc_name(Errc e);

struct Error {
  Errc code = Errc::kOk;
  std::size_t offset = 0;  // where in the input the failure was noticed
};

// Appends msgpack to an owned buffer.
class Writer {
 public:
  explicit Writer(Flavor flavor = Flavor::kGossip) : flavor_(flavor) {}

  void nil() { out_.push_back(0xc0); }
  void boolean(bool v) { out_.push_back(v ? 0xc3 : 0xc2); }
  void uint(uint64_t v);  // smallest encoding
  void sint(int64_t v);   // non-negative values as uint, negatives smallest
  void f64(double v);
  void f32(float v);
  void str(std::string_view s);  // gossip: raw; rpc: str family
  void bin(ByteView b);          // gossip: raw; rpc: bin family
  void nilable_bin(const std::optional<Bytes>& b) {
    if (b) {
      bin(ByteView(*b));
    } else {
      nil();
    }
  }
  void array_header(uint32_t n);
  void map_header(uint32_t n);
  void raw(ByteView already_encoded) {
    out_.insert(out_.end(), already_encoded.begin(), already_encoded.end());
  }

  Flavor flavor() const { return flavor_; }
  const Bytes& bytes() const { return out_; }
  Bytes take() { return std::move(out_); }

 private:
  void be(uint64_t v, int n);
  void sized_header(uint8_t code, bool has8, uint64_t n);
  Flavor flavor_;
  Bytes out_;
};

// Writes a Go struct as a map whose keys come out in sorted byte order (what
// go-msgpack does), whatever order the fields are added in:
//
//   StructWriter s(w);
//   s.field("SeqNo").uint(7);
//   s.field("Node").str("lb1");
//   s.finish();   // emits {Node, SeqNo}
class StructWriter {
 public:
  explicit StructWriter(Writer& out) : out_(out) {}
  StructWriter(const StructWriter&) = delete;
  StructWriter& operator=(const StructWriter&) = delete;
  ~StructWriter() { finish(); }

  // Returns a writer for exactly one value (the field's).
  Writer& field(std::string_view name);
  void finish();

 private:
  Writer& out_;
  std::vector<std::pair<std::string, Writer>> fields_;
  bool done_ = false;
};

// What the next value is, without consuming it.
enum class Kind : uint8_t {
  kEnd,  // no more input
  kNil,
  kBool,
  kInt,  // any integer (positive or negative)
  kFloat,
  kStr,  // fixstr/str8/16/32 (old raw format included)
  kBin,  // bin8/16/32
  kArray,
  kMap,
  kExt,
  kInvalid,  // 0xc1 (never used)
};

// Cursor over one buffer. See the error model at the top of this file.
class Reader {
 public:
  static constexpr unsigned kDefaultMaxDepth = 32;

  explicit Reader(ByteView data, unsigned max_depth = kDefaultMaxDepth)
      : data_(data), max_depth_(max_depth) {}

  bool ok() const { return err_.code == Errc::kOk; }
  const Error& error() const { return err_; }
  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }
  bool at_end() const { return pos_ >= data_.size(); }
  ByteView rest() const { return data_.subspan(pos_); }

  Kind peek() const;

  // Consumes a nil if one is next; returns whether it did.
  bool try_nil();
  bool read_nil();
  bool read_bool(bool& v);
  bool read_uint(uint64_t& v);  // any int encoding; negative -> kOverflow
  bool read_int(int64_t& v);    // any int encoding; > INT64_MAX -> kOverflow
  template <class T>
  bool read_uint_as(T& v) {
    uint64_t u = 0;
    if (!read_uint(u)) return false;
    if (u > static_cast<uint64_t>(static_cast<T>(~T{0}))) return fail(Errc::kOverflow);
    v = static_cast<T>(u);
    return true;
  }
  bool read_int32(int32_t& v);
  bool read_float(double& v);  // f32, f64 or any integer
  // Strings: raw/str/bin all accepted; nil reads as "".
  bool read_str(std::string& v);
  // Bytes: raw/str/bin all accepted; nil reads as empty.
  bool read_bytes(Bytes& v);
  // Bytes without copying: v points into the reader's input.
  bool read_bytes_view(ByteView& v);
  // Bytes where nil is distinct from empty.
  bool read_nilable_bytes(std::optional<Bytes>& v);
  // Container headers; nil reads as 0 elements (was_nil tells which).
  bool read_array_header(uint32_t& n, bool* was_nil = nullptr);
  bool read_map_header(uint32_t& n, bool* was_nil = nullptr);
  // Skips one complete value of any type (depth limited).
  bool skip();
  // Consumes n raw bytes (not msgpack), e.g. push/pull user state.
  bool read_raw(std::size_t n, ByteView& v);

  // Reads a struct-like map: for every key calls fn(key); fn reads the value
  // and returns true, or returns false to have the value skipped (unknown
  // keys). Duplicate keys are passed again (last one wins, as in Go).
  template <class F>
  bool read_struct(F&& fn) {
    uint32_t n = 0;
    if (!read_map_header(n)) return false;
    if (!enter()) return false;
    std::string key;
    for (uint32_t i = 0; i < n && ok(); ++i) {
      if (!read_str(key)) break;
      if (!fn(std::string_view(key)) && ok()) skip();
    }
    leave();
    return ok();
  }

  // Depth accounting for callers that recurse into nested containers.
  bool enter();
  void leave() {
    if (depth_ > 0) --depth_;
  }

  // Records an error (only the first sticks) and returns false.
  bool fail(Errc code);

 private:
  bool need(std::size_t n);
  uint64_t be(std::size_t n);  // reads n big-endian bytes (need() checked)
  bool read_len_prefixed(std::size_t& len, bool& is_bin);
  bool read_container_header(uint8_t fix_base, uint8_t code16, uint32_t min_bytes_each, uint32_t& n,
                             bool* was_nil);
  bool skip_inner();

  ByteView data_;
  std::size_t pos_ = 0;
  unsigned depth_ = 0;
  unsigned max_depth_;
  Error err_;
};

// A decoded value of any type. Maps keep their wire order, so decoding and
// re-encoding a value reproduces the input byte for byte (smallest-int and
// flavour rules permitting).
struct Value {
  enum class Type : uint8_t {
    kNil,
    kBool,
    kUint,
    kInt,
    kF32,
    kF64,
    kStr,
    kBin,
    kArray,
    kMap,
    kExt
  };
  Type type = Type::kNil;
  bool b = false;
  uint64_t u = 0;                          // kUint
  int64_t i = 0;                           // kInt (negative only)
  double f = 0;                            // kF32 / kF64
  std::string s;                           // kStr / kBin bytes; kExt data
  int8_t ext_type = 0;                     // kExt
  std::vector<Value> a;                    // kArray
  std::vector<std::pair<Value, Value>> m;  // kMap, wire order

  // Declared, not implicit: clang 14 with libstdc++ 12 otherwise fails to
  // instantiate std::pair<Value, Value> while defining Value's constructor.
  Value() = default;

  // Map lookup by string key (first match) or nullptr.
  const Value* find(std::string_view key) const;
};

// Reads one value (depth limited by the reader).
bool read_value(Reader& r, Value& out);
void write_value(Writer& w, const Value& v);

}  // namespace herd::membership::msgpack
