// stats/state_dump.cpp — see state_dump.h.
#include "stats/state_dump.h"

#include <map>

namespace herd::stats {
namespace {

int64_t num(const Row& r, int col) { return r.f[col].num; }

// HAProxy says UP for any state but stopped: DOWN (also while it is coming
// back, "DOWN 1/2") and MAINT are DOWN; UP, "UP 1/2", NOLB, DRAIN, "no check" are UP.
const char* up_or_down(const std::string& status) {
  if (status.rfind("DOWN", 0) == 0 || status.rfind("MAINT", 0) == 0) return "DOWN";
  return "UP";
}

}  // namespace

std::vector<std::string> sighup_state_lines(const Sources& src) {
  // Rows come per proxy (FRONTEND, servers, BACKEND); each proxy's line
  // follows its servers' lines.
  struct Proxy {
    std::string name;
    const Row* fe = nullptr;
    const Row* be = nullptr;
    std::vector<std::string> servers;
  };
  auto rows = collect_rows(src);
  std::vector<Proxy> proxies;
  std::map<int, size_t> by_iid;
  for (const Row& r : rows) {
    auto [it, fresh] = by_iid.emplace(r.iid, proxies.size());
    if (fresh) proxies.push_back(Proxy{r.pxname(), nullptr, nullptr, {}});
    Proxy& p = proxies[it->second];
    if (r.type == ObjType::Frontend) p.fe = &r;
    if (r.type == ObjType::Backend) p.be = &r;
    if (r.type == ObjType::Server)
      p.servers.push_back(
          "SIGHUP: Server " + p.name + "/" + r.svname() + " is " + up_or_down(r.f[kStatus].str) +
          ". Conn: " + std::to_string(num(r, kSCur)) + " act, " + std::to_string(num(r, kQCur)) +
          " pend, " + std::to_string(num(r, kSTot)) + " tot.");
  }
  std::vector<std::string> out;
  for (const Proxy& p : proxies) {
    out.insert(out.end(), p.servers.begin(), p.servers.end());
    int64_t feconn = p.fe ? num(*p.fe, kSCur) : 0, beconn = p.be ? num(*p.be, kSCur) : 0;
    int64_t pend = p.be ? num(*p.be, kQCur) : 0;  // herd queues per backend only
    int64_t fetot = p.fe ? num(*p.fe, kConnTot) : 0, betot = p.be ? num(*p.be, kSTot) : 0;
    int64_t act = p.be ? num(*p.be, kAct) : 0, bck = p.be ? num(*p.be, kBck) : 0;
    std::string conn = " Conn: act(FE+BE): " + std::to_string(feconn) + "+" +
                       std::to_string(beconn) + ", " + std::to_string(pend) + " pend (" +
                       std::to_string(pend) + " unass), tot(FE+BE): " + std::to_string(fetot) +
                       "+" + std::to_string(betot) + ".";
    if (p.servers.empty())
      out.push_back("SIGHUP: Proxy " + p.name + " has no servers." + conn);
    else if (act == 0)
      out.push_back("SIGHUP: Proxy " + p.name + " " +
                    (bck > 0 ? "is running on backup servers" : "has no server available") + " !" +
                    conn);
    else
      out.push_back("SIGHUP: Proxy " + p.name + " has " + std::to_string(act) +
                    " active servers and " + std::to_string(bck) + " backup servers available." +
                    conn);
  }
  return out;
}

}  // namespace herd::stats
