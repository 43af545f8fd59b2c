// tests/fuzz/http1_checks.h — invariants of a parsed HTTP/1 head, shared by
// fuzz_http1_request and fuzz_http1_response.
#pragma once

#include <string_view>

#include "proxy/http1.h"
#include "tests/fuzz/fuzz_support.h"

namespace herd::fuzz {

inline bool inside(std::string_view s, const char* base, size_t len) {
  return s.empty() || (s.data() >= base && s.data() + s.size() <= base + len);
}

inline bool is_tchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A Complete head: everything it points at lies inside the head, field
// names are tokens (with `relaxed`, as accept-invalid lets through: visible
// characters but ':'), values hold no line breaks, framing facts agree.
inline void check_complete_head(const proxy::http1::Head& h, const char* buf, size_t len,
                                bool relaxed = false) {
  FUZZ_CHECK(h.head_len > 0 && h.head_len <= len);
  FUZZ_CHECK(buf[h.head_len - 1] == '\n');
  FUZZ_CHECK(h.error == nullptr);
  FUZZ_CHECK(h.nfields <= proxy::http1::kMaxHeaders);
  FUZZ_CHECK(h.version == 10 || h.version == 11);
  for (size_t i = 0; i < h.nfields; ++i) {
    const auto& f = h.fields[i];
    FUZZ_CHECK(size_t{f.name_off} + f.name_len <= h.head_len);
    FUZZ_CHECK(size_t{f.value_off} + f.value_len <= h.head_len);
    std::string_view name = h.name(buf, i), value = h.value(buf, i);
    FUZZ_CHECK(!name.empty());
    for (char c : name)
      FUZZ_CHECK(relaxed ? (static_cast<unsigned char>(c) > 0x20 && c != 0x7f && c != ':')
                         : is_tchar(c));
    FUZZ_CHECK(value.find_first_of("\r\n") == std::string_view::npos);
    FUZZ_CHECK(value.empty() || (value.front() != ' ' && value.back() != ' '));
  }
  FUZZ_CHECK(h.host_index < static_cast<int>(h.nfields));
  FUZZ_CHECK(h.content_length >= -1);
  FUZZ_CHECK(!(h.chunked && h.content_length >= 0));
}

// Streaming: bytes arrive in any pieces, so a prefix of a head that parses
// Complete must parse Incomplete (never Error, never Complete).
template <class Parse>
void check_prefixes_incomplete(Parse parse, const char* buf, size_t head_len, uint8_t seed) {
  proxy::http1::Head p;
  size_t cut = 0;
  for (size_t piece : split_points(seed, head_len)) {
    cut += piece;
    if (cut >= head_len) break;
    auto st = parse(buf, cut, p);
    if (st != proxy::http1::Status::Incomplete) {
      std::fprintf(stderr, "prefix of %zu bytes (head %zu): %s\n", cut, head_len,
                   st == proxy::http1::Status::Error ? p.error : "Complete");
      FUZZ_CHECK(st == proxy::http1::Status::Incomplete);
    }
  }
}

}  // namespace herd::fuzz
