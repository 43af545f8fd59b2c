// membership/wire_result.h — the error-as-value type of herd's Serf wire layer.
//
// Every decoder in membership/ (memberlist and serf messages, LZW, CRC,
// keyring, RPC) returns Result<T>: either a value or a WireError saying
// what was wrong. Nothing in the wire layer throws for bad input.
//
// Thread rules: plain values, any thread.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "membership/msgpack.h"

namespace herd::membership {

enum class WireErrc : uint8_t {
  kMsgpack,         // body is not the msgpack expected (detail says why)
  kTruncated,       // input ended early
  kUnknownType,     // message type byte not understood here
  kBadCrc,          // hasCrc checksum mismatch
  kBadCompression,  // unknown Algo, corrupt LZW, or too large when expanded
  kTooLarge,        // over a protocol size limit
  kTooDeep,         // layers nested beyond the limit
  kDecrypt,         // no installed key authenticates the data / bad layout
  kPlaintext,       // plaintext received while a keyring requires encryption
  kInvalid,         // well-formed but semantically invalid (bad key size...)
};
const char* wire_errc_name(WireErrc e);

struct WireError {
  WireErrc code = WireErrc::kInvalid;
  std::string detail;
};

// Builds a WireError from a failed msgpack reader.
WireError msgpack_error(const msgpack::Reader& r, const char* what);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  Result(WireError e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT: implicit

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  const WireError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, WireError> v_;
};

}  // namespace herd::membership
