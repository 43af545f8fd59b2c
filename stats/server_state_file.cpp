// stats/server_state_file.cpp — see server_state_file.h.
#include "stats/server_state_file.h"

#include <arpa/inet.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

namespace herd::stats {

namespace {

using balancing::OpState;
using balancing::Server;

bool to_int(const std::string& s, int* v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && end == s.data() + s.size();
}

bool ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string full_path(const config::Global& g, const std::string& name) {
  if (name.empty() || name[0] == '/' || g.server_state_base.empty()) return name;
  std::string base = g.server_state_base;
  if (base.back() != '/') base += '/';
  return base + name;
}

// The lines of `path`, or the warning that says why there are none.
std::optional<std::vector<ServerStateLine>> read_file(const std::string& path, bool global,
                                                      const std::string& proxy,
                                                      std::vector<std::string>* warnings) {
  std::ifstream in(path);
  const std::string who = global ? "config : config: " : "config : Proxy '" + proxy + "': ";
  const std::string what = global ? "global server state file" : "server state file";
  if (!in) {
    warnings->push_back(who + "Can't open " + what + " '" + path + "': " + std::strerror(errno) +
                        (global ? "" : "."));
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<ServerStateLine> lines;
  std::string err = parse_server_state_file(ss.str(), &lines);
  if (err == "version") {
    warnings->push_back(who + "Can't get version of the " + what + " '" + path + "'.");
    return std::nullopt;
  }
  if (!err.empty()) {
    warnings->push_back(who + "corrupted " + what + " '" + path + "' at " + err + ".");
    return std::nullopt;
  }
  return lines;
}

class Applier {
 public:
  Applier(balancing::PoolWriter& w, std::vector<std::string>* warnings)
      : w_(w), warnings_(warnings) {}

  void apply(const std::string& be, const ServerStateLine& l) {
    const balancing::BackendSnapshot* bs = w_.pool().current()->find(be);
    const Server* s = bs ? bs->find(l.server) : nullptr;
    if (!s) return;  // a server gone from the configuration
    const Server cur = *s;
    auto tx = w_.begin();
    const std::string_view b = be, n = l.server;
    // Admin state: the configuration's `disabled` wins when it changed.
    const bool cfg_cmaint = cur.admin & balancing::kAdminConfigMaint;
    bool maint = cur.in_maint();
    bool readied = false;  // leaving maintenance sets the health to rise
    const bool same_cmaint = ((l.admin & balancing::kAdminConfigMaint) != 0) == cfg_cmaint;
    const bool file_fmaint = l.admin & balancing::kAdminForcedMaint;
    if (same_cmaint && file_fmaint && !cfg_cmaint) {
      tx.set_admin(b, n, balancing::kAdminForcedMaint, 0);
      maint = true;
    } else if (same_cmaint && !file_fmaint && cfg_cmaint) {
      // `disabled` in the config, made ready at runtime before the file was
      // written: ready again (haproxy's srv_adm_set_ready).
      tx.set_admin(b, n, 0, balancing::kAdminForcedMaint);
      tx.set_op(b, n, OpState::Running, cur.check_enabled ? cur.rise : cur.health);
      maint = false;
      readied = true;
    }
    bool drain = false;
    if (!maint && (l.admin & balancing::kAdminForcedDrain) &&
        (l.iweight > 0 || cur.initial_weight == 0)) {
      tx.set_admin(b, n, balancing::kAdminForcedDrain, 0);
      drain = true;
    }
    // Operational state: meaningful with health checks only (a server
    // without checks is up whenever it is not in maintenance).
    const int full = cur.rise + cur.fall - 1;
    if (cur.check_enabled && readied) {
      // haproxy's srv_adm_set_ready: running, health at rise, whatever the file says.
    } else if (cur.check_enabled) {
      if (l.op == 0)
        tx.set_op(b, n, OpState::Stopped, 0);
      else if (l.op == 1 || l.op == 2 || l.op == 3)
        tx.set_op(b, n, l.op == 3 ? OpState::Stopping : OpState::Running, full);
    } else if (l.op >= 0 && l.op <= 3) {
      // Only the health counter, as haproxy sets it (`show servers state`).
      tx.update(b, n, [h = l.op == 0 ? 0 : full](Server& sv) { sv.health = h; });
    }
    if (l.iweight == cur.initial_weight && l.uweight != cur.weight) tx.set_weight(b, n, l.uweight);
    bool checks = cur.check_enabled;
    if (checks && (l.check_state & 2) && !(l.check_state & 4)) {
      tx.set_check_enabled(b, n, false);
      checks = false;
    }
    // Address: only for a server configured by name (`init-addr last`).
    std::string ip = cur.addr.ip;
    const config::Server* cs = config_server(bs, l.server);
    if (cs && !cs->addr.host.empty() && !ip_literal(cs->addr.host) && l.addr != "-") ip = l.addr;
    uint16_t port = l.port > 0 && l.port <= 65535 ? static_cast<uint16_t>(l.port) : cur.addr.port;
    balancing::Endpoint ep;
    if ((ip != cur.addr.ip || port != cur.addr.port) && balancing::Endpoint::parse(ip, port, ep))
      tx.set_addr(b, n, ep);
    const bool check_fields = l.check_port != 0 || l.check_addr != "-";
    if (check_fields && checks) {
      int cp = l.check_port;
      std::string ca = l.check_addr == "-" ? cur.check_addr : l.check_addr;
      tx.update(b, n, [cp, ca](Server& sv) {
        if (cp > 0 && cp <= 65535) sv.check_port = static_cast<uint16_t>(cp);
        sv.check_addr = ca;
      });
    } else if (check_fields) {
      warnings_->push_back("config : server-state partially applied for server '" + be + "/" +
                           l.server + "', health checks are not enabled on this server");
    }
    tx.commit();
    const bool was_usable = cur.is_up();
    const balancing::BackendSnapshot* after = w_.pool().current()->find(be);
    const Server* now = after ? after->find(l.server) : nullptr;
    if (now && was_usable && !now->is_up())
      warnings_->push_back("config : Server " + be + "/" + l.server +
                           " is DOWN, changed from server-state after a reload. " +
                           std::to_string(after->usable_active()) + " active and " +
                           std::to_string(after->usable_backup()) +
                           " backup servers left. 0 sessions active, 0 requeued, 0 remaining in "
                           "queue.");
    if (drain)
      warnings_->push_back("config : Server " + be + "/" + l.server +
                           " remains in forced drain mode.");
    if (readied)
      warnings_->push_back("config : Server " + be + "/" + l.server +
                           " is UP/READY (leaving forced maintenance).");
  }

 private:
  static const config::Server* config_server(const balancing::BackendSnapshot* bs,
                                             const std::string& name) {
    if (!bs || !bs->config) return nullptr;
    for (const auto& s : bs->config->servers)
      if (s.name == name) return &s;
    return nullptr;
  }

  balancing::PoolWriter& w_;
  std::vector<std::string>* warnings_;
};

}  // namespace

std::string parse_server_state_file(const std::string& text, std::vector<ServerStateLine>* out) {
  std::istringstream in(text);
  std::string line;
  int version = 0;
  if (!std::getline(in, line)) return "version";
  {
    std::istringstream v(line);
    std::string word;
    if (!(v >> word) || !to_int(word, &version) || version != 1) return "version";
  }
  std::vector<ServerStateLine> lines;
  // HAProxy numbers the lines after the version line from 1.
  for (int n = 1; std::getline(in, line); ++n) {
    std::istringstream ls(line);
    std::vector<std::string> f;
    for (std::string word; ls >> word;) f.push_back(word);
    if (f.empty() || f[0][0] == '#') continue;
    ServerStateLine l;
    int be_id = 0, srv_id = 0;
    if (f.size() < 20 || !to_int(f[0], &be_id) || !to_int(f[2], &srv_id) || !to_int(f[5], &l.op) ||
        !to_int(f[6], &l.admin) || !to_int(f[7], &l.uweight) || !to_int(f[8], &l.iweight) ||
        !to_int(f[13], &l.check_state) || !to_int(f[18], &l.port) ||
        (f.size() > 21 && !to_int(f[21], &l.check_port)))
      return "line " + std::to_string(n);
    l.backend = f[1];
    l.server = f[3];
    l.addr = f[4];
    l.check_addr = f.size() > 22 ? f[22] : "-";
    if (l.uweight < 0 || l.uweight > 256 || l.iweight < 0 || l.iweight > 256)
      return "line " + std::to_string(n);
    lines.push_back(std::move(l));
  }
  *out = std::move(lines);
  return "";
}

std::vector<std::string> load_server_states(const config::Config& cfg,
                                            balancing::PoolWriter& writer) {
  std::vector<std::string> warnings;
  std::optional<std::vector<ServerStateLine>> global;
  bool global_read = false;
  Applier apply(writer, &warnings);
  for (const auto& px : cfg.proxies) {
    if (!px.has_backend() || px.load_server_state == config::Proxy::StateLoad::None) continue;
    std::optional<std::vector<ServerStateLine>> local;
    const std::vector<ServerStateLine>* lines = nullptr;
    if (px.load_server_state == config::Proxy::StateLoad::Global) {
      if (cfg.global.server_state_file.empty()) continue;
      if (!global_read) {
        global_read = true;
        global = read_file(full_path(cfg.global, cfg.global.server_state_file), true, px.name,
                           &warnings);
      }
      if (global) lines = &*global;
    } else {
      const std::string name =
          px.server_state_file_name.empty() ? px.name : px.server_state_file_name;
      local = read_file(full_path(cfg.global, name), false, px.name, &warnings);
      if (local) lines = &*local;
    }
    if (!lines) continue;
    for (const auto& l : *lines)
      if (l.backend == px.name) apply.apply(px.name, l);
  }
  return warnings;
}

void apply_server_state(balancing::PoolWriter& writer, const ServerStateLine& line,
                        std::vector<std::string>* warnings) {
  Applier(writer, warnings).apply(line.backend, line);
}

}  // namespace herd::stats
