// tests/fuzz/fuzz_config.cpp — config/parser.h parse_text on any text: every
// keyword parser, the post-parse checks and the diagnostics. Invariants:
// `fatal` is set exactly when an ALERT was reported, and check_exit_code is
// 0, 1 or 2.
//
// The parser has two side effects on the outside world, both neutralised
// here without touching config/: host names in bind/log/peer addresses are
// resolved with getaddrinfo (replaced below: numeric addresses never reach
// it, names fail fast), and `errorfile` reads the file it names (inputs that
// could spell that keyword are skipped, so that the fuzzer never reads
// /dev/zero or a FIFO). The environment is a fixed one and servers are not
// resolved (ParseOptions).
#include <netdb.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/parser.h"
#include "tests/fuzz/fuzz_support.h"

// Overrides libc's (and ASan's weak interceptor) for this executable only.
extern "C" int getaddrinfo(const char*, const char*, const struct addrinfo*,
                           struct addrinfo** res) {
  *res = nullptr;
  return EAI_NONAME;
}

namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(c | 0x20);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// Whether `errorfile` could come out of the tokenizer: quotes and escapes
// join pieces into one word and \xHH spells any letter; every variable is
// set (so `${X-default}` defaults never apply) to a value without letters of
// the keyword, leaving only literal letters.
bool may_name_errorfile(std::string_view text) {
  std::string letters;
  letters.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' && i + 3 < text.size() && text[i + 1] == 'x' && hex(text[i + 2]) >= 0 &&
        hex(text[i + 3]) >= 0) {
      letters += static_cast<char>(hex(text[i + 2]) * 16 + hex(text[i + 3]));
      i += 3;
    } else if (c != '"' && c != '\'' && c != '\\') {
      letters += c;
    }
  }
  return letters.find("errorfile") != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (may_name_errorfile(text)) return 0;
  herd::config::ParseOptions opts;
  opts.env = [](const std::string& name) -> std::optional<std::string> {
    return name == "S" ? std::string("1 2") : std::string("x");
  };
  opts.resolve_hostnames = false;
  herd::config::ParseResult r = herd::config::parse_text(text, "fuzz.cfg", opts);
  bool any_alert = std::any_of(r.diags.begin(), r.diags.end(), [](const auto& d) {
    return d.level == herd::config::Diagnostic::Level::Alert;
  });
  FUZZ_CHECK(r.fatal == any_alert);
  int code = herd::config::check_exit_code(r);
  FUZZ_CHECK(code >= 0 && code <= 2);
  FUZZ_CHECK(r.config.files.size() == 1);
  return 0;
}
