// tests/unit/balancing/helpers.h — config builders and pick helpers shared
// by the balancing tests (single test thread unless stated).
#pragma once

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "balancing/pool.h"

namespace herd::balancing::testing {

inline config::Server make_cfg_server(const std::string& name, int weight, bool backup = false) {
  config::Server s;
  s.name = name;
  s.weight = weight;
  s.backup = backup;
  s.addr.ip = "127.0.0.1";
  s.addr.port = 8000;
  s.cookie = name;
  return s;
}

// One backend "b" with servers s1..sN of the given weights.
inline config::Config make_config(config::BalanceAlgo algo, const std::vector<int>& weights,
                                  int backups = 0) {
  config::Config cfg;
  config::Proxy px;
  px.kind = config::Proxy::Kind::Backend;
  px.name = "b";
  px.id = 2;
  px.mode = config::Mode::Http;
  px.balance.algo = algo;
  int id = 1;
  for (int w : weights) {
    auto s = make_cfg_server("s" + std::to_string(id), w);
    s.id = id++;
    px.servers.push_back(s);
  }
  for (int i = 0; i < backups; ++i) {
    auto s = make_cfg_server("s" + std::to_string(id), 1, true);
    s.id = id++;
    px.servers.push_back(s);
  }
  cfg.proxies.push_back(px);
  return cfg;
}

// n sequential picks on backend `be`, each request finished before the next.
inline std::vector<std::string> picks(const Pool& pool, int n, const std::string& be = "b",
                                      PickContext ctx = {}) {
  std::vector<std::string> out;
  auto snap = pool.current();
  const BackendSnapshot* b = snap->find(be);
  for (int i = 0; i < n; ++i) {
    const Server* s = b ? b->pick(ctx) : nullptr;
    out.push_back(s ? s->name : "-");
  }
  return out;
}

inline std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

inline std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string w; in >> w;) v.push_back(w);
  return v;
}

}  // namespace herd::balancing::testing
