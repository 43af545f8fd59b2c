// membership/keyring.cpp — see keyring.h.
#include "membership/keyring.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "membership/memberlist_msgs.h"
#include "membership/snapshot.h"

namespace herd::membership {
namespace {

bool valid_key_size(std::size_t n) { return n == 16 || n == 24 || n == 32; }

const EVP_CIPHER* cipher_for(std::size_t key_size) {
  switch (key_size) {
    case 16:
      return EVP_aes_128_gcm();
    case 24:
      return EVP_aes_192_gcm();
    default:
      return EVP_aes_256_gcm();
  }
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

// AES-GCM seal: returns ciphertext || tag, or nullopt on an OpenSSL failure.
std::optional<Bytes> gcm_seal(ByteView key, ByteView nonce, ByteView aad, ByteView plain) {
  Ctx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return std::nullopt;
  int len = 0;
  Bytes out(plain.size() + kTagSize);
  if (EVP_EncryptInit_ex(ctx.get(), cipher_for(key.size()), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                          nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) != 1) {
    return std::nullopt;
  }
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return std::nullopt;
  }
  if (!plain.empty() && EVP_EncryptUpdate(ctx.get(), out.data(), &len, plain.data(),
                                          static_cast<int>(plain.size())) != 1) {
    return std::nullopt;
  }
  int fin = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + plain.size(), &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize),
                          out.data() + plain.size()) != 1) {
    return std::nullopt;
  }
  return out;
}

// AES-GCM open of ciphertext || tag; nullopt when not authentic.
std::optional<Bytes> gcm_open(ByteView key, ByteView nonce, ByteView aad, ByteView sealed) {
  if (sealed.size() < kTagSize) return std::nullopt;
  const std::size_t ct_len = sealed.size() - kTagSize;
  Ctx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return std::nullopt;
  int len = 0;
  Bytes out(ct_len);
  std::array<uint8_t, kTagSize> tag{};
  std::copy(sealed.begin() + static_cast<std::ptrdiff_t>(ct_len), sealed.end(), tag.begin());
  if (EVP_DecryptInit_ex(ctx.get(), cipher_for(key.size()), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                          nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) != 1) {
    return std::nullopt;
  }
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return std::nullopt;
  }
  if (ct_len > 0 && EVP_DecryptUpdate(ctx.get(), out.data(), &len, sealed.data(),
                                      static_cast<int>(ct_len)) != 1) {
    return std::nullopt;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize),
                          tag.data()) != 1) {
    return std::nullopt;
  }
  int fin = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + ct_len, &fin) != 1) return std::nullopt;
  return out;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::string base64_encode(ByteView data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    for (int s = 18; s >= 0; s -= 6) out.push_back(kB64[(v >> s) & 63]);
  }
  const std::size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{data[i]} << 16;
    if (rest == 2) v |= uint32_t{data[i + 1]} << 8;
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kB64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<Bytes> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  Bytes out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      int d = 0;
      if (c == '=') {
        // Padding only in the last quantum's last two positions.
        if (i + 4 != text.size() || k < 2) return std::nullopt;
        ++pad;
      } else {
        if (pad > 0) return std::nullopt;
        const char* p = std::find(kB64, kB64 + 64, c);
        if (p == kB64 + 64) return std::nullopt;
        d = static_cast<int>(p - kB64);
      }
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out.push_back(static_cast<uint8_t>(v >> 16));
    if (pad < 2) out.push_back(static_cast<uint8_t>(v >> 8));
    if (pad < 1) out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

Result<Keyring> Keyring::create(std::vector<Bytes> keys) {
  if (keys.empty()) return WireError{WireErrc::kInvalid, "keyring needs at least one key"};
  for (const auto& k : keys) {
    if (!valid_key_size(k.size())) {
      return WireError{WireErrc::kInvalid, "key size must be 16, 24 or 32 bytes"};
    }
  }
  return Keyring(std::move(keys));
}

Result<Keyring> Keyring::from_base64(const std::vector<std::string>& keys) {
  std::vector<Bytes> raw;
  for (const auto& k : keys) {
    auto d = base64_decode(k);
    if (!d) return WireError{WireErrc::kInvalid, "key is not valid base64"};
    raw.push_back(std::move(*d));
  }
  return create(std::move(raw));
}

std::optional<WireError> Keyring::add_key(ByteView key) {
  if (!valid_key_size(key.size())) {
    return WireError{WireErrc::kInvalid, "key size must be 16, 24 or 32 bytes"};
  }
  for (const auto& k : keys_) {
    if (std::equal(k.begin(), k.end(), key.begin(), key.end())) return std::nullopt;
  }
  keys_.emplace_back(key.begin(), key.end());
  return std::nullopt;
}

std::optional<WireError> Keyring::use_key(ByteView key) {
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    if (std::equal(keys_[i].begin(), keys_[i].end(), key.begin(), key.end())) {
      std::rotate(keys_.begin(), keys_.begin() + static_cast<std::ptrdiff_t>(i),
                  keys_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      return std::nullopt;
    }
  }
  return WireError{WireErrc::kInvalid, "requested key is not in the keyring"};
}

std::optional<WireError> Keyring::remove_key(ByteView key) {
  if (std::equal(primary().begin(), primary().end(), key.begin(), key.end())) {
    return WireError{WireErrc::kInvalid, "removing the primary key is not allowed"};
  }
  std::erase_if(keys_, [&](const Bytes& k) {
    return std::equal(k.begin(), k.end(), key.begin(), key.end());
  });
  return std::nullopt;
}

Bytes Keyring::seal(ByteView plain, ByteView nonce, ByteView aad) const {
  Bytes out{kEncryptionVersion1};
  out.insert(out.end(), nonce.begin(), nonce.end());
  auto sealed = gcm_seal(primary(), nonce, aad, plain);
  if (!sealed) return {};  // OpenSSL failure: nothing sendable
  out.insert(out.end(), sealed->begin(), sealed->end());
  return out;
}

Result<Bytes> Keyring::open(ByteView blob, ByteView aad) const {
  if (blob.empty()) return WireError{WireErrc::kDecrypt, "empty encrypted payload"};
  const uint8_t version = blob[0];
  if (version > kEncryptionVersion1) {
    return WireError{WireErrc::kDecrypt,
                     "unsupported encryption version " + std::to_string(version)};
  }
  if (blob.size() < kEncryptOverhead) {
    return WireError{WireErrc::kDecrypt, "encrypted payload too small"};
  }
  ByteView nonce = blob.subspan(1, kNonceSize);
  ByteView sealed = blob.subspan(1 + kNonceSize);
  for (const auto& key : keys_) {
    auto plain = gcm_open(key, nonce, aad, sealed);
    if (!plain) continue;
    if (version == kEncryptionVersion0) {
      // PKCS#7: the last byte is the pad length 1..16 (memberlist checks only that).
      if (plain->empty()) return WireError{WireErrc::kDecrypt, "bad padding"};
      const uint8_t pad = plain->back();
      if (pad == 0 || pad > 16 || pad > plain->size()) {
        return WireError{WireErrc::kDecrypt, "bad padding"};
      }
      plain->erase(plain->end() - pad, plain->end());
    }
    return std::move(*plain);
  }
  return WireError{WireErrc::kDecrypt, "no installed key decrypts the message"};
}

Bytes Keyring::encrypt_packet(ByteView plain) const {
  std::array<uint8_t, kNonceSize> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) return {};
  return seal(plain, nonce, {});
}

Bytes Keyring::encrypt_packet(ByteView plain, ByteView nonce) const {
  if (nonce.size() != kNonceSize) return {};
  return seal(plain, nonce, {});
}

Result<Bytes> Keyring::decrypt_packet(ByteView packet) const { return open(packet, {}); }

Bytes Keyring::encrypt_stream(ByteView plain, ByteView nonce) const {
  if (nonce.size() != kNonceSize) return {};
  const auto len = static_cast<uint32_t>(plain.size() + kEncryptOverhead);
  Bytes out{static_cast<uint8_t>(memberlist::MessageType::kEncrypt),
            static_cast<uint8_t>(len >> 24), static_cast<uint8_t>(len >> 16),
            static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
  Bytes blob = seal(plain, nonce, ByteView(out).first(kStreamHeaderSize));
  if (blob.empty()) return {};
  out.insert(out.end(), blob.begin(), blob.end());
  return out;
}

Bytes Keyring::encrypt_stream(ByteView plain) const {
  std::array<uint8_t, kNonceSize> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) return {};
  return encrypt_stream(plain, nonce);
}

Result<uint32_t> Keyring::stream_length(ByteView header) {
  if (header.size() < kStreamHeaderSize) {
    return WireError{WireErrc::kTruncated, "encrypted stream header"};
  }
  if (header[0] != static_cast<uint8_t>(memberlist::MessageType::kEncrypt)) {
    return WireError{WireErrc::kPlaintext, "stream is not encrypted"};
  }
  const uint32_t len = (uint32_t{header[1]} << 24) | (uint32_t{header[2]} << 16) |
                       (uint32_t{header[3]} << 8) | uint32_t{header[4]};
  if (len > kMaxEncryptedStream) {
    return WireError{WireErrc::kTooLarge, "encrypted stream of " + std::to_string(len) + " bytes"};
  }
  return len;
}

Result<Bytes> Keyring::decrypt_stream(ByteView stream) const {
  auto len = stream_length(stream);
  if (!len) return len.error();
  if (stream.size() - kStreamHeaderSize < *len) {
    return WireError{WireErrc::kTruncated, "encrypted stream body"};
  }
  return open(stream.subspan(kStreamHeaderSize, *len), stream.first(kStreamHeaderSize));
}

// ---- keyring file -----------------------------------------------------------------

std::string keyring_json(const Keyring& keyring) {
  // Go's json.MarshalIndent(keys, "", "  "); base64 needs no escaping.
  std::string out = "[";
  const auto& keys = keyring.keys();
  for (std::size_t i = 0; i < keys.size(); ++i)
    out += std::string(i ? "," : "") + "\n  \"" + base64_encode(keys[i]) + "\"";
  out += keys.empty() ? "]" : "\n]";
  return out;
}

Result<std::vector<std::string>> parse_keyring_json(std::string_view text) {
  auto bad = [](const std::string& why) {
    return WireError{WireErrc::kInvalid, "keyring file: " + why};
  };
  std::size_t i = 0;
  auto ws = [&] {
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
      ++i;
  };
  std::vector<std::string> keys;
  ws();
  if (i >= text.size() || text[i] != '[') return bad("expected a JSON array of strings");
  ++i;
  ws();
  if (i < text.size() && text[i] == ']') {
    ++i;
  } else {
    for (;;) {
      ws();
      if (i >= text.size() || text[i] != '"') return bad("expected a string");
      ++i;
      std::string k;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\\') {
          if (i + 1 >= text.size()) return bad("unterminated string");
          const char e = text[i + 1];
          if (e != '/' && e != '\\' && e != '"') return bad("unexpected escape in a key");
          k += e;
          i += 2;
          continue;
        }
        k += text[i++];
      }
      if (i >= text.size()) return bad("unterminated string");
      ++i;
      keys.push_back(std::move(k));
      ws();
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < text.size() && text[i] == ']') {
        ++i;
        break;
      }
      return bad("expected ',' or ']'");
    }
  }
  ws();
  if (i != text.size()) return bad("trailing characters after the array");
  return keys;
}

Result<Keyring> load_keyring_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return WireError{WireErrc::kInvalid, path + ": cannot open the keyring file"};
  std::stringstream ss;
  ss << in.rdbuf();
  auto keys = parse_keyring_json(ss.str());
  if (!keys) return WireError{WireErrc::kInvalid, path + ": " + keys.error().detail};
  if (keys->empty())
    return WireError{WireErrc::kInvalid, "no keys present in keyring file: " + path};
  auto kr = Keyring::from_base64(*keys);
  if (!kr) return WireError{WireErrc::kInvalid, path + ": " + kr.error().detail};
  return kr;
}

std::string save_keyring_file(const std::string& path, const Keyring& keyring) {
  if (auto e = write_file_atomic(path, keyring_json(keyring), 0600); !e.empty())
    return "Failed to write keyring file: " + e;
  return "";
}

}  // namespace herd::membership
