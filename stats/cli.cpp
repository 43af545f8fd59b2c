// stats/cli.cpp — runtime API session, registry and the built-in commands
// (see cli.h and docs/runtime-api.md).
#include "stats/cli.h"

#include <sys/time.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <set>

#include "config/parser.h"
#include "config/units.h"

extern char** environ;

namespace herd::stats {

using balancing::Counter;
using balancing::OpState;
using balancing::Server;

const char* level_name(Level l) {
  switch (l) {
    case Level::User:
      return "user";
    case Level::Operator:
      return "operator";
    case Level::Admin:
      return "admin";
  }
  return "user";
}

// ---------------------------------------------------------------------------
// Splitting

std::vector<std::string> cli_split_commands(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\\' && i + 1 < line.size()) {
      cur += c;
      cur += line[++i];
    } else if (c == ';') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(std::move(cur));
  return out;
}

std::vector<std::string> cli_split_words(std::string_view cmd) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < cmd.size(); ++i) {
    char c = cmd[i];
    if (c == '\\' && i + 1 < cmd.size()) {
      cur += cmd[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(std::move(cur));
  return out;
}

// ---------------------------------------------------------------------------
// Registry

void CliRegistry::add(CliCommand cmd) {
  for (auto& c : cmds_)
    if (c.keywords == cmd.keywords) {
      c = std::move(cmd);
      return;
    }
  cmds_.push_back(std::move(cmd));
}

const CliCommand* CliRegistry::match(const std::vector<std::string>& words) const {
  const CliCommand* best = nullptr;
  for (const auto& c : cmds_) {
    if (c.keywords.size() > words.size()) continue;
    if (!std::equal(c.keywords.begin(), c.keywords.end(), words.begin())) continue;
    if (!best || c.keywords.size() > best->keywords.size()) best = &c;
  }
  return best;
}

std::string CliRegistry::line(const CliCommand& c) const {
  char buf[512];
  std::snprintf(buf, sizeof buf, "  %-40s: %s\n", c.usage.c_str(), c.help.c_str());
  return buf;
}

namespace {
const char* const kTail =
    "  help [<command>]                        : list matching or all commands\n"
    "  prompt                                  : toggle interactive mode with prompt\n"
    "  quit                                    : disconnect\n";

// Similarity of two strings: shared character bigrams.
int similarity(const std::string& a, const std::string& b) {
  int n = 0;
  for (size_t i = 0; i + 1 < a.size(); ++i)
    for (size_t j = 0; j + 1 < b.size(); ++j)
      if (a[i] == b[j] && a[i + 1] == b[j + 1]) {
        ++n;
        break;
      }
  return n;
}
}  // namespace

std::string CliRegistry::help_text() const {
  std::vector<const CliCommand*> v;
  for (const auto& c : cmds_)
    if (!c.usage.empty()) v.push_back(&c);
  std::stable_sort(v.begin(), v.end(),
                   [](const CliCommand* a, const CliCommand* b) { return a->usage < b->usage; });
  std::string out = "The following commands are valid at this level:\n";
  for (const auto* c : v) out += line(*c);
  return out + kTail;
}

std::string CliRegistry::unknown_text(const std::vector<std::string>& words) const {
  if (words.empty()) {
    std::string h = help_text();
    return "Unknown command. Please enter one of the following commands only:\n" +
           h.substr(h.find('\n') + 1);
  }
  std::string typed;
  for (const auto& w : words) typed += (typed.empty() ? "" : " ") + w;
  std::vector<std::pair<int, const CliCommand*>> scored;
  for (const auto& c : cmds_) {
    if (c.usage.empty()) continue;
    std::string kw;
    for (const auto& k : c.keywords) kw += (kw.empty() ? "" : " ") + k;
    scored.emplace_back(similarity(typed, kw), &c);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  if (scored.size() > 5) scored.resize(5);
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.second->usage < b.second->usage; });
  std::string out = "Unknown command, but maybe one of the following ones is a better match:\n";
  for (const auto& [score, c] : scored) out += line(*c);
  return out + kTail;
}

// ---------------------------------------------------------------------------
// Session

CliSession::CliSession(const CliEnv& env, Level level, int64_t timeout_ms)
    : env_(env), level_(level), timeout_ms_(timeout_ms) {}

std::shared_ptr<const balancing::PoolSnapshot> CliSession::snapshot() const {
  return env_.writer.pool().current();
}

CliSession::Output CliSession::feed(std::string_view bytes) {
  Output out;
  buf_.append(bytes.data(), bytes.size());
  bool ran = false;
  size_t pos;
  while ((pos = buf_.find('\n')) != std::string::npos) {
    std::string line = buf_.substr(0, pos);
    buf_.erase(0, pos + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (in_payload_) {
      if (!line.empty()) {
        payload_ += line;
        payload_ += '\n';
        continue;
      }
      in_payload_ = false;
      ran = true;
      run_line(payload_line_, out);
      payload_.clear();
      if (out.close) return out;
      continue;
    }
    // "<cmd> <<": the payload follows, up to an empty line.
    if (line.size() >= 2 && line.ends_with("<<") &&
        (line.size() == 2 || line[line.size() - 3] == ' ' || line[line.size() - 3] == '\t')) {
      in_payload_ = true;
      payload_line_ = line.substr(0, line.size() - 2);
      payload_.clear();
      continue;
    }
    ran = true;
    run_line(line, out);
    if (out.close) return out;
  }
  if (ran && !prompt_ && !in_payload_) out.close = true;
  // A client that never sends "\n" (or never ends its payload) cannot make
  // us buffer without bound.
  if (buf_.size() > 65536 || payload_.size() > 262144) out.close = true;
  return out;
}

void CliSession::finish(Output& out, const CliReply& r) {
  out.bytes += r.text;
  if (!r.no_blank) out.bytes += '\n';
  if (prompt_) out.bytes += "> ";
}

void CliSession::run_line(std::string_view line, Output& out) {
  auto cmds = cli_split_commands(line);
  bool any = false;
  for (const auto& c : cmds) {
    auto words = cli_split_words(c);
    if (words.empty()) continue;
    any = true;
    run_command(words, out);
    if (out.close) return;
  }
  if (!any) finish(out, CliReply{env_.registry.unknown_text({})});
}

void CliSession::run_command(const std::vector<std::string>& words, Output& out) {
  if (words[0] == "quit") {
    out.close = true;
    return;
  }
  if (words[0] == "prompt") {
    prompt_ = !prompt_;
    finish(out, CliReply{});
    return;
  }
  if (words[0] == "help") {
    finish(out, CliReply{env_.registry.help_text()});
    return;
  }
  const CliCommand* c = env_.registry.match(words);
  if (!c) {
    finish(out, CliReply{env_.registry.unknown_text(words)});
    return;
  }
  if (static_cast<int>(level_) < static_cast<int>(c->level)) {
    finish(out, CliReply{"Permission denied\n"});
    return;
  }
  CliReply r = c->fn(*this, words);
  finish(out, r);
  if (r.close) out.close = true;
}

// ---------------------------------------------------------------------------
// Built-in commands

namespace {

CliReply text(std::string s) { return CliReply{std::move(s)}; }
CliReply msg(std::string s) { return CliReply{std::move(s) + "\n"}; }

// Parses "<backend>/<server>" from args[i].
bool split_bs(const std::vector<std::string>& a, size_t i, std::string& b, std::string& s) {
  if (i >= a.size()) return false;
  auto slash = a[i].find('/');
  if (slash == std::string::npos) return false;
  b = a[i].substr(0, slash);
  s = a[i].substr(slash + 1);
  return true;
}

// Finds the server in the writer's current snapshot; sets `err` when absent.
const Server* lookup(CliSession& ses, const std::string& b, const std::string& s,
                     std::shared_ptr<const balancing::PoolSnapshot>& keep, std::string& err) {
  keep = ses.snapshot();
  const balancing::BackendSnapshot* be = keep->find(b);
  if (!be) {
    err = "No such backend.\n";
    return nullptr;
  }
  const Server* srv = be->find(s);
  if (!srv) err = "No such server.\n";
  return srv;
}

// Common prologue: "<cmd> <b>/<s>" at args[idx] -> server or error reply.
struct Target {
  std::string b, s;
  const Server* srv = nullptr;
  std::shared_ptr<const balancing::PoolSnapshot> keep;
  std::string err;
};
Target target(CliSession& ses, const std::vector<std::string>& a, size_t idx) {
  Target t;
  if (!split_bs(a, idx, t.b, t.s)) {
    t.err = "Require 'backend/server'.\n";
    return t;
  }
  t.srv = lookup(ses, t.b, t.s, t.keep, t.err);
  return t;
}

void sync_health(const Server& s, int health) {
  if (!s.live) return;
  std::lock_guard<std::mutex> lock(s.live->health_mu);
  s.live->health.health = health;
}

// Leaves maintenance (and/or drain): a server leaving MAINT is UP at once
// with health = rise ("UP 1/3"), as HAProxy does.
CliReply set_ready_flags(CliSession& ses, const Target& t, uint32_t set_flags,
                         uint32_t clear_flags) {
  const bool was_maint = t.srv->in_maint();
  auto tx = ses.env().writer.begin();
  auto res = tx.update(t.b, t.s, [&](Server& s) {
    s.admin = (s.admin & ~clear_flags) | set_flags;
    if (was_maint && !s.in_maint()) {
      s.op = OpState::Running;
      s.health = s.check_enabled ? s.rise : s.health;
    }
    if (!was_maint && s.in_maint()) s.health = 0;
  });
  tx.commit();
  if (res) return msg(*res);
  if (auto now = ses.snapshot()->find(t.b)) {
    if (auto* s = now->find(t.s)) sync_health(*s, s->health);
  }
  return {};
}

// `ready` leaves the config's `disabled` mark (srv_admin_state 4), as haproxy.
constexpr uint32_t kMaintClear = balancing::kAdminForcedMaint;

CliReply do_state(CliSession& ses, const Target& t, const std::string& st) {
  if (st == "ready") return set_ready_flags(ses, t, 0, kMaintClear | balancing::kAdminForcedDrain);
  if (st == "drain") return set_ready_flags(ses, t, balancing::kAdminForcedDrain, kMaintClear);
  if (st == "maint") return set_ready_flags(ses, t, balancing::kAdminForcedMaint, 0);
  return msg("'set server <srv> state' expects 'ready', 'drain' and 'maint'.");
}

CliReply do_health(CliSession& ses, const Target& t, const std::string& st) {
  OpState op;
  int h;
  const Server& s = *t.srv;
  if (st == "up") {
    op = OpState::Running;
    h = s.rise + s.fall - 1;
  } else if (st == "stopping") {
    op = OpState::Stopping;
    h = s.rise + s.fall - 1;
  } else if (st == "down") {
    op = OpState::Stopped;
    h = 0;
  } else {
    return msg("'set server <srv> health' expects 'up', 'stopping', or 'down'.");
  }
  const bool was_up = s.op != OpState::Stopped;
  auto tx = ses.env().writer.begin();
  auto res = tx.set_op(t.b, t.s, op, h);
  tx.commit();
  if (res) return msg(*res);
  if (was_up && op == OpState::Stopped && s.live) s.live->counters.add(Counter::Downs);
  sync_health(s, h);
  return {};
}

CliReply do_weight(CliSession& ses, const Target& t, const std::vector<std::string>& a,
                   size_t idx) {
  if (idx >= a.size()) return msg("Require <weight> or <weight%>.");
  auto tx = ses.env().writer.begin();
  auto res = tx.set_weight_text(t.b, t.s, a[idx]);
  tx.commit();
  if (res) return msg(*res);
  return {};
}

bool parse_port(const std::string& p, uint16_t& out) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || end != p.data() + p.size() || v > 65535) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

CliReply do_addr(CliSession& ses, const Target& t, const std::vector<std::string>& a, size_t idx) {
  const char* by = " by 'stats socket command'";
  if (idx >= a.size())
    return msg("set server <b>/<s> addr requires an address and optionally a port.");
  const Server& s = *t.srv;
  uint16_t port = s.addr.port;
  bool port_given = false;
  if (idx + 2 < a.size() + 1 && idx + 1 < a.size() && a[idx + 1] == "port") {
    if (idx + 2 >= a.size() || !parse_port(a[idx + 2], port))
      return msg("set server <b>/<s> addr requires an address and optionally a port.");
    port_given = true;
  }
  balancing::Endpoint ep;
  if (!balancing::Endpoint::parse(a[idx], port, ep))
    return text("Invalid addr '" + a[idx] + "'" + by + "\n");
  std::string out;
  if (ep.ip != s.addr.ip)
    out = "IP changed from '" + s.addr.ip + "' to '" + ep.ip + "'";
  else
    out = "no need to change the addr";
  if (port_given) {
    if (port != s.addr.port)
      out += ", port changed from '" + std::to_string(s.addr.port) + "' to '" +
             std::to_string(port) + "'";
    else
      out += ", no need to change the port";
  }
  auto tx = ses.env().writer.begin();
  auto res = tx.set_addr(t.b, t.s, ep);
  tx.commit();
  if (res) return msg(*res);
  return text(out + by + "\n");
}

// `set server b/s check-port|check-addr`: the next check uses it (haproxy
// answers nothing on success).
CliReply edit_check(CliSession& ses, const Target& t, const std::function<void(Server&)>& edit) {
  auto tx = ses.env().writer.begin();
  auto res = tx.update(t.b, t.s, edit);
  tx.commit();
  return res ? msg(*res) : CliReply{};
}

CliReply do_set_server(CliSession& ses, const std::vector<std::string>& a) {
  Target t = target(ses, a, 2);
  if (!t.srv) return text(t.err);
  const char* usage =
      "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | "
      "agent-send | check-addr | check-port | fqdn | health | ssl | state | weight";
  if (a.size() < 4) return msg(usage);
  const std::string& what = a[3];
  const std::string arg = a.size() > 4 ? a[4] : "";
  if (what == "state") return do_state(ses, t, arg);
  if (what == "health") return do_health(ses, t, arg);
  if (what == "weight") return do_weight(ses, t, a, 4);
  if (what == "addr") return do_addr(ses, t, a, 4);
  if (what == "agent" || what == "agent-addr" || what == "agent-port" || what == "agent-send")
    return msg("agent checks are not enabled on this server.");
  if (what == "check-port") {
    if (a.size() < 5) return msg("set server <b>/<s> check-port requires a port.");
    if (!t.srv->check_enabled) return text("health checks are not enabled on this server");
    int port = 0;
    auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), port);
    if (ec != std::errc() || end != arg.data() + arg.size())
      return text("provided port is not an integer");
    if (port < 0 || port > 65535) return text("provided port is invalid");
    return edit_check(ses, t, [port](Server& s) { s.check_port = static_cast<uint16_t>(port); });
  }
  if (what == "check-addr") {
    balancing::Endpoint ep;
    if (a.size() < 5)
      return msg("set server <b>/<s> check-addr requires an address and optionally a port.");
    if (!t.srv->check_enabled) return text("health checks are not enabled on this server");
    if (!balancing::Endpoint::parse(arg, 0, ep)) return text("invalid addr '" + arg + "'");
    return edit_check(ses, t, [ip = ep.ip](Server& s) { s.check_addr = ip; });
  }
  if (what == "fqdn" || what == "ssl")
    return msg("'set server <srv> " + what + "' is not supported by herd.");
  return msg(usage);
}

CliReply do_add_server(CliSession& ses, const std::vector<std::string>& a) {
  std::string b, name;
  if (a.size() < 4 || !split_bs(a, 2, b, name))
    return msg("'server' expects <name> and <addr>[:<port>] as arguments.");
  auto snap = ses.snapshot();
  const balancing::BackendSnapshot* be = snap->find(b);
  if (!be) return msg("No such backend.");
  if (char bad = 0; !config::valid_name(name, &bad))
    return msg(std::string("character '") + bad + "' is not permitted in server name '" + name +
               "'.");
  // address: ip[:port], [ipv6]:port
  std::string addr = a[3], ip = addr;
  uint16_t port = 0;
  if (!addr.empty() && addr.front() == '[') {
    auto close = addr.find(']');
    ip = addr.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < addr.size() && addr[close + 1] == ':' &&
        !parse_port(addr.substr(close + 2), port))
      return msg("Invalid address '" + addr + "'.");
  } else if (std::count(addr.begin(), addr.end(), ':') == 1) {
    auto colon = addr.find(':');
    ip = addr.substr(0, colon);
    if (!parse_port(addr.substr(colon + 1), port)) return msg("Invalid address '" + addr + "'.");
  }
  Server s;
  s.name = name;
  s.origin = balancing::Origin::Runtime;
  if (!balancing::Endpoint::parse(ip, port, s.addr)) return msg("Invalid address '" + addr + "'.");
  s.admin = balancing::kAdminForcedMaint;
  s.op = OpState::Running;
  s.check_enabled = false;
  bool want_check = false;
  std::string observe, on_error;
  int error_limit = 0;
  for (size_t i = 4; i < a.size(); ++i) {
    const std::string& k = a[i];
    auto int_arg = [&](int& out) -> bool {
      if (i + 1 >= a.size()) return false;
      out = std::atoi(a[++i].c_str());
      return true;
    };
    int v = 0;
    if (k == "check") {
      want_check = true;
    } else if (k == "backup") {
      s.backup = true;
    } else if (k == "disabled" || k == "enabled" || k == "no-check" || k == "no-backup") {
      if (k == "no-check") want_check = false;
      if (k == "no-backup") s.backup = false;
    } else if (k == "weight" || k == "maxconn" || k == "maxqueue" || k == "rise" || k == "fall" ||
               k == "port") {
      if (!int_arg(v)) return msg("'" + k + "' expects an integer argument.");
      if (k == "weight") {
        if (v < 0 || v > 256)
          return msg("weight of server " + name + " is not within 0 and 256 (" + std::to_string(v) +
                     ").");
        s.weight = s.initial_weight = v;
      }
      if (k == "maxconn") s.maxconn = v;
      if (k == "maxqueue") s.maxqueue = v;
      if (k == "rise") s.rise = std::max(1, v);
      if (k == "fall") s.fall = std::max(1, v);
      if (k == "port") {
        if (v < 0 || v > 65535) return msg("invalid port '" + a[i] + "'.");
        s.check_port = static_cast<uint16_t>(v);
      }
    } else if (k == "inter" || k == "fastinter" || k == "downinter") {
      if (i + 1 >= a.size()) return msg("'" + k + "' expects an argument.");
      const config::TimeValue tv = config::parse_time(a[++i]);
      if (tv.status == config::TimeValue::Status::BadChar)
        return msg(std::string("unexpected character '") + tv.bad_char + "' in '" + k +
                   "' argument of server " + name + "..");
      if (tv.status != config::TimeValue::Status::Ok || tv.ms <= 0)
        return msg("invalid value " + a[i] + " for argument '" + k + "' of server " + name + "..");
      (k == "inter"       ? s.check_inter_ms
       : k == "fastinter" ? s.check_fastinter_ms
                          : s.check_downinter_ms) = tv.ms;
    } else if (k == "addr") {
      if (i + 1 >= a.size()) return msg("'" + k + "' expects an argument.");
      balancing::Endpoint probe;
      if (!balancing::Endpoint::parse(a[++i], 0, probe))
        return msg("'addr' : invalid address: '" + a[i] + "' in '" + a[i] + "'.");
      s.check_addr = probe.ip;
    } else if (k == "observe" || k == "error-limit" || k == "on-error") {
      if (i + 1 >= a.size()) return msg("'" + k + "' expects an argument.");
      ++i;
      if (k == "observe" && a[i] != "none" && a[i] != "layer4" && a[i] != "layer7")
        return msg("'observe' expects one of 'none', 'layer4', 'layer7' but got '" + a[i] + "'.");
      if (k == "observe") observe = a[i];
      if (k == "error-limit") {
        error_limit = std::atoi(a[i].c_str());
        if (error_limit <= 0) return msg("error-limit has to be > 0..");
      }
      if (k == "on-error" && a[i] != "fastinter" && a[i] != "fail-check" &&
          a[i] != "sudden-death" && a[i] != "mark-down")
        return msg(
            "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or "
            "'mark-down' but got '" +
            a[i] + "'.");
      if (k == "on-error") on_error = a[i];
    } else if (k == "cookie") {
      return msg("'cookie' option is not accepted for dynamic server");
    } else if (k == "slowstart") {
      return msg("'slowstart' is not supported by herd.");
    } else {
      return msg("unknown keyword '" + k + "'.");
    }
  }
  // With `check` the server is check-configured but disabled until
  // `enable health`, as in HAProxy.
  s.check_configured = want_check;
  s.set_observe(observe, error_limit, on_error);
  auto tx = ses.env().writer.begin();
  auto res = tx.add_server(b, std::move(s));
  tx.commit();
  if (res) return msg(*res);
  return msg("New server registered.");
}

CliReply do_del_server(CliSession& ses, const std::vector<std::string>& a) {
  Target t = target(ses, a, 2);
  CliReply r;
  r.no_blank = true;
  if (!t.srv) {
    r.text = t.err;
    return r;
  }
  if (!t.srv->in_maint()) {
    r.text = "Only servers in maintenance mode can be deleted.\n";
    return r;
  }
  auto tx = ses.env().writer.begin();
  auto res = tx.remove_server(t.b, t.s);
  tx.commit();
  r.text = res ? *res + "\n" : "Server deleted.\n";
  return r;
}

CliReply do_show_stat(CliSession& ses, const std::vector<std::string>& a) {
  Filter f;
  bool typed = false, json = false;
  std::vector<std::string> rest;
  for (size_t i = 2; i < a.size(); ++i) {
    const auto& w = a[i];
    if (w == "typed")
      typed = true;
    else if (w == "json")
      json = true;
    else if (w == "up")
      f.up = true;
    else if (w == "no-maint")
      f.no_maint = true;
    else if (w == "desc") {
    } else
      rest.push_back(w);
  }
  if (rest.size() >= 3) {
    bool numeric = !rest[0].empty() && std::all_of(rest[0].begin(), rest[0].end(), [](char c) {
      return (c >= '0' && c <= '9') || c == '-';
    });
    if (numeric) {
      f.iid = std::atoi(rest[0].c_str());
    } else {
      int iid = find_proxy_iid(ses.env().cfg, rest[0]);
      if (iid < 0) return msg("No such proxy.");
      f.iid = iid;
    }
    f.type_mask = std::atoi(rest[1].c_str());
    f.sid = std::atoi(rest[2].c_str());
  }
  auto snap = ses.snapshot();
  Sources src{ses.env().cfg, *snap, ses.env().proc, ses.env().info};
  auto rows = collect_rows(src, f);
  if (json) return text(render_json(rows));
  if (typed) return text(render_typed(rows));
  return text(render_csv(rows));
}

CliReply do_show_info(CliSession& ses, const std::vector<std::string>& a) {
  InfoFormat fmt = InfoFormat::Plain;
  for (size_t i = 2; i < a.size(); ++i) {
    if (a[i] == "typed") fmt = InfoFormat::Typed;
    if (a[i] == "json") fmt = InfoFormat::Json;
    if (a[i] == "desc") fmt = InfoFormat::Desc;
  }
  auto snap = ses.snapshot();
  Sources src{ses.env().cfg, *snap, ses.env().proc, ses.env().info};
  return text(render_info(src, fmt));
}

CliReply do_show_servers_state(CliSession& ses, const std::vector<std::string>& a) {
  auto snap = ses.snapshot();
  Sources src{ses.env().cfg, *snap, ses.env().proc, ses.env().info};
  std::string out;
  render_servers_state(src, a.size() > 3 ? a[3] : "", out);
  return text(out);
}

CliReply do_show_env(CliSession&, const std::vector<std::string>& a) {
  if (a.size() > 2) {
    const char* v = std::getenv(a[2].c_str());
    if (!v) return msg("Variable not found");
    return msg(a[2] + "=" + v);
  }
  std::string out;
  for (char** e = environ; e && *e; ++e) out += std::string(*e) + "\n";
  return text(out);
}

CliReply do_show_errors(CliSession&, const std::vector<std::string>&) {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  tm lt{};
  localtime_r(&tv.tv_sec, &lt);
  char date[64];
  std::strftime(date, sizeof date, "%d/%b/%Y:%H:%M:%S", &lt);
  char buf[128];
  std::snprintf(buf, sizeof buf, "Total events captured on [%s.%03d] : 0\n", date,
                static_cast<int>(tv.tv_usec / 1000));
  return text(buf);
}

void clear_gauge_max(balancing::Gauge& g) { g.max.store(g.cur.load()); }

CliReply do_clear_counters(CliSession& ses, const std::vector<std::string>& a) {
  const bool all = a.size() > 2 && a[2] == "all";
  if (all && ses.level() != Level::Admin) return msg("Permission denied");
  auto snap = ses.snapshot();
  for (const auto& be : snap->backends) {
    if (be->live) {
      clear_gauge_max(be->live->inflight);
      clear_gauge_max(be->live->queued);
      if (all) be->live->counters.clear();
    }
    for (const auto& s : be->servers) {
      if (!s->live) continue;
      clear_gauge_max(s->live->inflight);
      clear_gauge_max(s->live->queued);
      if (all) s->live->counters.clear();
    }
  }
  for (const auto& fe : ses.env().proc.frontends) {
    clear_gauge_max(fe->sessions);
    if (all) fe->counters.clear();
  }
  return {};
}

CliReply do_health_toggle(CliSession& ses, const std::vector<std::string>& a, bool on) {
  Target t = target(ses, a, 2);
  if (!t.srv) return text(t.err);
  if (on && !t.srv->check_configured)
    return msg("Health check was not configured on this server, cannot enable.");
  auto tx = ses.env().writer.begin();
  auto res = tx.update(
      t.b, t.s,
      [&](Server& s) {
        s.check_enabled = on;
        if (on && s.in_maint()) s.health = 0;
      },
      balancing::PoolChange::Kind::CheckEnabled);
  tx.commit();
  if (res) return msg(*res);
  return {};
}

}  // namespace

void register_builtin_commands(CliRegistry& reg) {
  auto add = [&](std::vector<std::string> kw, std::string usage, std::string help, Level lvl,
                 CliHandler fn) {
    reg.add(CliCommand{std::move(kw), std::move(usage), std::move(help), lvl, std::move(fn)});
  };
  add({"operator"}, "operator", "lower the level of the current CLI session to operator",
      Level::Operator, [](CliSession& s, const auto&) {
        s.set_level(Level::Operator);
        return CliReply{};
      });
  add({"user"}, "user", "lower the level of the current CLI session to user", Level::User,
      [](CliSession& s, const auto&) {
        s.set_level(Level::User);
        return CliReply{};
      });
  add({"experimental-mode"}, "experimental-mode [on|off]",
      "toggle experimental mode (accepted, no effect in herd)", Level::Admin,
      [](CliSession&, const auto&) { return CliReply{}; });
  add({"expert-mode"}, "expert-mode [on|off]", "toggle expert mode (accepted, no effect in herd)",
      Level::Admin, [](CliSession&, const auto&) { return CliReply{}; });
  add({"set", "timeout"}, "set timeout [cli] <delay>", "change a timeout setting", Level::User,
      [](CliSession& s, const std::vector<std::string>& a) {
        if (a.size() < 4 || a[2] != "cli") return msg("'set timeout' only supports 'cli'.");
        char* end = nullptr;
        long v = std::strtol(a[3].c_str(), &end, 10);
        if (a[3].empty() || *end || v < 0) return msg("Expects an integer value.");
        s.set_timeout_ms(static_cast<int64_t>(v) * 1000);
        return CliReply{};
      });
  add({"show", "info"}, "show info [desc|json|typed|float]*",
      "report information about the running process", Level::User, do_show_info);
  add({"show", "stat"}, "show stat [desc|json|no-maint|typed|up]*",
      "report counters for each proxy and server", Level::User, do_show_stat);
  add({"show", "servers", "state"}, "show servers state [<backend>]",
      "dump volatile server information (all or for a single backend)", Level::User,
      do_show_servers_state);
  add({"show", "backend"}, "show backend", "list backends in the current running config",
      Level::User, [](CliSession& s, const auto&) { return text(render_backends(s.env().cfg)); });
  add({"show", "version"}, "show version", "show version of the current process", Level::User,
      [](CliSession& s, const auto&) { return msg(s.env().info.version); });
  add({"show", "cli", "level"}, "show cli level", "display the level of the current CLI session",
      Level::User, [](CliSession& s, const auto&) { return msg(level_name(s.level())); });
  add({"show", "env"}, "show env [var]", "dump environment variables known to the process",
      Level::Operator, do_show_env);
  add({"show", "errors"}, "show errors [<px>] [request|response]",
      "report last request and/or response errors for each proxy", Level::Operator, do_show_errors);
  add({"clear", "counters"}, "clear counters [all]",
      "clear max statistics counters (or all counters)", Level::Operator, do_clear_counters);
  add({"get", "weight"}, "get weight <bk>/<srv>", "report a server's current weight", Level::User,
      [](CliSession& ses, const std::vector<std::string>& a) {
        Target t = target(ses, a, 2);
        if (!t.srv) return text(t.err);
        return msg(std::to_string(t.srv->weight) + " (initial " +
                   std::to_string(t.srv->initial_weight) + ")");
      });
  add({"set", "weight"}, "set weight <bk>/<srv>  (DEPRECATED)",
      "change a server's weight (use 'set server' instead)", Level::Admin,
      [](CliSession& ses, const std::vector<std::string>& a) {
        Target t = target(ses, a, 2);
        if (!t.srv) return text(t.err);
        return do_weight(ses, t, a, 3);
      });
  add({"disable", "server"}, "disable server (DEPRECATED)",
      "disable a server for maintenance (use 'set server' instead)", Level::Admin,
      [](CliSession& ses, const std::vector<std::string>& a) {
        Target t = target(ses, a, 2);
        if (!t.srv) return text(t.err);
        return do_state(ses, t, "maint");
      });
  add({"enable", "server"}, "enable server  (DEPRECATED)",
      "enable a disabled server (use 'set server' instead)", Level::Admin,
      [](CliSession& ses, const std::vector<std::string>& a) {
        Target t = target(ses, a, 2);
        if (!t.srv) return text(t.err);
        return set_ready_flags(ses, t, 0, kMaintClear);
      });
  add({"set", "server"}, "set server <bk>/<srv> [opts]",
      "change a server's state, weight, address or ssl", Level::Admin, do_set_server);
  add({"add", "server"}, "add server <bk>/<srv>", "create a new server", Level::Admin,
      do_add_server);
  add({"del", "server"}, "del server <bk>/<srv>", "remove a dynamically added server", Level::Admin,
      do_del_server);
  add({"enable", "health"}, "enable health", "enable health checks", Level::Admin,
      [](CliSession& s, const std::vector<std::string>& a) {
        return do_health_toggle(s, a, true);
      });
  add({"disable", "health"}, "disable health", "disable health checks", Level::Admin,
      [](CliSession& s, const std::vector<std::string>& a) {
        return do_health_toggle(s, a, false);
      });
  add({"enable", "agent"}, "enable agent", "enable agent checks", Level::Admin,
      [](CliSession& ses, const std::vector<std::string>& a) {
        Target t = target(ses, a, 2);
        if (!t.srv) return text(t.err);
        return msg("Agent was not configured on this server, cannot enable.");
      });
  add({"disable", "agent"}, "disable agent", "disable agent checks", Level::Admin,
      [](CliSession& ses, const std::vector<std::string>& a) {
        Target t = target(ses, a, 2);
        if (!t.srv) return text(t.err);
        return CliReply{};
      });
}

}  // namespace herd::stats
