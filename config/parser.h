// config/parser.h — reads haproxy.cfg files into a Config (config/model.h)
// and reports problems exactly the way `haproxy -c` does.
//
// Parsing never stops at the first error: every line is parsed, then the
// post-parse checks run (missing backends, duplicate server names, missing
// timeouts), then server host names are resolved (getaddrinfo, IPv4
// preferred). `diags` holds, in order, every line HAProxy would print after
// its two NOTICE lines, including the "Error(s) found in configuration file"
// and "Fatal errors found in configuration." summaries.
//
// Thread rules: call on the main thread at start-up or reload (it reads
// files, the process environment and resolves names). The functions keep no
// global state, so concurrent calls are safe if nobody calls setenv().
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "config/tokenizer.h"

namespace herd::config {

struct Diagnostic {
  enum class Level { Notice, Warning, Alert };
  Level level;
  // What haproxy prints after "[LEVEL]    (pid) : config : ", e.g.
  // "parsing [bad_kw.cfg:10] : unknown keyword 'foo' in 'frontend' section".
  // May span several lines (unmatched quote, missing timeouts).
  std::string text;
};

struct ParseResult {
  Config config;
  std::vector<Diagnostic> diags;
  bool fatal = false;         // at least one Alert: the config must not be used
  bool has_listener = false;  // some frontend/listen has a bind
};

struct ParseOptions {
  EnvLookup env = process_env();  // variables for "${VAR}" and addresses
  bool resolve_hostnames = true;  // false: servers keep ip "" for names (tests)
};

// Files or directories (*.cfg inside, in lexical order), names kept as given.
ParseResult parse_paths(const std::vector<std::string>& paths);
ParseResult parse_paths(const std::vector<std::string>& paths, const ParseOptions& opts);
// One in-memory file (tests and generated configs).
ParseResult parse_text(std::string_view text, const std::string& filename);
ParseResult parse_text(std::string_view text, const std::string& filename,
                       const ParseOptions& opts);

// haproxy -c: 0 valid (warnings allowed), 1 errors, 2 no listener.
int check_exit_code(const ParseResult& r);

// HAProxy's identifier rule (names of proxies, servers, ACLs): letters,
// digits, '-', '_', '.', ':'. On failure stores the first bad character in
// `bad` when given. Any thread.
bool valid_name(std::string_view name, char* bad = nullptr);

// "[ALERT]    (123) : config : <text>": the tag padded to 10 columns and a
// space, as haproxy does. No trailing newline.
std::string format_diagnostic(const Diagnostic& d, int pid);

// Prints what `haproxy -c` prints after its NOTICE lines: every diagnostic
// to `err`, then on `out` "Warnings were found." (if any) and
// "Configuration file is valid" or the no-listener line (unless `quiet`).
// Returns check_exit_code(r).
int write_check_report(const ParseResult& r, int pid, bool quiet, std::ostream& out,
                       std::ostream& err);

// Quick start: `herd 80 host1:3000 host2:3000` → an equivalent config text.
std::string quickstart_config(uint16_t front_port, const std::vector<std::string>& servers);

}  // namespace herd::config
