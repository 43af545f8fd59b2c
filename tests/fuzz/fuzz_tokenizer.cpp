// tests/fuzz/fuzz_tokenizer.cpp — config/tokenizer.h on any line: quoting,
// escapes and variable expansion (a fixed environment, never the process
// one). A line without quoting, escapes, `#` or `$` must split exactly on
// spaces and tabs; an error leaves no words; expand_address_vars on every
// word never fails.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

// A few variables, one of them with spaces (for ${V[*]}), one empty.
const herd::config::EnvLookup& fake_env() {
  static const herd::config::EnvLookup env =
      [](const std::string& name) -> std::optional<std::string> {
    if (name == "A") return "alpha";
    if (name == "S") return " two  words ";
    if (name == "E") return "";
    if (name == "HOST") return "127.0.0.1:80";
    return std::nullopt;
  };
  return env;
}

std::vector<std::string> plain_split(std::string_view line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) words.emplace_back(line.substr(i, j - i));
    i = j;
  }
  return words;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  herd::config::LineContext ctx{"fuzz.cfg", 42, "sect"};
  herd::config::TokenizedLine t = herd::config::tokenize_line(line, ctx, fake_env());
  if (!t.ok()) {
    FUZZ_CHECK(t.words.empty());
    return 0;
  }
  if (line.find_first_of("\\'\"#$") == std::string_view::npos)
    FUZZ_CHECK(t.words == plain_split(line));
  for (const auto& w : t.words) (void)herd::config::expand_address_vars(w, fake_env());
  (void)herd::config::expand_address_vars(line, fake_env());
  return 0;
}
