// config/tokenizer.h — splits one haproxy.cfg line into words the way
// HAProxy 2.6 does (see docs/configuration.md, "Line syntax").
//
// Rules: words split on unprotected spaces/tabs; an unprotected `#` ends the
// line even mid-word; backslash escapes outside single quotes; double quotes
// expand `$VAR`, `${VAR}`, `${VAR-default}`, `${VAR[*]}` (splits into words)
// and the pseudo-variables `${.FILE}`, `${.LINE}`, `${.SECTION}`; single
// quotes are literal; quoted and unquoted pieces join into one word.
// Unquoted `$` is literal, except in addresses, which go through
// expand_address_vars().
//
// Thread rules: pure functions; any thread may call them. The default
// environment lookup reads the process environment (getenv), so do not call
// setenv() concurrently.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::config {

// Returns the value of an environment variable, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment (getenv).
EnvLookup process_env();

struct LineContext {
  std::string file;     // for ${.FILE}
  int line = 0;         // for ${.LINE}
  std::string section;  // for ${.SECTION}: the current section's name
};

struct TokenizedLine {
  std::vector<std::string> words;  // may contain empty words ("" on the line)
  // Empty when the line is fine. Otherwise HAProxy's multi-line message
  // without the "parsing [file:line]: " prefix, e.g.
  // "unmatched quote at position 33:\n  http-request ...\n      ^".
  std::string error;
  bool ok() const { return error.empty(); }
};

// Tokenizes one line (without its trailing newline).
TokenizedLine tokenize_line(std::string_view line, const LineContext& ctx, const EnvLookup& env);

// Expands `$VAR`, `${VAR}` and `${VAR-default}` in an unquoted address word
// (bind, server, log, stats socket, addr). Unset variables expand to "".
// Text that does not form a variable reference is kept as is.
std::string expand_address_vars(std::string_view word, const EnvLookup& env);

}  // namespace herd::config
