// membership/wire_result.cpp — see wire_result.h.
#include "membership/wire_result.h"

namespace herd::membership {

const char* wire_errc_name(WireErrc e) {
  switch (e) {
    case WireErrc::kMsgpack:
      return "bad msgpack";
    case WireErrc::kTruncated:
      return "truncated";
    case WireErrc::kUnknownType:
      return "unknown message type";
    case WireErrc::kBadCrc:
      return "bad crc";
    case WireErrc::kBadCompression:
      return "bad compression";
    case WireErrc::kTooLarge:
      return "too large";
    case WireErrc::kTooDeep:
      return "nested too deep";
    case WireErrc::kDecrypt:
      return "decryption failed";
    case WireErrc::kPlaintext:
      return "plaintext not allowed";
    case WireErrc::kInvalid:
      return "invalid";
  }
  return "?";
}

WireError msgpack_error(const msgpack::Reader& r, const char* what) {
  const auto& e = r.error();
  if (e.code == msgpack::Errc::kTruncated) {
    return {WireErrc::kTruncated, std::string(what) + ": truncated at " + std::to_string(e.offset)};
  }
  return {WireErrc::kMsgpack, std::string(what) + ": " + msgpack::errc_name(e.code) + " at " +
                                  std::to_string(e.offset)};
}

}  // namespace herd::membership
