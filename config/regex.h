// config/regex.h — the compiled regular expressions a parsed config holds
// (ACL `_reg` fetches, `http-response replace-header` / `replace-value`).
// ECMAScript syntax, the closest std::regex has to HAProxy's PCRE.
//
// Thread rules: built by the parser on the main thread; immutable and shared
// (std::regex matching is const and safe from any thread) afterwards.
#pragma once

#include <regex>
#include <string>

namespace herd::config {

struct Regex {
  std::string text;  // as written in the config
  std::regex re;
};

}  // namespace herd::config
