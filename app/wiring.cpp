// app/wiring.cpp — see wiring.h.
#include "app/wiring.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <sstream>

#include "dns/resolver.h"
#include "health/checker.h"
#include "membership/agent.h"
#include "membership/coalescer.h"
#include "membership/handlers.h"
#include "membership/mapper.h"
#include "membership/metrics.h"
#include "membership/rpc_server.h"
#include "membership/settings.h"
#include "membership/snapshot.h"
#include "stats/cli.h"
#include "stats/cli_server.h"
#include "stats/csv.h"
#include "stats/page.h"
#include "stats/server_state_file.h"
#include "stats/state_dump.h"
#include "tls/cert_store.h"

namespace herd::app {

namespace {

// The runtime API's certificate commands (tls/cert_store.h), at haproxy
// 2.6's levels: showing needs operator (a user-level socket gets haproxy's
// "Can't allocate memory!"), changing needs admin.
void register_ssl_cert_commands(stats::CliRegistry& reg) {
  auto name = [](const std::vector<std::string>& a) { return a.size() > 3 ? a[3] : std::string(); };
  reg.add(stats::CliCommand{{"show", "ssl", "cert"},
                            "show ssl cert [<certfile>]",
                            "display the SSL certificates used in memory, or the details of a file",
                            stats::Level::User,
                            [name](stats::CliSession& s, const std::vector<std::string>& a) {
                              if (static_cast<int>(s.level()) <
                                  static_cast<int>(stats::Level::Operator))
                                return stats::CliReply{"Can't allocate memory!\n"};
                              return stats::CliReply{tls::show_ssl_cert(name(a))};
                            }});
  reg.add(stats::CliCommand{{"set", "ssl", "cert"},
                            "set ssl cert <certfile> <payload>",
                            "replace a certificate file",
                            stats::Level::Admin,
                            [name](stats::CliSession& s, const std::vector<std::string>& a) {
                              return stats::CliReply{tls::set_ssl_cert(name(a), s.payload())};
                            }});
  // The admin commands taking just the file's name.
  auto by_name = [&](const char* verb, const char* help, std::string (*fn)(const std::string&)) {
    reg.add(stats::CliCommand{{verb, "ssl", "cert"},
                              std::string(verb) + " ssl cert <certfile>",
                              help,
                              stats::Level::Admin,
                              [name, fn](stats::CliSession&, const std::vector<std::string>& a) {
                                return stats::CliReply{fn(name(a))};
                              }});
  };
  by_name("commit", "commit a certificate file", tls::commit_ssl_cert);
  by_name("abort", "abort a transaction for a certificate file", tls::abort_ssl_cert);
  by_name("new", "create a new certificate file to be used in a crt-list or a directory",
          tls::new_ssl_cert);
  by_name("del", "delete an unused certificate file", tls::del_ssl_cert);
}

}  // namespace

struct Wiring::Impl {
  Impl(boost::asio::io_context& control_, const config::Config& cfg_, balancing::Pool& pool_,
       balancing::PoolWriter& writer_, balancing::ProcessLive& process_, const LogSink& sink_,
       std::string membership_file_, std::vector<std::string> membership_flags_)
      : control(control_),
        cfg(cfg_),
        pool(pool_),
        writer(writer_),
        process(process_),
        sink(sink_),
        membership_file(std::move(membership_file_)),
        membership_flags(std::move(membership_flags_)) {}

  boost::asio::io_context& control;
  const config::Config& cfg;
  balancing::Pool& pool;
  balancing::PoolWriter& writer;
  balancing::ProcessLive& process;
  const LogSink& sink;
  std::string membership_file;
  std::vector<std::string> membership_flags;

  stats::ProcessInfo info;
  stats::CliRegistry registry;
  std::unique_ptr<stats::CliEnv> cli_env;
  std::unique_ptr<stats::CliServer> cli;
  std::map<const config::Proxy*, std::unique_ptr<stats::StatsPage>> pages;
  std::unique_ptr<health::HealthChecker> health;
  std::unique_ptr<dns::Resolver> resolver;  // servers following `resolvers` sections
  bool reference_mode = false;  // set_reference_mode(): no health checks, own CLI sockets
  std::vector<config::StatsSocket> reference_cli;
  std::vector<membership::PoolRule> pool_rules;

  // Reloads (inherit(), expose()).
  InheritedSockets* inherited = nullptr;
  std::string inherited_state;
  std::set<std::string> replayed;  // members whose first join is the predecessor's, not news
  // The predecessor's `show servers state` lines of its member servers, by
  // server (= member) name and backend, until the mapper adds each again.
  using ServerKey = std::pair<std::string, std::string>;  // backend, server
  std::map<std::string, std::map<std::string, stats::ServerStateLine>> carried;
  std::function<std::vector<int>()> proxy_fds;
  std::function<void()> handed_over_cb;
  bool handed_over = false;
  std::string kept_cli_socket;  // keep_cli_socket()

  // The gossip member (only with --membership or membership flags).
  std::unique_ptr<membership::MemberMapper> mapper;
  std::unique_ptr<membership::Handlers> handlers;
  std::unique_ptr<membership::EventCoalescer> coalescer;  // member events -> handlers
  std::unique_ptr<membership::RpcServer> rpc;
  std::unique_ptr<membership::Agent> agent;

  // The stats page's membership section (counters and members table) and
  // the herd_membership_* /metrics families, rendered on the control thread
  // (the agent and mapper live there) every second and after member events,
  // and read by workers rendering the page.
  std::mutex members_mu;
  std::string members_html;        // GUARDED_BY(members_mu)
  std::string membership_metrics;  // GUARDED_BY(members_mu)
  std::unique_ptr<boost::asio::steady_timer> members_timer;
  void refresh_members_html();
  void tick_members() {
    members_timer->expires_after(std::chrono::seconds(1));
    members_timer->async_wait([this](boost::system::error_code ec) {
      if (ec || !mapper) return;
      refresh_members_html();
      tick_members();
    });
  }

  // Old side of a reload: the `show servers state` text of the servers a
  // member added ("" when none).
  std::string member_server_states() const;
  // New side: the carried servers of the members these events add (they are
  // in `replayed`), told to the checker before the mapper adds them; then
  // apply_carried() gives them their state back.
  std::vector<ServerKey> carried_for(std::span<const membership::MemberEvent> evs);
  void apply_carried(const std::vector<ServerKey>& keys);
  // Slowstart ramps (PoolWriter::tick_slowstart()): with servers that have
  // `slowstart`, a pool change checks for ramps, and a timer then runs at
  // each step of theirs while one runs.
  std::unique_ptr<boost::asio::steady_timer> slowstart_timer;
  bool slowstart_armed = false;
  int slowstart_subscription = 0;
  void tick_slowstart() {
    if (slowstart_armed) return;  // a step within a second is already due
    const int64_t in_ms = writer.tick_slowstart();
    if (in_ms < 0) return;
    slowstart_armed = true;
    slowstart_timer->expires_after(std::chrono::milliseconds(in_ms));
    slowstart_timer->async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      slowstart_armed = false;
      tick_slowstart();
    });
  }

  const stats::StatsPage* page(const config::Proxy& px) const {
    auto it = pages.find(&px);
    return it == pages.end() ? nullptr : it->second.get();
  }
};

Wiring::Wiring(boost::asio::io_context& control, const config::Config& cfg, balancing::Pool& pool,
               balancing::PoolWriter& writer, balancing::ProcessLive& process, const LogSink& sink,
               const std::string& membership_file, std::vector<std::string> membership_flags)
    : impl_(std::make_unique<Impl>(control, cfg, pool, writer, process, sink, membership_file,
                                   std::move(membership_flags))) {
  auto& m = *impl_;
  m.info.nbthread = cfg.global.nbthread;
  m.info.maxconn = proxy::Engine::effective_maxconn(cfg);
  // Server state changes go to the log targets and, as HAProxy prints them, to stderr.
  m.health = std::make_unique<health::HealthChecker>(
      control, cfg, writer, [&sink](const config::Proxy* be, int severity, const std::string& msg) {
        sink.send(be, severity, msg);
        auto [level, text] = health::HealthChecker::stderr_form(severity, msg);
        LogSink::stderr_line(level, text);
      });
  // DNS: address changes and resolution maintenance, logged as haproxy
  // (warnings on stderr, notices/alerts to the log targets).
  m.resolver = std::make_unique<dns::Resolver>(
      control, cfg, writer, [&sink](const config::Proxy* be, int severity, const std::string& msg) {
        sink.send(be, severity, msg);
        LogSink::stderr_line(severity == 0 ? "ALERT" : "WARNING", msg);
      });
  // The checker learns of servers added, removed, put in MAINT or given
  // `enable/disable health` from the writer's change events, whoever made
  // the change (runtime API, stats page, membership).
  bool any_slowstart = false;
  for (const auto& px : cfg.proxies) {
    any_slowstart = any_slowstart || px.default_slowstart_ms > 0;
    for (const auto& sv : px.servers) any_slowstart = any_slowstart || sv.slowstart_ms > 0;
  }
  if (any_slowstart) {
    m.slowstart_timer = std::make_unique<boost::asio::steady_timer>(control);
    m.slowstart_subscription =
        writer.subscribe([&m](const std::vector<balancing::PoolChange>&) { m.tick_slowstart(); });
  }
  stats::register_builtin_commands(m.registry);
  register_ssl_cert_commands(m.registry);
  m.cli_env.reset(new stats::CliEnv{cfg, writer, process, m.info, m.registry});
  for (const auto& px : cfg.proxies)
    if (px.stats.enabled)
      m.pages[&px] = std::make_unique<stats::StatsPage>(cfg, px, pool, process, m.info);
}

void Wiring::Impl::refresh_members_html() {
  std::string h;
  std::string metrics;
  if (agent) {
    const auto snap = agent->snapshot();
    metrics = membership::render_prometheus(snap);
    h += "<table class=\"tbl\" width=\"100%\"><tr class=\"titre\"><th class=\"pxname\" "
         "width=\"10%\"><a name=\"membership\"></a>membership</th><th class=\"empty\" "
         "width=\"90%\"></th></tr></table>\n<table class=\"tbl\" id=\"membership\"><tr "
         "class=\"titre\"><th>Node</th><td class=ac>" +
         stats::html_escape(snap.node) + "</td></tr>\n";
    for (const auto& [k, v] : membership::snapshot_fields(snap))
      h += "<tr><th>" + k + "</th><td class=ac>" + std::to_string(v) + "</td></tr>\n";
    h += "</table><p>\n";
  }
  h += "<table class=\"tbl\" width=\"100%\"><tr class=\"titre\"><th class=\"pxname\" "
       "width=\"10%\"><a name=\"members\"></a>gossip members</th><th class=\"empty\" "
       "width=\"90%\"></th></tr></table>\n";
  h += "<table class=\"tbl\" width=\"100%\"><tr class=\"titre\"><th>Name</th><th>Address</th>"
       "<th>Status</th><th>Incarnation</th><th>Servers</th><th>Tags</th></tr>\n";
  for (const auto& row : mapper->describe()) {
    const char* cls = row.status == "alive"     ? "active_up"
                      : row.status == "leaving" ? "active_draining"
                      : row.status == "failed"  ? "active_down"
                                                : "maintain";
    std::string servers, tags;
    for (const auto& [srv, state] : row.servers)
      servers += (servers.empty() ? "" : ", ") + srv + " (" + state + ")";
    for (const auto& [k, v] : row.tags) tags += (tags.empty() ? "" : ", ") + k + "=" + v;
    h += std::string("<tr class=\"") + cls + "\"><td class=ac>" + stats::html_escape(row.name) +
         "</td><td>" + stats::html_escape(row.address) + "</td><td>" +
         stats::html_escape(row.status) + "</td><td>" + std::to_string(row.incarnation) +
         "</td><td>" + stats::html_escape(servers.empty() ? "-" : servers) + "</td><td>" +
         stats::html_escape(tags) + "</td></tr>\n";
  }
  h += "</table><p>\n";
  std::lock_guard<std::mutex> g(members_mu);
  members_html = std::move(h);
  membership_metrics = std::move(metrics);
}

std::string Wiring::Impl::member_server_states() const {
  auto snap = pool.current();
  std::set<ServerKey> members;
  for (const auto& be : snap->backends)
    for (const auto& sv : be->servers)
      if (sv->origin == balancing::Origin::Member) members.emplace(be->name, sv->name);
  if (members.empty()) return "";
  stats::Sources src{cfg, *snap, process, info};
  std::string all, out;
  stats::render_servers_state(src, "", all);
  std::istringstream in(all);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::vector<std::string> w;
    for (std::string word; w.size() < 4 && ls >> word;) w.push_back(word);
    // The version line, the comment, and the member servers' lines.
    if (w.size() < 4 || w[0][0] == '#' || members.count({w[1], w[3]})) out += line + '\n';
  }
  return out;
}

std::vector<Wiring::Impl::ServerKey> Wiring::Impl::carried_for(
    std::span<const membership::MemberEvent> evs) {
  std::vector<ServerKey> keys;
  if (carried.empty()) return keys;
  for (const auto& ev : evs) {
    const bool adds = ev.type == membership::MemberEvent::Type::Join ||
                      ev.type == membership::MemberEvent::Type::Update;
    for (const auto& mi : ev.members) {
      auto it = carried.find(mi.name);
      if (it == carried.end()) continue;
      if (!adds || mi.status != membership::MemberInfo::Status::Alive) {
        carried.erase(it);  // its state is stale by the time it comes back
      } else if (replayed.count(mi.name)) {
        for (const auto& [backend, line] : it->second) keys.emplace_back(backend, mi.name);
      }
    }
  }
  return keys;
}

void Wiring::Impl::apply_carried(const std::vector<ServerKey>& keys) {
  health->carried_over({});
  auto snap = pool.current();
  for (const auto& k : keys) {
    auto member = carried.find(k.second);
    if (member == carried.end()) continue;
    auto it = member->second.find(k.first);
    const balancing::BackendSnapshot* be = snap->find(k.first);
    const balancing::Server* sv = be ? be->find(k.second) : nullptr;
    if (it == member->second.end() || !sv || sv->origin != balancing::Origin::Member) continue;
    std::vector<std::string> warnings;
    stats::apply_server_state(writer, it->second, &warnings);
    member->second.erase(it);
    if (member->second.empty()) carried.erase(member);
    for (const auto& w : warnings) LogSink::stderr_line("WARNING", w);
    auto now = pool.current();
    const balancing::BackendSnapshot* nb = now->find(k.first);
    if (const balancing::Server* ns = nb ? nb->find(k.second) : nullptr)
      LogSink::stderr_line(
          "NOTICE", "membership: server " + k.first + "/" + k.second +
                        " keeps its state from the previous process: " + stats::server_status(*ns) +
                        ", weight " + std::to_string(ns->weight));
  }
}

Wiring::~Wiring() {
  if (impl_->slowstart_subscription) impl_->writer.unsubscribe(impl_->slowstart_subscription);
  // Members first: their hooks point at the mapper, handlers and server.
  impl_->agent.reset();
  impl_->rpc.reset();
  impl_->coalescer.reset();
  impl_->handlers.reset();
  impl_->mapper.reset();
}

// Builds the gossip member, the pool mapper, the event handlers and the RPC
// server from --membership and the membership flags. Prints ALERTs and
// returns false on errors.
static bool start_membership(Wiring::Impl& m) {
  using namespace herd::membership;
  if (m.membership_file.empty() && m.membership_flags.empty()) return true;
  MembershipSettings s;
  std::vector<std::string> errors;
  if (!m.membership_file.empty()) load_yaml_file(m.membership_file, s, errors);
  std::vector<std::string> rest;
  parse_flags(m.membership_flags, s, errors, &rest);
  for (const auto& r : rest) errors.push_back("unknown membership argument '" + r + "'");
  if (errors.empty()) finalize(s, &m.cfg, errors);
  std::vector<HandlerSpec> specs = parse_handlers(s.event_handlers, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) LogSink::stderr_line("ALERT", "membership: " + e);
    return false;
  }
  m.pool_rules = s.pools;
  m.mapper = std::make_unique<MemberMapper>(m.control, m.writer, s.pools);
  // The stats page lists the members; server states behind them change with
  // health checks too, so the table is also refreshed every second.
  for (auto& [px, page] : m.pages) {
    page->set_extra_html([mp = &m](const stats::Sources&) {
      std::lock_guard<std::mutex> g(mp->members_mu);
      return mp->members_html;
    });
    page->set_extra_metrics([mp = &m] {
      std::lock_guard<std::mutex> g(mp->members_mu);
      return mp->membership_metrics;
    });
  }
  Wiring::Impl* mp = &m;
  // A query handler's output is the query's response (sent on the control thread).
  m.handlers = std::make_unique<Handlers>(std::move(specs), [mp](const InvocationResult& r) {
    if (!r.is_query) return;
    boost::asio::post(mp->control, [mp, id = r.query_id, out = r.output] {
      if (mp->agent) mp->agent->respond_query(id, out);
    });
  });
  m.coalescer = std::make_unique<EventCoalescer>(
      m.control, s.coalesce_period, s.quiescent_period,
      [mp](const MemberEvent& ev) { mp->handlers->dispatch(ev, mp->agent->self_info()); });
  Agent::Hooks ah;
  ah.events = [mp](const std::vector<MemberEvent>& evs) {
    // A reload's members come back with the predecessor's server states.
    const auto carried = mp->carried_for(evs);
    if (!carried.empty()) mp->health->carried_over(carried);
    mp->mapper->apply(evs);
    if (!carried.empty()) mp->apply_carried(carried);
    mp->refresh_members_html();
    for (const auto& ev : evs) {
      if (ev.type == MemberEvent::Type::Join && !mp->replayed.empty()) {
        // After a reload the pool learns the members again; handlers and
        // RPC streams already heard of them from the predecessor.
        MemberEvent news = ev;
        std::erase_if(news.members,
                      [mp](const MemberInfo& mi) { return mp->replayed.erase(mi.name) > 0; });
        if (news.members.empty()) continue;
        if (!mp->handlers->empty()) mp->coalescer->add(news);
        if (mp->rpc) mp->rpc->publish(news);
        continue;
      }
      if (!mp->handlers->empty()) mp->coalescer->add(ev);
      if (mp->rpc) mp->rpc->publish(ev);
    }
  };
  ah.status = [mp](const MemberInfo& mi) {
    const MemberEvent ev{MemberEvent::Type::Update, {mi}};
    const auto carried = mp->carried_for(std::span<const MemberEvent>(&ev, 1));
    if (!carried.empty()) mp->health->carried_over(carried);
    mp->mapper->apply(ev);
    if (!carried.empty()) mp->apply_carried(carried);
    mp->refresh_members_html();
  };
  ah.log = [mp](const std::string& line) {
    LogSink::stderr_line("NOTICE", line);
    if (mp->rpc) mp->rpc->log(line);
  };
  const std::string rpc_ip = s.rpc_ip;
  const uint16_t rpc_port = s.rpc_port;
  const bool rpc_on = s.rpc_enabled;
  RpcServer::Options ro;
  ro.auth_key = s.rpc_auth;
  Agent::Adopted adopted;
  if (m.inherited) {
    adopted.tcp_fd = m.inherited->take_tcp_listener(s.bind_ip, s.bind_port);
    adopted.udp_fd = m.inherited->take_udp(s.bind_ip, s.bind_port);
    if (!m.inherited_state.empty()) {
      adopted.state = replay_snapshot(m.inherited_state, true);
      for (const auto& [name, addr] : adopted.state->alive) m.replayed.insert(name);
    }
  }
  m.agent = std::make_unique<Agent>(m.control, std::move(s), std::move(ah));
  m.agent->adopt(std::move(adopted));
  if (rpc_on) {
    m.rpc = std::make_unique<RpcServer>(m.control, *m.agent, ro);
    int fd = m.inherited ? m.inherited->take_tcp_listener(
                               rpc_ip == "localhost" ? "127.0.0.1" : rpc_ip, rpc_port)
                         : -1;
    std::string err = fd >= 0 ? m.rpc->adopt(fd) : m.rpc->listen(rpc_ip, rpc_port);
    if (!err.empty()) {
      LogSink::stderr_line("ALERT", "membership: " + err);
      return false;
    }
  }
  std::string err = m.agent->start();
  if (!err.empty()) {
    LogSink::stderr_line("ALERT", "membership: " + err);
    return false;
  }
  m.refresh_members_html();
  m.members_timer = std::make_unique<boost::asio::steady_timer>(m.control);
  m.tick_members();
  m.registry.add(
      stats::CliCommand{{"show", "members"},
                        "show members",
                        "show gossip members (name, address, state, incarnation, servers, tags)",
                        stats::Level::User,
                        [mp](stats::CliSession&, const std::vector<std::string>&) {
                          return stats::CliReply{mp->mapper->show_members()};
                        }});
  m.registry.add(stats::CliCommand{
      {"show", "membership"},
      "show membership",
      "show gossip counters (members by state, packets, probes, suspicions, refutations)",
      stats::Level::User,
      [mp](stats::CliSession&, const std::vector<std::string>&) {
        return stats::CliReply{membership::render_show_membership(mp->agent->snapshot())};
      }});
  return true;
}

proxy::Hooks Wiring::proxy_hooks() {
  proxy::Hooks h;
  Impl* m = impl_.get();
  const LogSink* sink = &m->sink;
  h.logs_requests = [sink](const config::Proxy& fe) {
    return (fe.httplog || fe.tcplog || fe.log_format) && sink->wants(&fe, kInfo);
  };
  h.log = [sink](const config::Proxy& fe, const proxy::LogRecord& r) {
    sink->send(&fe, kInfo,
               fe.log_format ? proxy::format_log(*fe.log_format, r, &fe)
               : fe.tcplog   ? proxy::format_tcplog(r)
                             : proxy::format_httplog(r, &fe));
  };
  h.stats_matches = [m](const config::Proxy& fe, std::string_view target) {
    const auto* p = m->page(fe);
    return p && p->matches(target);
  };
  // Rendering reads snapshots and counters only: safe on worker threads.
  h.stats = [m](const proxy::StatsRequest& r) {
    const auto* p = m->page(*r.proxy);
    stats::PageRequest pr{r.method, r.target, r.authorization, r.body};
    return p->handle_get(pr).serialize();
  };
  // Passive health: the checker lives on the control thread.
  h.observed_errors = [m](const std::string& b, const std::string& s) {
    boost::asio::post(m->control, [m, b, s] { m->health->observed_failure(b, s); });
  };
  // Admin actions change the pool: they run on the control thread.
  h.stats_post = [m](proxy::StatsRequest r, std::function<void(std::string)> done) {
    boost::asio::post(m->control, [m, r = std::move(r), done = std::move(done)] {
      const auto* p = m->page(*r.proxy);
      stats::PageRequest pr{r.method, r.target, r.authorization, r.body};
      done(p->handle_post(pr, m->writer, r.admin_allowed).serialize());
    });
  };
  return h;
}

bool Wiring::start() {
  auto& m = *impl_;
  if (!m.reference_mode) m.health->start();
  if (!m.reference_mode) {
    std::string err = m.resolver->start();
    if (!err.empty()) {
      LogSink::stderr_line("ALERT", err);
      return false;
    }
  }
  if (!start_membership(m)) return false;
  const auto& sockets = m.reference_mode ? m.reference_cli : m.cfg.global.stats_sockets;
  if (!sockets.empty()) {
    m.cli =
        std::make_unique<stats::CliServer>(m.control, *m.cli_env, m.cfg.global.stats_timeout_ms);
    std::string err = m.cli->start(sockets);
    if (!err.empty()) {
      LogSink::stderr_line("ALERT", err);
      return false;
    }
    Impl* mp = &m;
    stats::CliServer::Handover h;
    h.send = [mp](int conn) {
      std::vector<int> fds = mp->proxy_fds ? mp->proxy_fds() : std::vector<int>{};
      if (mp->agent)
        for (int fd : mp->agent->socket_fds()) fds.push_back(fd);
      if (mp->rpc && mp->rpc->native_fd() >= 0) fds.push_back(mp->rpc->native_fd());
      std::string e = send_sockets(conn, fds);
      if (!e.empty()) return LogSink::stderr_line("WARNING", "_getsocks: " + e);
      LogSink::stderr_line("NOTICE", "handed " + std::to_string(fds.size()) +
                                         " listening socket(s) over to a new process");
      mp->handed_over = true;
      if (mp->handed_over_cb) mp->handed_over_cb();
    };
    h.state = [mp]() -> std::string {
      if (!mp->agent) return "";
      return state_answer(membership::handover_text(mp->agent->handover_state()),
                          mp->member_server_states());
    };
    m.cli->set_handover(std::move(h));
  }
  return true;
}

bool Wiring::catching_up() const { return impl_->agent && !impl_->replayed.empty(); }

void Wiring::inherit(InheritedSockets* socks, std::string state) {
  impl_->inherited = socks;
  std::string servers;
  split_state_answer(state, &impl_->inherited_state, &servers);
  std::vector<stats::ServerStateLine> lines;
  if (!servers.empty()) {
    std::string err = stats::parse_server_state_file(servers, &lines);
    if (!err.empty())
      LogSink::stderr_line("WARNING",
                           "membership: the previous process's server states are "
                           "unreadable (" +
                               err + "); its member servers start anew");
  }
  for (auto& l : lines) {
    // The member's address and the pool rule's port and check port/address
    // are this process's to decide.
    l.addr = "-";
    l.port = l.check_port = 0;
    l.check_addr = "-";
    impl_->carried[l.server][l.backend] = std::move(l);
  }
}

void Wiring::expose(std::function<std::vector<int>()> proxy_fds, std::function<void()> sent) {
  impl_->proxy_fds = std::move(proxy_fds);
  impl_->handed_over_cb = std::move(sent);
}

void Wiring::set_reference_mode(std::vector<config::StatsSocket> cli) {
  impl_->reference_mode = true;
  impl_->reference_cli = std::move(cli);
}

std::string Wiring::pool_server_options(const std::string& backend) const {
  for (const auto& r : impl_->pool_rules)
    if (r.backend == backend) return r.server;
  return "";
}

std::vector<std::string> Wiring::state_dump_lines() const {
  auto snap = impl_->pool.current();
  stats::Sources src{impl_->cfg, *snap, impl_->process, impl_->info};
  return stats::sighup_state_lines(src);
}

void Wiring::soft_stop() {
  if (impl_->cli) impl_->cli->stop(impl_->kept_cli_socket);
}

void Wiring::keep_cli_socket(std::string path) { impl_->kept_cli_socket = std::move(path); }

void Wiring::leave_cluster(std::function<void()> done) {
  if (impl_->agent && impl_->handed_over) {
    // The successor gossips on these very sockets as this member.
    impl_->agent->stop();
    if (impl_->rpc) impl_->rpc->close();
    LogSink::stderr_line("NOTICE", "membership: the new process carries on as this member");
  }
  if (!impl_->agent || impl_->handed_over)
    return boost::asio::post(impl_->control, std::move(done));
  impl_->agent->graceful_leave(std::move(done));
}

void Wiring::stop() {
  if (impl_->agent) impl_->agent->stop();
  if (impl_->coalescer) impl_->coalescer->flush();
  if (impl_->rpc) impl_->rpc->close();
  if (impl_->cli) impl_->cli->stop();
  impl_->health->stop();
  impl_->resolver->stop();
  if (impl_->members_timer) impl_->members_timer->cancel();
  if (impl_->slowstart_timer) {
    impl_->slowstart_armed = true;  // no tick after stop
    impl_->slowstart_timer->cancel();
  }
}

}  // namespace herd::app
