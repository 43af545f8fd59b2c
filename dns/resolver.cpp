// dns/resolver.cpp — see resolver.h.
#include "dns/resolver.h"

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <random>

#include "balancing/server.h"
#include "dns/message.h"

namespace herd::dns {
namespace asio = boost::asio;
using udp = asio::ip::udp;
using Clock = std::chrono::steady_clock;
using balancing::kAdminResolveMaint;

namespace {

bool numeric_ip(const std::string& host) {
  balancing::Endpoint ep;
  return balancing::Endpoint::parse(host, 0, ep);
}

std::chrono::milliseconds ms(int64_t v) { return std::chrono::milliseconds(v); }

}  // namespace

struct Resolver::Impl : std::enable_shared_from_this<Impl> {
  struct Section;
  struct Nameserver {
    std::string id;
    udp::endpoint ep;
    std::unique_ptr<udp::socket> sock;
    std::vector<char> buf = std::vector<char>(65536);
  };
  // A server following a resolution.
  struct Requester {
    const config::Proxy* px = nullptr;
    std::string backend, server;
    uint16_t port = 0;
  };
  // One name asked of one section, shared by every server that follows it
  // with the same preferred family (as haproxy shares its resolutions).
  struct Resolution {
    Section* sec = nullptr;
    std::string host;
    std::vector<Requester> reqs;
    RType preferred = RType::Aaaa, current = RType::Aaaa;
    bool running = false;
    uint16_t qid = 0;
    int tries = 0;
    size_t queries = 0, responses = 0;
    Response::Status error = Response::Status::Invalid;  // worst seen in this round
    Clock::time_point last_valid;
    std::unique_ptr<asio::steady_timer> timer;
  };
  struct Section {
    const config::Resolvers* cfg = nullptr;
    std::vector<Nameserver> ns;
    std::map<uint16_t, Resolution*> by_id;
  };

  asio::io_context& control;
  const config::Config& cfg;
  balancing::PoolWriter& writer;
  LogFn log;
  std::vector<std::unique_ptr<Section>> sections;
  std::vector<std::unique_ptr<Resolution>> resolutions;
  std::mt19937 rng{std::random_device{}()};
  bool stopped = false;

  Impl(asio::io_context& c, const config::Config& cf, balancing::PoolWriter& w, LogFn l)
      : control(c), cfg(cf), writer(w), log(std::move(l)) {}

  std::string open() {
    for (const auto& rc : cfg.resolvers) {
      auto sec = std::make_unique<Section>();
      sec->cfg = &rc;
      sections.push_back(std::move(sec));
    }
    for (const auto& px : cfg.proxies) {
      if (!px.has_backend()) continue;
      for (const auto& s : px.servers) {
        if (s.resolvers.empty() || numeric_ip(s.addr.host) || s.addr.host.empty()) continue;
        Section* sec = nullptr;
        for (auto& x : sections)
          if (x->cfg->name == s.resolvers) sec = x.get();
        if (!sec) continue;
        const std::string host = normalize_name(s.addr.host);
        const RType pref = s.resolve_prefer_ipv4 ? RType::A : RType::Aaaa;
        Resolution* res = nullptr;
        for (auto& x : resolutions)
          if (x->sec == sec && x->host == host && x->preferred == pref) res = x.get();
        if (!res) {
          auto r = std::make_unique<Resolution>();
          r->sec = sec;
          r->host = host;
          r->preferred = r->current = pref;
          r->last_valid = Clock::now();
          r->timer = std::make_unique<asio::steady_timer>(control);
          res = r.get();
          resolutions.push_back(std::move(r));
        }
        res->reqs.push_back({&px, px.name, s.name, s.addr.port});
      }
    }
    for (auto& sec : sections) {
      bool used = false;
      for (const auto& r : resolutions) used = used || r->sec == sec.get();
      if (!used) continue;  // no socket for a section no server follows
      for (const auto& n : sec->cfg->nameservers) {
        Nameserver ns;
        ns.id = n.id;
        boost::system::error_code ec;
        auto addr = asio::ip::make_address(n.addr.ip, ec);
        if (ec) return "resolvers " + sec->cfg->name + ": bad nameserver address " + n.addr.ip;
        ns.ep = udp::endpoint(addr, n.addr.port);
        ns.sock = std::make_unique<udp::socket>(control);
        ns.sock->open(ns.ep.protocol(), ec);
        if (!ec) ns.sock->non_blocking(true, ec);
        // Connected: the kernel keeps answers from anyone else out.
        if (!ec) ns.sock->connect(ns.ep, ec);
        if (ec)
          return "resolvers " + sec->cfg->name + ": cannot open a socket to nameserver " + n.id +
                 ": " + ec.message();
        sec->ns.push_back(std::move(ns));
      }
    }
    return {};
  }

  void receive(Section& sec, Nameserver& ns) {
    ns.sock->async_receive(asio::buffer(ns.buf), [self = shared_from_this(), &sec, &ns](
                                                     boost::system::error_code ec, size_t n) {
      if (self->stopped || ec == asio::error::operation_aborted) return;
      if (!ec) self->on_packet(sec, ns, std::string_view(ns.buf.data(), n));
      self->receive(sec, ns);  // ICMP errors (ECONNREFUSED) included: keep listening
    });
  }

  void run(Resolution& r) {
    if (stopped || r.running) return;
    uint16_t id = 0;
    for (int i = 0; i < 100; ++i) {
      id = static_cast<uint16_t>(rng());
      if (!r.sec->by_id.count(id)) break;
    }
    r.qid = id;
    r.sec->by_id[id] = &r;
    r.running = true;
    r.current = r.preferred;
    r.tries = r.sec->cfg->resolve_retries;
    send(r, true);
  }

  // Sends the query of the current family to every nameserver.
  void send(Resolution& r, bool count_try) {
    if (count_try) --r.tries;
    r.queries = r.responses = 0;
    r.error = Response::Status::Invalid;
    std::string q = build_query(r.qid, r.host, r.current, r.sec->cfg->accepted_payload_size);
    for (auto& ns : r.sec->ns) {
      boost::system::error_code ec;
      if (!q.empty()) ns.sock->send(asio::buffer(q), 0, ec);
      if (!q.empty() && !ec) ++r.queries;
    }
    r.timer->expires_after(ms(r.sec->cfg->timeout_retry));
    r.timer->async_wait([self = shared_from_this(), &r](boost::system::error_code ec) {
      if (ec || self->stopped) return;
      self->on_retry(r);
    });
  }

  void on_retry(Resolution& r) {
    if (r.tries <= 0) {
      finish_error(r, r.responses == 0 ? Response::Status::Invalid : r.error, true);
      return;
    }
    r.current = r.preferred;
    send(r, true);
  }

  void on_packet(Section& sec, Nameserver& ns, std::string_view pkt) {
    // Bigger than announced: dropped, as haproxy drops it ("too big").
    if (pkt.size() > static_cast<size_t>(sec.cfg->accepted_payload_size)) return;
    auto it = sec.by_id.find(message_id(pkt));
    if (it == sec.by_id.end()) return;  // late, or not ours
    Resolution& r = *it->second;
    Response resp = parse_response(pkt, r.qid, r.host, r.current);
    if (resp.status == Response::Status::Invalid) return;  // as if never received
    ++r.responses;
    if (resp.status == Response::Status::Valid) return finish_valid(r, resp, ns);
    // An error is kept; the round ends once every nameserver said one.
    auto rank = [](Response::Status s) {
      switch (s) {
        case Response::Status::NoRecord:
          return 1;
        case Response::Status::Nx:
          return 2;
        case Response::Status::Refused:
          return 3;
        default:
          return 4;
      }
    };
    if (r.error == Response::Status::Invalid || rank(resp.status) < rank(r.error))
      r.error = resp.status;
    if (r.responses < r.queries) return;
    if (r.error == Response::Status::NoRecord && r.current == r.preferred) {
      // No record of the preferred family: the other one, at once.
      r.current = r.current == RType::A ? RType::Aaaa : RType::A;
      r.timer->cancel();
      send(r, false);
      return;
    }
    finish_error(r, r.error, false);
  }

  void end_round(Resolution& r) {
    r.timer->cancel();
    r.sec->by_id.erase(r.qid);
    r.running = false;
    r.timer->expires_after(ms(r.sec->cfg->timeout_resolve));
    r.timer->async_wait([self = shared_from_this(), &r](boost::system::error_code ec) {
      if (ec || self->stopped) return;
      self->run(r);
    });
  }

  const balancing::Server* current(const Requester& q) const {
    const auto* be = writer.staged().find(q.backend);
    return be ? be->find(q.server) : nullptr;
  }

  void warn(const Requester& q, int severity, const std::string& msg) {
    if (log) log(q.px, severity, msg);
  }

  // haproxy's tail of a DOWN line: what is left in the backend, and the
  // server's sessions and queue (`live` may be null).
  std::string servers_left(const std::string& backend, const balancing::ServerLive* live) const {
    const auto* be = writer.staged().find(backend);
    int act = be ? be->usable_active() : 0, bck = be ? be->usable_backup() : 0;
    return std::to_string(act) + " active and " + std::to_string(bck) + " backup servers left. " +
           std::to_string(live ? live->inflight.get() : 0) + " sessions active, 0 requeued, " +
           std::to_string(live ? live->queued.get() : 0) + " remaining in queue";
  }

  // `s` is of the snapshot before the change: read before the commit.
  void enter_maint(const Requester& r, const balancing::Server& s, const std::string& why) {
    const bool backup = s.backup, was_usable = s.usable();
    const std::shared_ptr<balancing::ServerLive> live = s.live;
    auto tx = writer.begin();
    tx.set_admin(r.backend, r.server, kAdminResolveMaint, 0);
    tx.update(
        r.backend, r.server, [](balancing::Server& sv) { sv.addr = balancing::Endpoint{}; },
        balancing::PoolChange::Kind::Address);
    tx.commit();
    warn(r, 1,
         std::string(backup ? "Backup " : "") + "Server " + r.backend + "/" + r.server +
             " is going DOWN for maintenance (" + why + "). " +
             servers_left(r.backend, live.get()) + ".");
    const auto* be = writer.staged().find(r.backend);
    if (be && was_usable && be->usable_active() + be->usable_backup() == 0)
      warn(r, 0, "backend '" + r.backend + "' has no server available!");
  }

  void finish_valid(Resolution& res, const Response& resp, const Nameserver& ns) {
    end_round(res);
    res.last_valid = Clock::now();
    // The first server learns it from the nameserver, the others from the
    // answer kept ("DNS cache"), in haproxy's words.
    std::string updater = res.sec->cfg->name + "/" + ns.id;
    for (const auto& q : res.reqs) {
      apply_valid(res, q, resp, updater);
      updater = "DNS cache";
    }
  }

  void apply_valid(const Resolution& res, const Requester& r, const Response& resp,
                   const std::string& updater) {
    const balancing::Server* s = current(r);
    if (!s) return;
    // haproxy's score: 8 preferred family, 2 not used by another server of
    // the backend resolving the same name (such an address is skipped), 1
    // the current address.
    const bool want_v6 = res.preferred == RType::Aaaa;
    const Response::Address* best = nullptr;
    int best_score = -1;
    for (const auto& a : resp.addresses) {
      const std::string ip = a.text();
      bool used = false;
      for (const auto& o : resolutions) {
        if (o->host != res.host) continue;
        for (const auto& oq : o->reqs) {
          if (oq.backend != r.backend || oq.server == r.server) continue;
          const balancing::Server* os = current(oq);
          if (os && !(os->admin & kAdminResolveMaint) && os->addr.ip == ip) used = true;
        }
      }
      if (used) continue;
      int score = (a.v6 == want_v6 ? 8 : 0) + 2 + (ip == s->addr.ip ? 1 : 0);
      if (score > best_score) {
        best_score = score;
        best = &a;
      }
    }
    if (!best) {
      if (!(s->admin & kAdminResolveMaint)) enter_maint(r, *s, "No IP for server ");
      return;
    }
    const std::string ip = best->text();
    const bool was_maint = s->admin & kAdminResolveMaint;
    const bool backup = s->backup;
    const std::string old = s->addr.ip.empty() ? "(none)" : s->addr.ip;
    auto tx = writer.begin();
    if (ip != s->addr.ip) {
      balancing::Endpoint ep;
      balancing::Endpoint::parse(ip, r.port, ep);
      tx.set_addr(r.backend, r.server, ep);
    }
    if (was_maint) tx.set_admin(r.backend, r.server, 0, kAdminResolveMaint);
    tx.commit();
    if (ip != old)
      warn(r, 5,
           r.backend + "/" + r.server + " changed its IP from " + old + " to " + ip + " by " +
               updater + ".");
    if (was_maint) {
      warn(r, 5,
           std::string(backup ? "Backup " : "") + "Server " + r.backend + "/" + r.server + " ('" +
               res.host + "') is UP/READY (resolves again).");
      warn(r, 5,
           "Server " + r.backend + "/" + r.server +
               " administratively READY thanks to valid DNS answer.");
    }
  }

  // `status` Invalid with `timed_out`: no nameserver answered.
  void finish_error(Resolution& r, Response::Status status, bool timed_out) {
    end_round(r);
    const config::Resolvers& c = *r.sec->cfg;
    int64_t hold = c.hold_other;
    std::string why = "unspecified DNS error";
    if (timed_out && status == Response::Status::Invalid) {
      hold = c.hold_timeout;
      why = "DNS timeout status";
    } else if (status == Response::Status::Nx) {
      hold = c.hold_nx;
      why = "DNS NX status";
    } else if (status == Response::Status::Refused) {
      hold = c.hold_refused;
      why = "DNS refused status";
    }
    if (Clock::now() - r.last_valid < ms(hold)) return;  // keep the address meanwhile
    for (const auto& q : r.reqs) {
      const balancing::Server* s = current(q);
      if (s && !(s->admin & kAdminResolveMaint)) enter_maint(q, *s, why);
    }
  }
};

Resolver::Resolver(asio::io_context& control, const config::Config& cfg,
                   balancing::PoolWriter& writer, LogFn log)
    : impl_(std::make_shared<Impl>(control, cfg, writer, std::move(log))) {}

Resolver::~Resolver() { stop(); }

std::string Resolver::start() {
  std::string err = impl_->open();
  if (!err.empty()) return err;
  for (auto& sec : impl_->sections)
    for (auto& ns : sec->ns) impl_->receive(*sec, ns);
  for (auto& r : impl_->resolutions) impl_->run(*r);
  return {};
}

void Resolver::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  for (auto& r : impl_->resolutions) r->timer->cancel();
  for (auto& sec : impl_->sections)
    for (auto& ns : sec->ns) {
      boost::system::error_code ec;
      ns.sock->close(ec);
    }
}

size_t Resolver::resolutions() const {
  size_t n = 0;
  for (const auto& r : impl_->resolutions) n += r->reqs.size();
  return n;
}

}  // namespace herd::dns
