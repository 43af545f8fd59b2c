// tests/fuzz/fuzz_support.h — what the libFuzzer targets share: an invariant
// check that is not compiled out by NDEBUG, and a deterministic way to cut an
// input into pieces so that streaming decoders see every split point.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

// Aborts (libFuzzer then saves the input) when an invariant does not hold.
#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace herd::fuzz {

// Piece lengths (each >= 1, summing to len) drawn from a small PRNG seeded
// with `seed`: mostly short pieces (1..8 bytes), sometimes long ones.
inline std::vector<size_t> split_points(uint8_t seed, size_t len) {
  std::vector<size_t> pieces;
  uint32_t x =
      0x9e3779b9u ^ (static_cast<uint32_t>(seed) * 0x01000193u) ^ static_cast<uint32_t>(len);
  for (size_t left = len; left > 0;) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    size_t n = (x & 3) != 0 ? 1 + (x >> 8) % 8 : 1 + (x >> 8) % (left + 1);
    if (n > left) n = left;
    pieces.push_back(n);
    left -= n;
  }
  return pieces;
}

}  // namespace herd::fuzz
