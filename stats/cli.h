// stats/cli.h — the runtime API (HAProxy's "stats socket" CLI), independent
// of any transport: a CliSession takes the bytes a client sent and returns
// the bytes to answer and whether to close, with HAProxy 2.6's framing:
//   * a line is executed only once its "\n" arrived ("\r\n" accepted);
//   * `;` chains commands on one line; every reply ends with an empty line
//     (except `del server`, as in HAProxy);
//   * without `prompt` the connection closes once the received lines ran;
//     `prompt` toggles interactive mode, where each reply ends with "> ";
//   * a line ending with " <<" starts a payload: the lines after it, up to
//     an empty line, go to the line's last command (`payload()`), as in
//     HAProxy 2.6 (`set ssl cert <file> <<`);
//   * levels user < operator < admin; `operator`/`user` lower the level;
//     a command above the level answers "Permission denied".
// Commands live in a CliRegistry; modules add their own (health/ and
// membership/ register `enable health`, `show members`, ... with add()).
//
// Thread rules: CliSession, CliRegistry and every handler run on the control
// thread, the one that owns the PoolWriter (handlers mutate the pool only
// through PoolWriter::Transaction). A registry must not change while
// sessions use it (register everything at start-up).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "balancing/frontend.h"
#include "balancing/pool.h"
#include "config/model.h"
#include "stats/csv.h"

namespace herd::stats {

using Level = config::StatsSocket::Level;
const char* level_name(Level l);  // "user", "operator", "admin"

class CliSession;

// What one command answers. `text` is printed as is; the session adds the
// terminating empty line ("\n") unless no_blank is set.
struct CliReply {
  std::string text;
  bool no_blank = false;
  bool close = false;  // close the connection after this reply (`quit`)
};

// args: every word of the command, keywords included ("set", "server", ...).
using CliHandler = std::function<CliReply(CliSession&, const std::vector<std::string>& args)>;

struct CliCommand {
  std::vector<std::string> keywords;  // {"show", "stat"}: matched word by word
  std::string usage;                  // left column of `help`
  std::string help;                   // right column of `help`
  Level level = Level::User;          // lowest level allowed to run it
  CliHandler fn;
};

class CliRegistry {
 public:
  // Adds a command; one with the same keywords is replaced.
  void add(CliCommand cmd);
  // The command whose keywords are the longest prefix of `words`.
  const CliCommand* match(const std::vector<std::string>& words) const;
  // `help`: "The following commands are valid at this level:\n" + lines.
  std::string help_text() const;
  // Reply to an unknown command (prompt=false) or an empty line.
  std::string unknown_text(const std::vector<std::string>& words) const;

 private:
  std::string line(const CliCommand& c) const;
  std::vector<CliCommand> cmds_;
};

// Registers every command stats/ implements (see docs/runtime-api.md).
void register_builtin_commands(CliRegistry& reg);

// What command handlers may use. All references outlive every session.
struct CliEnv {
  const config::Config& cfg;
  balancing::PoolWriter& writer;
  const balancing::ProcessLive& proc;
  const ProcessInfo& info;
  const CliRegistry& registry;
};

class CliSession {
 public:
  CliSession(const CliEnv& env, Level level, int64_t timeout_ms = 10000);

  struct Output {
    std::string bytes;   // to send
    bool close = false;  // close after sending
  };
  // Feeds received bytes; runs every complete line.
  Output feed(std::string_view bytes);

  Level level() const { return level_; }
  void set_level(Level l) { level_ = l; }
  bool prompt() const { return prompt_; }
  // Idle timeout (`stats timeout`, `set timeout cli`); the transport applies it.
  int64_t timeout_ms() const { return timeout_ms_; }
  void set_timeout_ms(int64_t ms) { timeout_ms_ = ms; }
  const CliEnv& env() const { return env_; }
  // The payload of the command being run ("" without one).
  const std::string& payload() const { return payload_; }

  // A fresh snapshot of the pool (the writer's last publication).
  std::shared_ptr<const balancing::PoolSnapshot> snapshot() const;

 private:
  void run_line(std::string_view line, Output& out);
  void run_command(const std::vector<std::string>& words, Output& out);
  void finish(Output& out, const CliReply& r);

  const CliEnv& env_;
  Level level_;
  int64_t timeout_ms_;
  bool prompt_ = false;
  std::string buf_;
  bool in_payload_ = false;
  std::string payload_line_;  // the command line that opened the payload
  std::string payload_;
};

// Splits one command into words (blanks separate; `\` escapes the next char).
std::vector<std::string> cli_split_words(std::string_view cmd);
// Splits one line into commands on unescaped `;`.
std::vector<std::string> cli_split_commands(std::string_view line);

}  // namespace herd::stats
