// membership/lzw.cpp — see lzw.h. Code layout: 0..255 literals, 256 clear,
// 257 end, dynamic codes from 258; width grows from 9 to 12 bits.
#include "membership/lzw.h"

#include <array>
#include <cstdint>
#include <unordered_map>

namespace herd::membership {
namespace {

constexpr uint32_t kClear = 256;
constexpr uint32_t kEnd = 257;
constexpr uint32_t kMaxCode = 4095;
constexpr uint32_t kInvalid = 0xffffffffu;

class BitWriterLsb {
 public:
  explicit BitWriterLsb(Bytes& out) : out_(out) {}
  void put(uint32_t code, unsigned width) {
    bits_ |= static_cast<uint64_t>(code) << nbits_;
    nbits_ += width;
    while (nbits_ >= 8) {
      out_.push_back(static_cast<uint8_t>(bits_));
      bits_ >>= 8;
      nbits_ -= 8;
    }
  }
  void flush() {
    if (nbits_ > 0) out_.push_back(static_cast<uint8_t>(bits_));
    bits_ = 0;
    nbits_ = 0;
  }

 private:
  Bytes& out_;
  uint64_t bits_ = 0;
  unsigned nbits_ = 0;
};

}  // namespace

Bytes lzw_compress(ByteView in) {
  Bytes out;
  BitWriterLsb bw(out);
  unsigned width = 9;
  uint32_t hi = kEnd;
  uint32_t overflow = 512;
  // (prefix code << 8 | next byte) -> code
  std::unordered_map<uint32_t, uint32_t> table;
  table.reserve(8192);

  bw.put(kClear, width);
  if (in.empty()) {
    bw.put(kEnd, width);
    bw.flush();
    return out;
  }
  // Advances the next free code; on a full table emits a clear code and
  // starts over. Returns false when the table was reset.
  auto inc_hi = [&]() {
    ++hi;
    if (hi == overflow) {
      ++width;
      overflow <<= 1;
    }
    if (hi == kMaxCode) {
      bw.put(kClear, width);
      width = 9;
      hi = kEnd;
      overflow = 512;
      table.clear();
      return false;
    }
    return true;
  };

  uint32_t code = in[0];
  for (std::size_t i = 1; i < in.size(); ++i) {
    const uint32_t key = (code << 8) | in[i];
    if (auto it = table.find(key); it != table.end()) {
      code = it->second;
      continue;
    }
    bw.put(code, width);
    code = in[i];
    if (inc_hi()) table.emplace(key, hi);
  }
  bw.put(code, width);
  inc_hi();
  bw.put(kEnd, width);
  bw.flush();
  return out;
}

std::optional<Bytes> lzw_decompress(ByteView in, std::size_t max_out) {
  std::array<uint16_t, 4096> prefix{};
  std::array<uint8_t, 4096> suffix{};
  std::array<uint8_t, 4096> scratch{};
  Bytes out;
  unsigned width = 9;
  uint32_t hi = kEnd;
  uint32_t overflow = 512;
  uint32_t last = kInvalid;
  uint64_t bits = 0;
  unsigned nbits = 0;
  std::size_t pos = 0;

  for (;;) {
    while (nbits < width) {
      if (pos >= in.size()) return std::nullopt;  // no end code
      bits |= static_cast<uint64_t>(in[pos++]) << nbits;
      nbits += 8;
    }
    const auto code = static_cast<uint32_t>(bits & ((1u << width) - 1));
    bits >>= width;
    nbits -= width;

    if (code == kClear) {
      width = 9;
      hi = kEnd;
      overflow = 512;
      last = kInvalid;
      continue;
    }
    if (code == kEnd) return out;

    if (code < kClear) {
      if (out.size() + 1 > max_out) return std::nullopt;
      out.push_back(static_cast<uint8_t>(code));
      if (last != kInvalid) {
        suffix[hi] = static_cast<uint8_t>(code);
        prefix[hi] = static_cast<uint16_t>(last);
      }
    } else if (code <= hi) {
      // Expand backwards into scratch; the chain strictly decreases.
      std::size_t i = scratch.size();
      uint32_t c = code;
      if (code == hi) {
        if (last == kInvalid) return std::nullopt;
        --i;  // filled with the first byte below
        c = last;
      }
      while (c >= 258) {
        if (i == 0) return std::nullopt;
        scratch[--i] = suffix[c];
        c = prefix[c];
      }
      if (i == 0) return std::nullopt;
      scratch[--i] = static_cast<uint8_t>(c);
      if (code == hi) scratch[scratch.size() - 1] = scratch[i];
      const std::size_t n = scratch.size() - i;
      if (out.size() + n > max_out) return std::nullopt;
      out.insert(out.end(), scratch.begin() + static_cast<std::ptrdiff_t>(i), scratch.end());
      if (last != kInvalid) {
        suffix[hi] = scratch[i];
        prefix[hi] = static_cast<uint16_t>(last);
      }
    } else {
      return std::nullopt;
    }
    last = code;
    ++hi;
    if (hi >= overflow) {
      if (width == 12) {
        last = kInvalid;
        --hi;
      } else {
        ++width;
        overflow <<= 1;
      }
    }
  }
}

}  // namespace herd::membership
