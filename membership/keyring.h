// membership/keyring.h — gossip encryption compatible with
// `serf agent -encrypt <base64 key>` (memberlist security.go semantics).
//
// Layout (encryption version 1, every serf 0.8/0.9 agent):
//   version(1) = 0x01 | nonce(12) | ciphertext(len = plaintext) | GCM tag(16)
// AES-128/192/256-GCM by key size (16/24/32 bytes). On UDP the whole
// datagram is this blob and the additional authenticated data is empty. On a
// TCP stream it is wrapped as 0x0a | uint32 BE length | blob and the 5 header
// bytes are the AAD. Version 0 (memberlist protocol 1) pads the plaintext
// PKCS#7 to 16 bytes; it is accepted on decrypt and never sent.
// Encrypt uses the primary key; decrypt tries every installed key.
// See docs/serf-protocol.md §8.
//
// Thread rules: const members (encrypt/decrypt) may run concurrently on
// several threads; add/use/remove must not run concurrently with anything
// else on the same Keyring (the gossip thread owns it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "membership/msgpack.h"
#include "membership/wire_result.h"

namespace herd::membership {

// PROTOCOL: encryption version bytes and sizes. Append only.
inline constexpr uint8_t kEncryptionVersion0 = 0;  // PKCS#7 padded, decrypt only
inline constexpr uint8_t kEncryptionVersion1 = 1;  // what we send
inline constexpr std::size_t kNonceSize = 12;
inline constexpr std::size_t kTagSize = 16;
inline constexpr std::size_t kEncryptOverhead = 1 + kNonceSize + kTagSize;  // 29
inline constexpr std::size_t kStreamHeaderSize = 5;                         // 0x0a + uint32 length
inline constexpr std::size_t kMaxEncryptedStream = 20u << 20;

// Standard base64 (with padding), as `serf keygen` / -encrypt use.
std::string base64_encode(ByteView data);
std::optional<Bytes> base64_decode(std::string_view text);

class Keyring {
 public:
  // keys[0] becomes the primary; every key must be 16, 24 or 32 bytes.
  static Result<Keyring> create(std::vector<Bytes> keys);
  // From base64 strings (the -encrypt flag / keyring file form).
  static Result<Keyring> from_base64(const std::vector<std::string>& keys);

  // Adds a key (no-op if present). Errors for a bad size.
  std::optional<WireError> add_key(ByteView key);
  // Makes an installed key primary.
  std::optional<WireError> use_key(ByteView key);
  // Removes a non-primary key.
  std::optional<WireError> remove_key(ByteView key);
  // Primary first.
  const std::vector<Bytes>& keys() const { return keys_; }
  const Bytes& primary() const { return keys_.front(); }

  // UDP: whole datagram. Random nonce from OpenSSL's RAND_bytes.
  Bytes encrypt_packet(ByteView plain) const;
  // Deterministic variant (tests, vector reproduction): nonce must be 12 bytes.
  Bytes encrypt_packet(ByteView plain, ByteView nonce) const;
  Result<Bytes> decrypt_packet(ByteView packet) const;

  // TCP: 0x0a | len | blob, header as AAD.
  Bytes encrypt_stream(ByteView plain) const;
  Bytes encrypt_stream(ByteView plain, ByteView nonce) const;
  // `stream` = the whole encrypted message including its 5-byte header.
  Result<Bytes> decrypt_stream(ByteView stream) const;
  // Length L announced by a stream header (0x0a | L); errors when the type
  // byte is not 10 or L exceeds kMaxEncryptedStream. Lets a reader know how
  // many bytes to read after the header.
  static Result<uint32_t> stream_length(ByteView header);

 private:
  explicit Keyring(std::vector<Bytes> keys) : keys_(std::move(keys)) {}
  Bytes seal(ByteView plain, ByteView nonce, ByteView aad) const;
  Result<Bytes> open(ByteView blob, ByteView aad) const;
  std::vector<Bytes> keys_;
};

// Serf's -keyring-file: a JSON array of base64 keys, primary first (what
// `serf agent` reads at start and rewrites after each key query). Reading
// fails on a missing or empty file, bad JSON, bad base64 or a bad key size.
Result<Keyring> load_keyring_file(const std::string& path);
// Writes the keyring as Serf does (indented JSON, mode 0600), through a
// temporary file renamed over `path`. Returns "" or an error text.
std::string save_keyring_file(const std::string& path, const Keyring& keyring);
// The JSON text itself (exposed for tests).
std::string keyring_json(const Keyring& keyring);
Result<std::vector<std::string>> parse_keyring_json(std::string_view text);

}  // namespace herd::membership
