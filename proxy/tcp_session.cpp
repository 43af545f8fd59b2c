// proxy/tcp_session.cpp — see tcp_session.h.
#include "proxy/tcp_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <tuple>

#include "balancing/time_stats.h"
#include "proxy/debug_trace.h"
#include "proxy/http1.h"
#include "proxy/proxy_protocol.h"
#include "proxy/retry.h"
#include "proxy/route.h"
#include "proxy/rules.h"
#include "proxy/server_slot.h"
#include "proxy/source_connect.h"
#include "proxy/stream.h"
#include "proxy/termination.h"
#include "proxy/tunnel.h"
#include "tls/conn.h"
#include "tls/context.h"

namespace herd::proxy {
inline namespace HERD_IO_NS {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using balancing::Counter;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

long ms_since(Clock::time_point t) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

class TcpSession : public IdleHook, public std::enable_shared_from_this<TcpSession> {
 public:
  static constexpr int kInspect = -2;  // backend: chosen after inspecting the first bytes
  TcpSession(Worker& w, const FrontendRt& fe, tcp::socket sock, int backend)
      : w_(w), fe_(fe), client_(std::move(sock)), upstream_(w.ioc), backend_(backend) {}

  void start(const std::string& src_ip, uint16_t src_port) {
    src_ = src_ip + ":" + std::to_string(src_port);
    start_ = Clock::now();
    req_id_ = next_request_id();
    if (fe_.logs) accept_date_ = log_accept_date();
    w_.tcp_sessions.push_back(this);
    auto self = shared_from_this();
    asio::co_spawn(w_.ioc, run(), [self](std::exception_ptr) { self->finish(); });
  }

  // `option abortonclose` while queued: what the client sends is read
  // (kept for the server, as inspected bytes are); its close cancels the
  // queue wait. Nothing else waits on the client meanwhile.
  void watch_client_close() {
    watching_ = true;
    client_.async_wait(tcp::socket::wait_read, [self = shared_from_this(),
                                                gen = watch_gen_](boost::system::error_code ec) {
      if (gen != self->watch_gen_ || !self->watching_) return;
      self->watching_ = false;
      if (ec) return;
      char b[4096];
      for (;;) {
        ssize_t n = ::recv(self->client_.native_handle(), b, sizeof b, MSG_DONTWAIT);
        if (n > 0) {
          self->initial_.append(b, static_cast<size_t>(n));
          if (self->initial_.size() >= kBufSize) return;  // enough: no more watching
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
          return self->watch_client_close();
        break;  // end of stream or an error: the client left
      }
      self->qabort_.aborted = true;
      if (auto t = self->qabort_.event.lock()) t->cancel();
    });
  }
  void stop_watch() {
    if (!watching_) return;
    watching_ = false;
    ++watch_gen_;
    boost::system::error_code ign;
    client_.cancel(ign);
  }

  // The ServerLive of the server it relays to (nullptr before the relay).
  const void* relaying_to() const { return relaying_to_; }
  // on-marked-down / on-marked-up: cut, logged `<cause>-`.
  void kill(char cause) {
    kill_cause_ = cause;
    abort();
  }

  void abort() {
    stop_ = true;
    boost::system::error_code ign;
    client_.cancel(ign);
    up().cancel(ign);
    if (tun_client_) tun_client_->cancel(ign);
    if (connect_timer_) connect_timer_->cancel();
  }

 private:
  void finish() {
    if (handed_over_) return;
    unlink();
    boost::system::error_code ign;
    up().close(ign);
    client_.close(ign);
    count_connection_close(w_, fe_);
  }

  asio::awaitable<void> run() {
    if (backend_ == kInspect) {
      // tcp-request content rules on what the client sends first, within
      // inspect-delay; then use_backend on it (req.ssl_sni...).
      co_await inspect();
      if (stop_ || verdict_ == TcpVerdict::Reject) co_return;  // closed without a word
      RequestView rv = view(true);
      backend_ = route_backend(fe_, rv);
      const auto& cfgs = w_.shared.backend_cfg;
      if (backend_ >= 0 && static_cast<size_t>(backend_) < cfgs.size() &&
          cfgs[static_cast<size_t>(backend_)] &&
          cfgs[static_cast<size_t>(backend_)]->mode == config::Mode::Http) {
        // An HTTP backend: the HTTP exchange takes the connection (counted
        // open already; it counts the close) and the bytes read so far.
        handed_over_ = true;
        unlink();
        start_session(w_, fe_, std::move(client_), initial_);
        co_return;
      }
    }
    if (debug::on())
      trace_.begin(fe_.cfg->name, w_.listener_fd(client_), client_.native_handle(), src_, {});
    Worker::SnapHold* hold = w_.pin();
    const balancing::PoolSnapshot* snap = hold->snap.get();
    const bool known = backend_ >= 0 && static_cast<size_t>(backend_) < snap->backends.size();
    const balancing::BackendSnapshot* be = known ? snap->backends[backend_].get() : nullptr;
    const config::Proxy* bcfg = be ? w_.shared.backend_cfg[static_cast<size_t>(backend_)] : nullptr;
    if (debug::on() && be) trace_.route(be->name);
    LogRecord log;
    log.backend = be ? be->name : fe_.cfg->name;
    log.server = "<NOSRV>";
    Termination term{TermCause::ServerAbort, TermPhase::Connect};
    if (be && bcfg) {
      be->live->counters.add(Counter::Sessions);
      be->live->inflight.inc();
      co_await exchange(*be, *bcfg, log, term);
      be->live->inflight.dec();
      log.beconn = be->live->inflight.get();
    }
    w_.unpin(hold);
    trace_.end();
    log.ta = ms_since(start_);
    term.write(log.term);
    // dontlognull: nothing came from the client (haproxy looks at that side only).
    if (fe_.logs && !(fe_.cfg->dontlognull && to_server_ == 0)) {
      log.client = src_;
      log.accept_date = accept_date_;
      log.frontend = fe_.cfg->name;
      log.actconn = w_.shared.process.conns.get();
      log.feconn = fe_.live->sessions.get();
      if (fe_.cfg->log_format) fill_log_format_fields(log);
      w_.shared.hooks.log(*fe_.cfg, log);
    }
  }

  // What log-format adds to the tcplog facts (LogRecord).
  void fill_log_format_fields(LogRecord& log) {
    boost::system::error_code ec;
    auto loc = client_.local_endpoint(ec);
    log.http = false;
    log.req_id = req_id_;
    log.bytes_in = to_server_;
    log.fe_ip = loc.address().to_string();
    log.fe_port = loc.port();
    if (auto peer = up().remote_endpoint(ec); !ec) {
      log.srv_ip = peer.address().to_string();
      log.srv_port = peer.port();
    }
    if (auto local = up().local_endpoint(ec); !ec) {
      log.be_ip = local.address().to_string();
      log.be_port = local.port();
    }
    // The client may be gone: its address as accepted (src_, "ip:port").
    const auto colon = src_.rfind(':');
    const std::string src = src_.substr(0, colon), dst = log.fe_ip;
    const auto sport = static_cast<uint16_t>(std::atoi(src_.c_str() + colon + 1));
    RequestView rv{nullptr, nullptr, src, sport, dst, loc.port()};
    log_samples(*fe_.cfg->log_format, rv, log.samples);
  }

  // Pick, queue, connect (with retries), relay. Fills the log's server,
  // times and counts; `term` says how it ended.
  asio::awaitable<void> exchange(const balancing::BackendSnapshot& be, const config::Proxy& bcfg,
                                 LogRecord& log, Termination& term) {
    balancing::PickContext ctx;
    boost::system::error_code ec;
    auto rep = client_.remote_endpoint(ec);
    if (!ec && rep.address().is_v4()) {
      ctx.client_ipv4 = rep.address().to_v4().to_uint();
    } else if (!ec && rep.address().is_v6()) {
      const auto b = rep.address().to_v6().to_bytes();
      ctx.client_ipv4 = balancing::source_key(b.data(), b.size());
    }
    const uint16_t dst_port = client_.local_endpoint(ec).port();
    const balancing::Server* same = nullptr;  // a retry on the server that failed
    int retries_left = bcfg.retries;
    // Snapshots newer than `be` that hold a server this exchange was given
    // (one that came up while it waited in the queue): kept to the end.
    std::vector<std::shared_ptr<const balancing::PoolSnapshot>> keeps;
    for (;;) {
      // `option abortonclose`: a client that closes while queued leaves (CQ).
      qabort_ = QueueAbort{};
      if (bcfg.abortonclose) watch_client_close();
      SlotResult slot = co_await acquire_slot(w_, backend_, be, bcfg, ctx, same, &qabort_);
      stop_watch();
      if (slot.keep) keeps.push_back(std::move(slot.keep));
      log.tw = slot.t_queue_ms;
      if (qabort_.aborted) {
        if (slot.status == SlotResult::Status::Ok) release_slot(w_, backend_, *slot.srv);
        term = {TermCause::ClientAbort, TermPhase::Queue};
        be.live->counters.add(Counter::CliAborts);
        co_return;
      }
      if (slot.status != SlotResult::Status::Ok) {
        term = slot.status == SlotResult::Status::QueueTimeout
                   ? Termination{TermCause::ServerTimeout, TermPhase::Queue}
               : slot.status == SlotResult::Status::Stopped
                   ? Termination{TermCause::Killed, TermPhase::Queue}
                   : Termination{TermCause::ServerAbort, TermPhase::Connect};
        co_return;
      }
      const balancing::Server& srv = *slot.srv;
      log.server = srv.name;
      srv.live->counters.add(Counter::Sessions);
      auto cstart = Clock::now();
      connect_timed_out_ = false;
      up_tls_.reset();
      upstream_ = tcp::socket(w_.ioc);
      if (!connect_timer_) connect_timer_ = std::make_unique<asio::steady_timer>(w_.ioc);
      if (bcfg.timeouts.connect > 0) {
        connect_timer_->expires_after(std::chrono::milliseconds(bcfg.timeouts.connect));
        connect_timer_->async_wait([self = shared_from_this()](boost::system::error_code tec) {
          if (tec || self->upstream_connected_) return;
          self->connect_timed_out_ = true;
          boost::system::error_code ign;
          self->up().cancel(ign);
        });
      }
      upstream_connected_ = false;
      const tcp::endpoint server_ep = server_endpoint(srv, dst_port);
      const tcp::endpoint connect_ep = connect_endpoint(srv, server_ep);  // `socks4`: the proxy
      boost::system::error_code cec;
      {  // `source` / `usesrc`: bound before connect
        boost::system::error_code pec;
        const tcp::endpoint peer = client_.remote_endpoint(pec);
        cec = open_with_source(upstream_, connect_ep, balancing::conn_source(srv, bcfg),
                               pec ? nullptr : &peer);
      }
      if (!cec) std::tie(cec) = co_await upstream_.async_connect(connect_ep, nothrow);
      if (!cec && connect_ep != server_ep && !connect_timed_out_)
        cec = co_await socks4_connect(upstream_, server_ep);
      if (!cec && !stop_ && srv.send_proxy) {
        // The PROXY protocol header (`send-proxy`), before any TLS.
        auto peer = client_.remote_endpoint(ec);
        auto local = client_.local_endpoint(ec);
        const std::string pp = proxy_header(srv.send_proxy, peer.address().to_string(), peer.port(),
                                            local.address().to_string(), local.port());
        auto [wec, wn] = co_await asio::async_write(upstream_, asio::buffer(pp), nothrow);
        cec = wec;
      }
      if (!cec && !stop_ && srv.ssl) {
        // `server ... ssl`: the handshake is part of the connect (`sni`:
        // only a literal one has a value without an HTTP request).
        up_tls_.emplace(std::move(upstream_));
        up_tls_->start_tls(std::make_unique<tls::Conn>(
            *tls::client_context(srv.tls_ctx),
            srv.tls_sni == config::Server::Tls::Sni::Literal ? srv.tls_sni_arg : std::string()));
        cec = co_await up_tls_->async_handshake();
      }
      upstream_connected_ = true;
      connect_timer_->cancel();
      log.tc = ms_since(cstart);
      if (!cec && !stop_ && !initial_.empty()) {
        // The bytes inspected before routing.
        auto [wec, wn] =
            up_tls_ ? co_await asio::async_write(*up_tls_, asio::buffer(initial_), nothrow)
                    : co_await asio::async_write(upstream_, asio::buffer(initial_), nothrow);
        cec = wec;
        if (!wec) to_server_initial_ = initial_.size();
      }
      if (!cec && !stop_) {
        if (debug::on()) trace_.server_fd(up().native_handle());
        up().set_option(tcp::no_delay(true), ec);
        if (bcfg.srvtcpka) up().set_option(asio::socket_base::keep_alive(true), ec);
        co_await relay(be, bcfg, srv, term);
        // A connected exchange is a sample of the time statistics; for TCP
        // haproxy's response time is 0 (its data time is the connect time).
        const long tt = static_cast<long>(ms_since(start_));
        balancing::record_times(srv.live->counters, srv.live->times, log.tw, log.tc, 0, tt);
        balancing::record_times(be.live->counters, be.live->times, log.tw, log.tc, 0, tt);
        release_slot(w_, backend_, srv);
        log.srvconn = srv.live->inflight.get();
        log.bytes_out = to_client_;
        co_return;
      }
      // The connection failed: retried as `retries`/`redispatch` say.
      log.tc = -1;
      boost::system::error_code ign;
      up().close(ign);
      srv.live->counters.add(Counter::ErrConn);
      be.live->counters.add(Counter::ErrConn);
      release_slot(w_, backend_, srv);
      AttemptFacts f;
      f.outcome = AttemptOutcome::ConnectFailed;
      f.aborting = w_.aborting || stop_;
      f.retries_left = retries_left;
      RetryDecision d = decide_retry(bcfg, f);
      if (d.action == RetryAction::GiveUp) {
        term = {connect_timed_out_ ? TermCause::ServerTimeout : TermCause::ServerAbort,
                TermPhase::Connect};
        co_return;
      }
      --retries_left;
      ++log.retries;
      srv.live->counters.add(Counter::Retries);
      be.live->counters.add(Counter::Retries);
      if (d.redispatch) {
        ctx.avoid = &srv;
        same = nullptr;
        srv.live->counters.add(Counter::Redispatches);
        be.live->counters.add(Counter::Redispatches);
      } else {
        same = &srv;
      }
      if (d.wait) {
        asio::steady_timer t(w_.ioc);
        t.expires_after(std::chrono::milliseconds(
            std::min<int64_t>(bcfg.timeouts.connect ? bcfg.timeouts.connect : 1000, 1000)));
        co_await t.async_wait(nothrow);
        if (stop_) {
          term = {TermCause::Killed, TermPhase::Connect};
          co_return;
        }
      }
    }
  }

  asio::awaitable<void> relay(const balancing::BackendSnapshot& be, const config::Proxy& bcfg,
                              const balancing::Server& srv, Termination& term) {
    const auto& fet = fe_.cfg->timeouts;
    const int64_t idle = bcfg.timeouts.tunnel ? bcfg.timeouts.tunnel
                         : fet.tunnel         ? fet.tunnel
                                              : std::max(fet.client, bcfg.timeouts.server);
    auto cbuf = w_.take_buffer();
    auto sbuf = w_.take_buffer();
    // Bytes counted so far (`option contstats` counts them as they move).
    uint64_t counted_in = 0, counted_out = 0;
    auto count = [&](uint64_t to_server, uint64_t to_client) {
      for (auto* c : {&fe_.live->counters, &be.live->counters, &srv.live->counters}) {
        c->add(Counter::BytesIn, to_server - counted_in);
        c->add(Counter::BytesOut, to_client - counted_out);
      }
      counted_in = to_server;
      counted_out = to_client;
    };
    TunnelBuffers bufs{
        cbuf.get(), sbuf.get(), kBufSize, &w_.pipe_pool(), splice_policy(*fe_.cfg, bcfg), {}};
    if (fe_.cfg->contstats) bufs.progress = count;
    relaying_to_ = srv.live.get();
    const TunnelTimeouts tt{idle, fet.client_fin, bcfg.timeouts.server_fin};
    TunnelResult r;
    if (up_tls_) {  // TLS to the server: the tunnel over transports (stream.h)
      Stream cs(std::move(client_));
      tun_client_ = &cs.socket();
      r = co_await run_tunnel(cs, *up_tls_, std::move(bufs), tt, &stop_);
      tun_client_ = nullptr;
      client_ = std::move(cs.socket());
    } else {
      r = co_await run_tunnel(client_, upstream_, std::move(bufs), tt, &stop_);
    }
    w_.give_buffer(std::move(cbuf));
    w_.give_buffer(std::move(sbuf));
    to_server_ = r.to_server + to_server_initial_;
    to_client_ = r.to_client;
    if (debug::on()) trace_.tcp_closed(r.client_closed_first);
    count(r.to_server, r.to_client);
    switch (r.end) {
      case TunnelResult::End::Closed:
        term = {};
        break;
      case TunnelResult::End::ClientError:
        term = {TermCause::ClientAbort, TermPhase::Data};
        be.live->counters.add(Counter::CliAborts);
        srv.live->counters.add(Counter::CliAborts);
        break;
      case TunnelResult::End::ServerError:
        term = {TermCause::ServerAbort, TermPhase::Data};
        be.live->counters.add(Counter::SrvAborts);
        srv.live->counters.add(Counter::SrvAborts);
        break;
      case TunnelResult::End::Timeout:
        term = {TermCause::ClientTimeout, TermPhase::Data};
        break;
      case TunnelResult::End::Stopped:
        term = {TermCause::Killed, TermPhase::Data};
        if (kill_cause_) term = {static_cast<TermCause>(kill_cause_), TermPhase::None};
        break;
    }
  }

  // The L4 samples and the inspected bytes, for tcp-request content rules
  // and use_backend.
  RequestView view(bool final) {
    boost::system::error_code ec;
    auto rep = client_.remote_endpoint(ec);
    auto loc = client_.local_endpoint(ec);
    src_ip_ = rep.address().to_string();
    dst_ip_ = loc.address().to_string();
    RequestView rv{nullptr, nullptr, src_ip_, rep.port(), dst_ip_, loc.port()};
    rv.content = initial_;
    rv.content_final = final;
    return rv;
  }

  // Reads the client's first bytes until the frontend's content rules
  // decide (Wait: more bytes could change the answer), the client closes,
  // the buffer is full or inspect-delay is over (then the rules decide on
  // what is there, as haproxy's).
  asio::awaitable<void> inspect() {
    const auto deadline =
        Clock::now() + std::chrono::milliseconds(std::max<int64_t>(0, fe_.cfg->inspect_delay));
    asio::steady_timer timer(w_.ioc);
    bool eof = false;
    for (;;) {
      const bool final = eof || initial_.size() >= kBufSize || Clock::now() >= deadline;
      verdict_ = tcp_request_verdict(*fe_.cfg, true, view(final));
      if (verdict_ != TcpVerdict::Wait) co_return;
      timer.expires_at(deadline);
      timer.async_wait([self = shared_from_this()](boost::system::error_code tec) {
        if (tec) return;
        boost::system::error_code ign;
        self->client_.cancel(ign);
      });
      const size_t had = initial_.size();
      initial_.resize(kBufSize);
      auto [rec, n] = co_await client_.async_read_some(
          asio::buffer(initial_.data() + had, kBufSize - had), nothrow);
      timer.cancel();
      initial_.resize(had + n);
      if (stop_) co_return;
      if (rec && rec != asio::error::operation_aborted) eof = true;  // closed or failed
    }
  }

  Worker& w_;
  const FrontendRt& fe_;
  tcp::socket client_;
  std::string initial_;  // bytes read while inspecting, sent to the server first
  uint64_t to_server_initial_ = 0;
  uint64_t req_id_ = 0;  // haproxy's request counter (%rt)
  std::string src_ip_, dst_ip_;
  debug::StreamTrace trace_;  // `-d` (debug_trace.h)
  TcpVerdict verdict_ = TcpVerdict::Accept;
  bool handed_over_ = false;
  tcp::socket upstream_;
  // `server ... ssl`: the server connection once TLS started (upstream_ is
  // moved into it); up() is whichever holds the socket.
  std::optional<Stream> up_tls_;
  tcp::socket* tun_client_ = nullptr;  // the client socket while a TLS tunnel holds it
  tcp::socket& up() { return up_tls_ ? up_tls_->socket() : upstream_; }
  int backend_;
  bool stop_ = false;
  char kill_cause_ = 0;  // kill(): 'D' or 'U'
  QueueAbort qabort_;    // abortonclose while queued
  bool watching_ = false;
  uint32_t watch_gen_ = 0;
  const void* relaying_to_ = nullptr;  // the ServerLive of the server relayed to
  bool connect_timed_out_ = false;
  bool upstream_connected_ = false;
  std::unique_ptr<asio::steady_timer> connect_timer_;
  std::string src_;
  std::string accept_date_;
  Clock::time_point start_{};
  uint64_t to_server_ = 0, to_client_ = 0;

  friend void abort_tcp_sessions(Worker& w);
};

}  // namespace

void start_connection(Worker& w, const FrontendRt& fe, tcp::socket sock,
                      const tls::ServerContext* tls) {
  boost::system::error_code ec;
  // `option clitcpka` (or tcpka) on the frontend: SO_KEEPALIVE on the client socket.
  if (fe.cfg->clitcpka) sock.set_option(asio::socket_base::keep_alive(true), ec);
  auto rep = sock.remote_endpoint(ec);
  auto loc = sock.local_endpoint(ec);
  const std::string src = rep.address().to_string(), dst = loc.address().to_string();
  RequestView rv{nullptr, nullptr, src, rep.port(), dst, loc.port(), nullptr};
  // tcp-request connection rules: a reject closes at once, without a log
  // (haproxy's).
  if (tcp_request_verdict(*fe.cfg, false, rv) == TcpVerdict::Reject) {
    sock.close(ec);
    return;
  }
  if (!fe.tcp) return start_session(w, fe, std::move(sock), tls);
  bool content_rules = false;
  for (const auto& r : fe.cfg->tcp_request) content_rules = content_rules || r.content;
  if (content_rules) {
    sock.set_option(tcp::no_delay(true), ec);
    count_connection_open(w, fe);
    std::make_shared<TcpSession>(w, fe, std::move(sock), TcpSession::kInspect)
        ->start(src, rep.port());
    return;
  }
  int bi = route_backend(fe, rv);
  // A TCP frontend may use an HTTP backend: the connection speaks HTTP.
  if (bi >= 0 && static_cast<size_t>(bi) < w.shared.backend_cfg.size() &&
      w.shared.backend_cfg[static_cast<size_t>(bi)] &&
      w.shared.backend_cfg[static_cast<size_t>(bi)]->mode == config::Mode::Http)
    return start_session(w, fe, std::move(sock), tls);
  sock.set_option(tcp::no_delay(true), ec);
  count_connection_open(w, fe);
  std::make_shared<TcpSession>(w, fe, std::move(sock), bi)->start(src, rep.port());
}

void abort_tcp_sessions(Worker& w) {
  w.tcp_sessions.for_each([](IdleHook* h) { static_cast<TcpSession*>(h)->abort(); });
}

void kill_tcp_sessions(Worker& w, const void* server_live, char cause) {
  w.tcp_sessions.for_each([server_live, cause](IdleHook* h) {
    auto* s = static_cast<TcpSession*>(h);
    if (s->relaying_to() == server_live) s->kill(cause);
  });
}

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
