// proxy/session.cpp — one client connection: read a request head, route it,
// pick a server from the worker's pool snapshot, relay the request and the
// response with bounded buffers, keep both sides alive when HTTP allows.
//
// Thread rules: a Session lives on one worker thread; all of its coroutines
// run on that worker's io_context.
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <map>

#include "balancing/time_stats.h"
#include "proxy/debug_trace.h"
#include "proxy/exchange_outcome.h"
#include "proxy/http1.h"
#include "proxy/parking.h"
#include "proxy/proxy_protocol.h"
#include "proxy/relay_io.h"
#include "proxy/responses.h"
#include "proxy/rewrite.h"
#include "proxy/route.h"
#include "proxy/rules.h"
#include "proxy/server_slot.h"
#include "proxy/source_connect.h"
#include "proxy/splice.h"
#include "proxy/stats_applet.h"
#include "proxy/stream.h"
#include "proxy/tunnel.h"
#include "proxy/worker.h"
#include "tls/conn.h"
#include "tls/context.h"

namespace herd::proxy {
inline namespace HERD_IO_NS {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using balancing::Counter;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr int64_t kNoTimeout = int64_t{1} << 40;

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// The log date of steady-clock time `t`.
std::string log_date_at(Clock::time_point t) {
  return log_accept_date(
      std::chrono::system_clock::now() -
      std::chrono::duration_cast<std::chrono::system_clock::duration>(Clock::now() - t));
}

Counter status_counter(int st) {
  if (st >= 100 && st < 200) return Counter::Http1xx;
  if (st < 300) return Counter::Http2xx;
  if (st < 400) return Counter::Http3xx;
  if (st < 500) return Counter::Http4xx;
  if (st < 600) return Counter::Http5xx;
  return Counter::HttpOther;
}

bool idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

}  // namespace

class Session : public IdleHook, public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& w, const FrontendRt& fe, tcp::socket sock,
          const tls::ServerContext* tls = nullptr)
      : w_(w),
        fe_(fe),
        client_(tls ? Stream(std::move(sock), std::make_unique<tls::Conn>(*tls))
                    : Stream(std::move(sock))),
        upstream_(tcp::socket(w.ioc)),
        watchdog_(w.ioc) {}

  // A new connection: counted, then served from its first request on.
  void start() {
    boost::system::error_code ec;
    client_.set_option(tcp::no_delay(true), ec);
    client_.non_blocking(true, ec);  // read_some() returns would_block instead of waiting
    count_connection_open(w_, fe_);
    serve(true);
  }
  // A connection already counted open, whose first bytes were read elsewhere.
  void start(std::string_view first_bytes) {
    boost::system::error_code ec;
    client_.non_blocking(true, ec);
    if (!first_bytes.empty()) {
      cbuf_ = w_.take_buffer();
      cend_ = std::min(first_bytes.size(), kBufSize);
      std::memcpy(cbuf_.get(), first_bytes.data(), cend_);
    }
    serve(true);
  }
  // A parked connection that became readable (already counted; `first`:
  // it has not sent a request yet).
  void resume(bool first, Clock::time_point accepted) {
    resumed_ = true;
    accepted_ = accepted;
    serve(first);
  }

  // The park timer (idle_tick): leave the idle wait and park.
  void request_park() {
    park_ = true;
    boost::system::error_code ec;
    client_.cancel(ec);
  }

 private:
  void serve(bool first) {
    boost::system::error_code ec;
    auto rep = client_.remote_endpoint(ec);
    auto loc = client_.local_endpoint(ec);
    src_ip_ = rep.address().to_string();
    src_port_ = rep.port();
    dst_ip_ = loc.address().to_string();
    dst_port_ = loc.port();
    v6_ = loc.address().is_v6();
    if (rep.address().is_v4()) {
      client_v4_ = rep.address().to_v4().to_uint();
    } else if (rep.address().is_v6()) {
      const auto b = rep.address().to_v6().to_bytes();
      client_v4_ = balancing::source_key(b.data(), b.size());
    }
    w_.sessions.push_back(this);
    if (first) req_id_ = next_request_id();
    auto self = shared_from_this();
    asio::co_spawn(w_.ioc, run(first), [self](std::exception_ptr e) {
      if (self->park_ && !e)
        self->park();
      else
        self->finish();
    });
  }

 public:
  // Soft stop: an idle connection keeps waiting for its next request
  // (answered with `connection: close`) until its idle deadline, which
  // close-spread-time may bring closer (Worker::stop_idle_deadline).
  void stop_idle() {
    if (phase_ == Phase::Idle) shorten_deadline(w_.stop_idle_deadline(deadline_));
  }
  // hard-stop-after: a request still waiting for its server (queue,
  // connect, response head) is answered 502 and closed, as HAProxy does;
  // anything else (a response or an upload on its way) is cut.
  void abort() {
    boost::system::error_code ec;
    upstream_.cancel(ec);
    if (phase_ != Phase::Queue && phase_ != Phase::Connect && phase_ != Phase::Server)
      client_.cancel(ec);
  }

 private:
  enum class Phase { Idle, Request, Queue, Connect, Server, ClientWrite, ClientBody, Done };

  // ---- deadlines -------------------------------------------------------
  void set_deadline(Phase ph, int64_t ms) {
    phase_ = ph;
    timed_out_ = false;
    if (ms <= 0) ms = kNoTimeout;
    auto d = Clock::now() + std::chrono::milliseconds(ms);
    deadline_ = d;
    if (!watchdog_armed_ || d < watchdog_.expiry()) arm_watchdog();
  }
  void shorten_deadline(Clock::time_point d) {
    if (d >= deadline_) return;
    deadline_ = d;
    if (!watchdog_armed_ || d < watchdog_.expiry()) arm_watchdog();
  }
  // Whether this request's answer ends the connection because of a soft
  // stop; decided once per request (close-spread-time draws at random).
  bool stop_close() {
    if (!w_.stopping) return false;
    if (stop_close_ < 0) stop_close_ = w_.close_on_stop() ? 1 : 0;
    return stop_close_ == 1;
  }
  void arm_watchdog() {
    watchdog_armed_ = true;
    watchdog_.expires_at(deadline_);
    watchdog_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->closed_) return;
      auto now = Clock::now();
      if (now >= self->deadline_) {
        self->timed_out_ = true;
        self->watchdog_armed_ = false;
        boost::system::error_code e2;
        self->client_.cancel(e2);
        self->upstream_.cancel(e2);
      } else {
        self->arm_watchdog();
      }
    });
  }

  int64_t fe_timeout_client() const { return fe_.cfg->timeouts.client; }
  int64_t request_timeout(bool first) const {
    const auto& t = fe_.cfg->timeouts;
    if (!first && t.http_keep_alive) return t.http_keep_alive;
    if (t.http_request) return t.http_request;
    return t.client;
  }

  // The session ends; `keep_client`: its connection goes on, parked.
  void retire(bool keep_client) {
    closed_ = true;
    unlink();
    boost::system::error_code ec;
    watchdog_.cancel();
    if (!keep_client) client_.close(ec);
    upstream_.close(ec);
    release_server();
    if (client_.tls() && client_.tls()->failed_handshake())
      fe_.live->counters.add(Counter::SslFailedHandshake);
    auto& v = w_.sessions;
    v.erase(std::remove(v.begin(), v.end(), this), v.end());
    if (!keep_client) count_connection_close(w_, fe_);
  }
  void finish() { retire(false); }
  void park();

  // ---- the loop --------------------------------------------------------
  asio::awaitable<void> run(bool first) {
    for (;; first = false) {
      if (cbeg_ == cend_) {
        cbeg_ = cend_ = 0;
        // Nothing buffered (a new or an idle keep-alive connection): the
        // wait happens here, so that an idle connection holds run()'s frame
        // only, not one_request's and read_request_head's (about 4.5 KiB),
        // and it can park.
        Wait r = co_await wait_request_bytes(first);
        if (r == Wait::Park) {
          park_first_ = first;
          co_return;
        }
        if (r == Wait::Closed) {
          // (A TLS connection whose handshake failed was counted as such.)
          if (first && !w_.stopping && !(client_.tls() && !client_.tls()->handshake_done()))
            empty_first_request(w_, fe_, client_.socket().native_handle(), timed_out_, accepted_,
                                req_id_);
          break;
        }
        if (first && client_.tls()) {
          fe_.live->counters.add(Counter::SslSessions);
          if (client_.tls()->resumed()) fe_.live->counters.add(Counter::SslReused);
        }
      }
      // haproxy's request counter (%rt): one stream per connection from its
      // accept, then one per further request.
      if (first)
        idle_since_ = accepted_;
      else
        req_id_ = next_request_id();
      bool keep = co_await one_request(first);
      if (!keep) break;  // a soft stop ends it through stop_close()
      idle_since_ = Clock::now();
      // Between requests: the server-side buffer goes back to the worker;
      // the client-side one is kept for the hot window (wait_request_bytes).
      w_.give_buffer(std::move(sbuf_));
    }
    boost::system::error_code ec;
    client_.shutdown(tcp::socket::shutdown_send, ec);
  }

  // Waits for the first bytes of a request on a connection with nothing
  // buffered and reads them into cbuf_ (cend_ > 0 on success), under the
  // request (or keep-alive) deadline. Closed: a close, an error or the
  // timeout (closed without an answer). Park: idle for kParkAfter (the
  // idle tick cancelled the wait); run() ends and park() takes over.
  enum class Wait { Bytes, Closed, Park };
  asio::awaitable<Wait> wait_request_bytes(bool first) {
    set_deadline(Phase::Idle, request_timeout(first));
    if (w_.stopping) shorten_deadline(w_.stop_idle_deadline(deadline_));
    if (resumed_) {
      // Unparked: the socket was readable a moment ago.
      resumed_ = false;
      boost::system::error_code ec;
      cbuf_ = w_.take_buffer();
      size_t n = client_.read_some(asio::buffer(cbuf_.get(), kBufSize), ec);
      if (!ec && n > 0) {
        cend_ = n;
        co_return Wait::Bytes;
      }
      if (ec != asio::error::would_block && ec != asio::error::try_again) co_return Wait::Closed;
    }
    // (TLS connections do not park: at the idle tick they trim their
    // buffers instead, below, and go on waiting.)
    idle_enter(w_, this);
    for (;;) {
      boost::system::error_code ec;
      size_t n = 0;
      if (cbuf_) {
        // Hot idle, just after a response: an asynchronous read into the
        // buffer we hold. A keep-alive client's next request usually comes
        // within kParkAfter, and the read costs one recv, where waiting
        // without a buffer costs a readiness re-arm on top. A parked
        // connection holds no buffer. (io_uring did without it while
        // cancelling its reads lost some: Asio 1.81's stale cancel
        // user_data, fixed by uring_sqe.h.)
        auto [rec, rn] = co_await client_.read_async(asio::buffer(cbuf_.get(), kBufSize));
        ec = rec;
        n = rn;
      } else {
        // Wait for bytes without holding a buffer, then take one and read
        // what is there (never a second wait: the readiness was consumed).
        auto [wec] = co_await client_.async_wait(tcp::socket::wait_read, nothrow);
        ec = wec;
        if (!wec) {
          cbuf_ = w_.take_buffer();
          n = client_.read_some(asio::buffer(cbuf_.get(), kBufSize), ec);
          if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
        }
      }
      unlink();
      if (park_ && n == 0) {
        // Cancelled by the idle tick (and not by a timeout or a hard stop:
        // those close). Bytes that came first win: the connection is not parked.
        if (ec == asio::error::operation_aborted && !timed_out_ && !w_.aborting) {
          w_.give_buffer(std::move(cbuf_));
          if (!client_.tls()) co_return Wait::Park;
          // A TLS connection keeps its session object and its engine, without
          // buffers: about 28 KiB less per idle connection (bench/compare.py
          // rsstls), and it waits for readiness holding none.
          park_ = false;
          client_.trim();
          continue;
        }
      }
      park_ = false;
      if (ec || n == 0) co_return Wait::Closed;
      cend_ = n;
      co_return Wait::Bytes;
    }
  }

  // Reads one request head into cbuf_, which holds its first bytes (run()
  // waited for them, or they were pipelined). Returns false on
  // EOF/timeout/error (after answering 400/408 where HAProxy does).
  asio::awaitable<bool> read_request_head(bool first) {
    start_ = Clock::now();
    stop_close_ = -1;
    set_deadline(Phase::Request, request_timeout(first));
    for (;;) {
      auto st = http1::parse_request(cbuf_.get() + cbeg_, cend_ - cbeg_, req_,
                                     fe_.cfg->accept_invalid_request);
      if (st == http1::Status::Complete) co_return true;
      if (st == http1::Status::Error) {
        co_await answer_bad_request(req_.error_status, "PR--");
        co_return false;
      }
      if (cbeg_ > 0) {  // make room: move the partial head to the front
        std::memmove(cbuf_.get(), cbuf_.get() + cbeg_, cend_ - cbeg_);
        cend_ -= cbeg_;
        cbeg_ = 0;
      }
      if (cend_ == kBufSize) {  // head larger than a buffer
        co_await answer_bad_request(400, "PR--");
        co_return false;
      }
      // Read right away (the socket is non-blocking): no handler round trip
      // when bytes are there; otherwise wait for readiness and read again.
      boost::system::error_code ec;
      size_t n = client_.read_some(asio::buffer(cbuf_.get() + cend_, kBufSize - cend_), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        auto [wec] = co_await client_.async_wait(tcp::socket::wait_read, nothrow);
        if (!wec) continue;
        ec = wec;
      }
      if (ec) {
        if (timed_out_) co_await answer_bad_request(408, "cR--");
        co_return false;
      }
      cend_ += n;
    }
  }

  asio::awaitable<void> answer_bad_request(int status, const char* term) {
    fe_.live->counters.add(Counter::ErrReq);
    fe_.live->counters.add(status_counter(status));
    fe_.live->counters.add(Counter::Requests);  // a request to haproxy too (req_tot)
    w_.shared.process.counters.add(Counter::Requests);
    std::string resp = error_response(fe_.cfg->errorfiles, status, true, true, false, false).bytes;
    set_deadline(Phase::ClientWrite, fe_timeout_client());
    co_await asio::async_write(client_, asio::buffer(resp), nothrow);
    fe_.live->counters.add(Counter::BytesOut, resp.size());
    if (fe_.logs) {
      accept_date_ = log_date_at(start_);
      LogRecord r = base_log("<NOSRV>", "");
      r.tr = -1;
      r.status = status;
      std::memcpy(r.term, term, 4);
      r.request_line = "<BADREQ>";
      w_.shared.hooks.log(*fe_.cfg, r);
    }
  }

  LogRecord base_log(const std::string& server, const std::string& backend) {
    LogRecord r;
    r.client = src_ip_ + ":" + std::to_string(src_port_);
    r.accept_date = accept_date_;
    r.frontend = fe_.cfg->name;
    r.backend = backend.empty() ? fe_.cfg->name : backend;
    r.server = server;
    r.ta = ms_since(start_);
    r.actconn = w_.shared.process.conns.get();
    r.feconn = fe_.live->sessions.get();
    if (fe_.cfg->log_format) fill_log_format_fields(r);
    return r;
  }

  // The request's unique ID, from the frontend's unique-id-format (%ID,
  // unique-id-header, the `unique-id` fetch).
  // Made once, when the request goes to its server (unique-id-header) or
  // else when it is logged, as haproxy: %b is then the backend.
  void make_unique_id(const RequestView& rv, const std::string& backend) {
    if (unique_id_made_ || !fe_.cfg->unique_id_format) return;
    unique_id_made_ = true;
    LogRecord r;
    r.client = src_ip_ + ":" + std::to_string(src_port_);
    r.frontend = fe_.cfg->name;
    r.backend = backend;
    r.server = "<NOSRV>";
    r.accept_date = accept_date_;
    if (fe_.logs) {  // (at log time req_ may be gone)
      r.request_line = request_line_;
    } else {
      r.request_line.assign(req_.method);
      r.request_line += ' ';
      r.request_line += req_.target;
      r.request_line += ' ';
      r.request_line += req_.version_str;
    }
    r.date = req_date_;
    r.ti = ti_;
    r.ta = ms_since(start_);
    r.fe_ip = dst_ip_;
    r.fe_port = dst_port_;
    r.ssl = client_.tls() != nullptr;
    r.req_id = req_id_;
    r.actconn = w_.shared.process.conns.get();
    r.feconn = fe_.live->sessions.get();
    log_samples(*fe_.cfg->unique_id_format, rv, r.samples);
    unique_id_ = format_log(*fe_.cfg->unique_id_format, r, fe_.cfg, false);
  }

  // What log-format adds to the httplog facts (LogRecord).
  void fill_log_format_fields(LogRecord& r) {
    r.ti = ti_;
    r.date = req_date_;
    r.bytes_in = bytes_in_;
    r.fe_ip = dst_ip_;
    r.fe_port = dst_port_;
    r.ssl = client_.tls() != nullptr;
    r.req_id = req_id_;
    RequestView rv{nullptr, nullptr, src_ip_, src_port_, dst_ip_, dst_port_, client_.tls()};
    rv.vars = &vars_;
    make_unique_id(rv, r.backend);
    r.unique_id = unique_id_;
    if (slot_srv_ || ep_.port() != 0) {
      r.srv_ip = ep_.address().to_string();
      r.srv_port = ep_.port();
    }
    if (upstream_local_.port() != 0) {
      r.be_ip = upstream_local_.address().to_string();
      r.be_port = upstream_local_.port();
    }
    log_samples(*fe_.cfg->log_format, rv, r.samples);
  }

  // The request body bytes sent with the head: as received for a
  // Content-Length body, re-framed for a chunked one (kept for replays).
  asio::const_buffer body_prefix(const char* base, size_t body_now) const {
    if (body_len_ == -2) return asio::buffer(framed_);
    return asio::buffer(base + req_.head_len, body_now);
  }

  // The server's connection slot goes back (to a queued request first).
  void release_server_slot() {
    release_slot(w_, slot_backend_, *slot_srv_);
    slot_srv_ = nullptr;
  }

  void release_server() {
    if (slot_srv_) release_server_slot();
    if (backend_live_) {
      backend_live_->inflight.dec();
      backend_live_ = nullptr;
    }
    if (hold_) {
      w_.unpin(hold_);
      hold_ = nullptr;
    }
    slot_keep_.reset();
  }

  // Handles one request/response exchange. Returns whether the client
  // connection stays open.
  asio::awaitable<bool> one_request(bool first) {
    err_be_ = nullptr;
    reply_tc_ = -1;
    client_gone_ = false;
    qabort_ = QueueAbort{};
    if (!co_await read_request_head(first)) co_return false;
    // `-d`: this request is a stream of its own; every way out ends it.
    struct TraceEnd {
      debug::StreamTrace& t;
      ~TraceEnd() { t.end(); }
    } trace_end{trace_};
    if (debug::on()) trace_begin();
    if (fe_.logs) accept_date_ = log_accept_date();
    const long t_request = static_cast<long>(ms_since(start_));
    bytes_in_ = req_.head_len;
    upstream_local_ = tcp::endpoint();
    if ((fe_.logs && fe_.cfg->log_format) || fe_.cfg->unique_id_format) {
      req_date_ = std::chrono::system_clock::now() - std::chrono::milliseconds(t_request);
      ti_ = std::max<long>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(start_ - idle_since_).count());
    }

    const char* base = cbuf_.get() + cbeg_;
    RequestView rv{base, &req_, src_ip_, src_port_, dst_ip_, dst_port_, client_.tls()};
    vars_.end_request();  // the previous request's txn.*, req.* and res.* variables
    rv.vars = &vars_;
    is_head_ = req_.method == "HEAD";
    req_is_10_ = req_.version == 10;
    method_.assign(req_.method);
    // A request framed by both Transfer-Encoding and Content-Length, or
    // chunked in HTTP/1.0, is answered and the connection closed (RFC 9112
    // §6.1, as haproxy): what follows it on the connection is not trusted.
    const bool suspect_framing = req_.te_and_cl || (req_.chunked && req_.version == 10);
    const bool client_keep =
        !fe_.close_client && !suspect_framing && !stop_close() &&
        ((req_.version == 11 && !req_.conn_close) || (req_.version == 10 && req_.conn_keep_alive));
    const bool http10_close = req_.version == 10 && !req_.conn_keep_alive;
    fe_.live->counters.add(Counter::Requests);
    fe_.live->request_rate.hit();
    w_.shared.process.counters.add(Counter::Requests);
    fe_.live->counters.add(Counter::BytesIn, req_.head_len);
    if (fe_.logs) {
      request_line_.assign(req_.method);
      request_line_ += ' ';
      request_line_ += req_.target;
      request_line_ += ' ';
      request_line_ += req_.version_str;  // as received: "HTTP/1.2", "HTTP/2.0" too (haproxy)
    }

    unique_id_.clear();
    unique_id_made_ = false;

    // Body extent of this request.
    body_len_ = req_.chunked ? -2 : (req_.content_length > 0 ? req_.content_length : 0);

    // tcp-request content rules of an HTTP frontend run on each request.
    if (fe_.cfg->mode == config::Mode::Http &&
        tcp_request_verdict(*fe_.cfg, true, rv) == TcpVerdict::Reject)
      co_return false;
    // `monitor-uri`: answered here, before any http-request rule.
    if (!fe_.cfg->monitor_uri.empty() && req_.target == fe_.cfg->monitor_uri)
      co_return co_await answer_monitor(rv, client_keep, http10_close);
    // `http-request deny|redirect` and `redirect` of the frontend, before
    // the backend is chosen. The stats applet comes after the `http-request` rules (a deny blocks
    // the stats URI too) and before the `redirect` rules, as haproxy.
    if (const auto* fin = request_final_rule(*fe_.cfg, rv, false))
      co_return co_await final_rule(*fin, rv, client_keep, http10_close, fe_.cfg->name, *fe_.cfg);
    if (is_stats_request(w_, *fe_.cfg, req_.target))
      co_return co_await serve_stats(*fe_.cfg, client_keep);
    if (const auto* fin = redirect_rule(*fe_.cfg, rv))
      co_return co_await final_rule(*fin, rv, client_keep, http10_close, fe_.cfg->name, *fe_.cfg);

    hold_ = w_.pin();  // this request's snapshot, until release_server()
    const balancing::PoolSnapshot* snap = hold_->snap.get();
    int bi = route_backend(fe_, rv);
    const balancing::BackendSnapshot* be =
        (bi >= 0 && static_cast<size_t>(bi) < snap->backends.size()) ? snap->backends[bi].get()
                                                                     : nullptr;
    const config::Proxy* bcfg = be ? w_.shared.backend_cfg[static_cast<size_t>(bi)] : nullptr;
    err_be_ = bcfg;
    if (debug::on() && be) trace_.route(be->name);
    if (!be || !bcfg) {
      co_return co_await local_error(503, "SC--", client_keep, http10_close, "<NOSRV>",
                                     be ? be->name : fe_.cfg->name);
    }
    if (bcfg != fe_.cfg) {  // the backend's own rules (a listen section's ran above)
      if (tcp_request_verdict(*bcfg, true, rv) == TcpVerdict::Reject) {
        release_server();  // rejected: closed without an answer, as haproxy
        co_return false;
      }
      if (const auto* fin = request_final_rule(*bcfg, rv, false))
        co_return co_await final_rule(*fin, rv, client_keep, http10_close, be->name, *bcfg);
      // A backend's `stats enable` serves its page to what was routed to it.
      if (is_stats_request(w_, *bcfg, req_.target)) {
        release_server();
        co_return co_await serve_stats(*bcfg, client_keep);
      }
      if (const auto* fin = redirect_rule(*bcfg, rv))
        co_return co_await final_rule(*fin, rv, client_keep, http10_close, be->name, *bcfg);
    }
    be->live->counters.add(Counter::Requests);
    be->live->counters.add(Counter::Sessions);
    be->live->inflight.inc();
    may_hold_ = !fe_.cfg->http_no_delay && !bcfg->http_no_delay;
    backend_live_ = be->live.get();
    // Cookie persistence.
    const balancing::Server* srv = nullptr;
    bool cookie_valid = false;
    if (bcfg->cookie.enabled) {
      bool found = false;
      auto v = find_cookie(rv, bcfg->cookie.name, found);
      if (found && !v.empty()) {
        const auto* s = be->find_by_cookie(v);
        if (s && s->is_up()) {
          srv = s;
          cookie_valid = true;
        }
      }
    }

    // Protocol upgrade (WebSocket...): Connection: upgrade plus an Upgrade header.
    upgrade_ = req_.upgrade && !header_value(rv, "upgrade").empty() && body_len_ == 0;
    // Build the head we send to servers (once; reused on retries).
    build_server_head(rv, *bcfg);

    // Request body bytes already in the buffer.
    size_t avail = cend_ - cbeg_ - req_.head_len;
    size_t body_now = 0;
    bool body_complete = true;
    if (body_len_ > 0) {
      body_now = static_cast<size_t>(std::min<int64_t>(body_len_, static_cast<int64_t>(avail)));
      body_complete = static_cast<int64_t>(body_now) == body_len_;
    } else if (body_len_ == -2) {
      chunks_.reset();
      framed_.clear();
      size_t used = 0;
      auto r = chunks_.feed(base + req_.head_len, avail, used, &framed_);
      if (r == http1::ChunkedScanner::Result::Error) {
        co_await answer_bad_request(400, "PR--");
        co_return false;
      }
      body_now = used;
      body_complete = r == http1::ChunkedScanner::Result::Done;
    }
    fe_.live->counters.add(Counter::BytesIn, body_now);
    bytes_in_ += body_now;
    // Requests whose body is all here can be replayed on another connection.
    const bool replayable = body_complete;

    // `balance hdr(<name>)` hashes the first such header's value.
    std::string lb_header;
    if (bcfg->balance.algo == config::BalanceAlgo::Hdr)
      lb_header = header_value(rv, bcfg->balance.arg);
    // Pick, queue, connect, send; retried as `retries`/`redispatch` allow.
    int retries_left = bcfg->retries;
    int retries_done = 0;
    const balancing::Server* avoid = nullptr;
    const std::string* term = nullptr;
    static const std::string kSC = "SC--", kSQ = "sQ--", kSH = "sH--", kPH = "PH--", kSD = "SD--",
                             kCD = "CD--", kOK = "----";
    long t_queue = -1, t_connect = -1;
    bool reused = false;
    bool replayed_idle = false;  // the one replay after a reused connection closed
    bool fresh_only = false;     // no idle connection for the replay
    RelayResult rr;
    struct WatchEnd {
      Session& s;
      ~WatchEnd() { s.stop_watch(); }
    } watch_end{*this};
    if (bcfg->abortonclose && body_complete && !upgrade_) watch_client_close();
    for (int attempt = 0;; ++attempt) {
      for (;;) {
        if (!srv || slot_srv_ != srv) {
          // Pick and queue (server_slot.h): a slot on the cookie's server
          // or on the balancer's choice, waiting in the queue when full.
          if (slot_srv_) release_server_slot();
          balancing::PickContext ctx;
          ctx.client_ipv4 = client_v4_;
          ctx.uri = request_target_;
          ctx.hash_header = lb_header;
          ctx.avoid = avoid;
          phase_ = Phase::Queue;
          SlotResult slot;
          slot.srv = try_slot_now(w_, bi, *be, ctx, srv);
          if (slot.srv)
            slot.status = SlotResult::Status::Ok;
          else
            slot = co_await acquire_slot(w_, bi, *be, *bcfg, ctx, srv, &qabort_);
          if (t_queue < 0) t_queue = 0;
          t_queue += slot.t_queue_ms;
          if (closed_) co_return false;
          if (client_gone_) {
            if (slot.status == SlotResult::Status::Ok) release_slot(w_, bi, *slot.srv);
            co_return co_await client_aborted("CQ--", "<NOSRV>", *be, nullptr, t_request, t_queue,
                                              -1);
          }
          if (slot.status != SlotResult::Status::Ok) {
            term = slot.status == SlotResult::Status::QueueTimeout ||
                           slot.status == SlotResult::Status::QueueFull
                       ? &kSQ
                       : &kSC;
            srv = nullptr;
            break;
          }
          srv = slot.srv;
          slot_srv_ = srv;
          if (slot.keep) slot_keep_ = std::move(slot.keep);
          slot_backend_ = bi;
        }
        srv->live->counters.add(Counter::Sessions);
        srv->live->counters.add(Counter::Requests);
        ep_ = server_endpoint(*srv, dst_port_);

        auto cstart = Clock::now();
        reused = false;
        boost::system::error_code ec;
        // The server may close an idle connection at any moment (a close
        // after its response that has not arrived yet): a request that can
        // be replayed is then sent again on a fresh one. Without retry-on,
        // an idempotent request is replayed once when a reused connection
        // ends before a byte of answer (retry.cpp): a connection idle for a
        // moment goes without the MSG_PEEK. A request whose body is still
        // coming cannot be replayed: as the first of its client connection
        // it gets a fresh one (HAProxy's `http-reuse safe`; an upload lost
        // that race under CI load), later ones a recent, probed one
        // (upstream.h: Reuse::RecentProbed).
        using Reuse = UpstreamPool::Reuse;
        const Reuse reuse = !replayable                                  ? Reuse::RecentProbed
                            : idempotent(method_) && !bcfg->retry_on.set ? Reuse::TrustRecent
                                                                         : Reuse::Probed;
        // A `send-proxy` connection named one client: never pooled.
        // `source ... usesrc client|clientip`: the connection carries this
        // client's address, so it is this client's only (never pooled).
        const config::ConnSource* csrc = balancing::conn_source(*srv, *bcfg);
        upstream_private_ = balancing::source_is_per_client(csrc);
        // (`server ... ssl`: an idle connection opened with the SNI this
        // request would send.)
        upstream_sni_ = srv->ssl ? server_sni(*srv, rv) : std::string();
        auto idle = (replayable || !first) && !fresh_only && !srv->send_proxy && !upstream_private_
                        ? w_.upstreams.take(srv->live.get(), ep_, reuse, upstream_sni_)
                        : std::nullopt;
        if (idle && srv->ssl != (idle->tls != nullptr)) idle.reset();  // `ssl` set since
        if (idle) {
          upstream_ = Stream(std::move(idle->sock), std::move(idle->tls));
          reused = true;
        } else {
          upstream_ = Stream(tcp::socket(w_.ioc));
          set_deadline(Phase::Connect, bcfg->timeouts.connect);
          const tcp::endpoint client_ep(asio::ip::make_address(src_ip_, ec), src_port_);
          const tcp::endpoint connect_ep = connect_endpoint(*srv, ep_);  // `socks4`: the proxy
          ec = open_with_source(upstream_.socket(), connect_ep, csrc, ec ? nullptr : &client_ep);
          if (!ec) {
            auto [cec] = co_await upstream_.socket().async_connect(connect_ep, nothrow);
            ec = cec;
          }
          if (!ec && connect_ep != ep_) ec = co_await socks4_connect(upstream_.socket(), ep_);
          if (!ec) upstream_.set_option(tcp::no_delay(true), ec);
          // `option srvtcpka` (or tcpka) on the backend: SO_KEEPALIVE.
          if (!ec && bcfg->srvtcpka) upstream_.set_option(asio::socket_base::keep_alive(true), ec);
          if (!ec && srv->send_proxy) {  // the PROXY protocol header first
            pp_ = proxy_header(srv->send_proxy, src_ip_, src_port_, dst_ip_, dst_port_);
            auto [pec, pn] =
                co_await asio::async_write(upstream_.socket(), asio::buffer(pp_), nothrow);
            ec = pec;
          }
          if (!ec && srv->ssl) {  // `server ... ssl`: the handshake is part of the connect
            upstream_.start_tls(
                std::make_unique<tls::Conn>(*tls::client_context(srv->tls_ctx), upstream_sni_));
            ec = co_await upstream_.async_handshake();
          }
        }
        t_connect = static_cast<long>(ms_since(cstart));
        if (debug::on() && !ec) trace_.server_fd(upstream_.socket().native_handle());
        if (!ec && fe_.cfg->log_format) {  // %bi:%bp, kept past the close
          boost::system::error_code lec;
          upstream_local_ = upstream_.socket().local_endpoint(lec);
        }
        if (!ec) {
          // Send the head and whatever body is already here, in one write.
          set_deadline(Phase::Server, bcfg->timeouts.server);
          std::array<asio::const_buffer, 2> bufs{asio::buffer(out_), body_prefix(base, body_now)};
          // (MSG_MORE as for responses, relay_response: not before a splice.)
          const int64_t left = body_len_ > 0 ? body_len_ - static_cast<int64_t>(body_now) : -1;
          auto [wec, wn] = co_await write_all(upstream_, bufs,
                                              may_hold_ && !body_complete && cend_ == kBufSize &&
                                                  !upload_spliced(*bcfg, left, srv->ssl));
          ec = wec;
          if (!ec) srv->live->counters.add(Counter::BytesIn, wn);
        }
        if (!ec) break;
        // Connection failed.
        upstream_.close(ec);
        if (closed_) co_return false;
        if (client_gone_)
          co_return co_await client_aborted("CC--", srv->name, *be, srv, t_request, t_queue,
                                            t_connect);
        AttemptFacts cf;
        cf.outcome = reused ? AttemptOutcome::StaleConnection : AttemptOutcome::ConnectFailed;
        cf.replayable = replayable;
        cf.aborting = w_.aborting;
        cf.retries_left = retries_left;
        const RetryDecision d = decide_retry(*bcfg, cf);
        if (d.action == RetryAction::ReplayFresh) continue;  // a stale idle connection
        srv->live->counters.add(Counter::ErrConn);
        observe(*be, *srv, true);
        be->live->counters.add(Counter::ErrConn);
        if (d.action == RetryAction::GiveUp) {
          term = &kSC;
          srv = nullptr;
          break;
        }
        --retries_left;
        ++retries_done;
        srv->live->counters.add(Counter::Retries);
        be->live->counters.add(Counter::Retries);
        if (d.redispatch) {
          avoid = srv;
          srv->live->counters.add(Counter::Redispatches);
          be->live->counters.add(Counter::Redispatches);
          srv = nullptr;
        }
        if (d.wait) {
          asio::steady_timer t(w_.ioc);
          t.expires_after(std::chrono::milliseconds(
              std::min<int64_t>(bcfg->timeouts.connect ? bcfg->timeouts.connect : 1000, 1000)));
          co_await t.async_wait(nothrow);
          if (closed_) co_return false;
          if (w_.aborting) {
            term = &kSC;
            srv = nullptr;
            break;
          }
        }
      }
      if (term) {
        int status = 503;
        // A retry's first attempt already moved the buffer past the request.
        co_return co_await local_error(status, term->c_str(), client_keep && body_complete,
                                       http10_close, "<NOSRV>", be->name, t_queue, retries_done,
                                       attempt > 0 && body_complete);
      }

      // Request body still to come: pump it concurrently with the response.
      pump_done_ = body_complete;
      pump_failed_ = false;
      if (!body_complete) {
        body_left_ = body_len_ > 0 ? body_len_ - static_cast<int64_t>(body_now) : -1;
        cbeg_ = cend_;  // the rest of the buffer was sent
        pump_be_ = bcfg;
        pump_wake_ = std::make_shared<asio::steady_timer>(w_.ioc, Clock::time_point::max());
        asio::co_spawn(w_.ioc, pump_request_body(),
                       [wake = pump_wake_](std::exception_ptr) { wake->cancel(); });
      } else if (attempt == 0) {
        cbeg_ += req_.head_len + body_now;
      }

      // Response.
      may_retry_status_ = replayable && retries_left > 0 && !bcfg->retry_on.statuses.empty();
      rr = co_await relay_response(*bcfg, *be, srv, client_keep, cookie_valid);
      if (client_gone_)
        co_return co_await client_aborted("CH--", srv->name, *be, srv, t_request, t_queue,
                                          t_connect);
      // Sent again only when the retry policy says so (retry.h: no double
      // submission; the one idle-connection replay of an idempotent request).
      AttemptFacts facts;
      facts.outcome = attempt_outcome(rr);
      facts.replayable = replayable;
      facts.reused = reused;
      facts.idempotent = idempotent(method_);
      facts.replayed_idle = replayed_idle;
      facts.aborting = w_.aborting || closed_;
      facts.retries_left = retries_left;
      const RetryDecision again = decide_retry(*bcfg, facts);
      if (again.action == RetryAction::ReplayFresh) {
        replayed_idle = true;
        boost::system::error_code ign;
        upstream_.close(ign);
        fresh_only = true;
        continue;
      }
      if (again.action == RetryAction::Retry) {
        --retries_left;
        ++retries_done;
        srv->live->counters.add(Counter::Retries);
        be->live->counters.add(Counter::Retries);
        boost::system::error_code ign;
        upstream_.close(ign);
        if (again.redispatch) {
          avoid = srv;
          srv->live->counters.add(Counter::Redispatches);
          be->live->counters.add(Counter::Redispatches);
          srv = nullptr;
        }
        continue;
      }
      break;
    }
    const std::string& srv_name = srv->name;  // srv stays valid: the snapshot is pinned
    balancing::ServerLive* srv_live = srv->live.get();
    // Passive health: layer4 watches connections (this one succeeded),
    // layer7 also watches responses (5xx but 501/505, invalid, timeouts).
    if (srv->observe != balancing::Server::Observe::None && rr.end != RelayEnd::ClientFailed) {
      bool l7_error =
          (rr.client_saw != ClientSaw::Response &&
           (rr.server_side_failure() || rr.end == RelayEnd::ProtocolError)) ||
          (rr.status >= 500 && rr.status <= 599 && rr.status != 501 && rr.status != 505);
      observe(*be, *srv, srv->observe == balancing::Server::Observe::Layer7 && l7_error);
    }
    if (rr.end == RelayEnd::Denied && !closed_) {
      // `http-response deny`: the server's answer goes (its connection
      // closes) and HAProxy's page for the rule's status is sent instead;
      // the client connection goes on, as haproxy's.
      boost::system::error_code ign;
      upstream_.close(ign);
      const bool consumed = pump_done_ && !pump_failed_;
      co_return co_await local_error(rr.status, "PH--", client_keep && consumed,
                                     http10_close || w_.aborting, srv_name, be->name, t_queue,
                                     retries_done, consumed);
    }
    if (rr.client_saw != ClientSaw::Response && !closed_ && rr.end != RelayEnd::ClientFailed) {
      // Nothing was sent to the client yet: answer with HAProxy's error.
      const bool timeout = rr.end == RelayEnd::ServerTimeout;
      int status = timeout ? 504 : 502;
      const std::string& t = timeout ? kSH : kPH;
      if (!timeout && rr.end != RelayEnd::ProtocolError) {
        srv_live->counters.add(Counter::SrvAborts);
        be->live->counters.add(Counter::SrvAborts);
      }
      srv_live->counters.add(Counter::ErrResp);
      be->live->counters.add(Counter::ErrResp);
      boost::system::error_code ign;
      upstream_.close(ign);
      // The request went out whole (the buffer is past it): the client
      // connection stays in step and is kept, as HAProxy keeps it after its
      // 502/504. A body still coming, or a hard stop, closes it.
      const bool consumed = pump_done_ && !pump_failed_;
      co_return co_await local_error(status, t.c_str(), client_keep && consumed,
                                     http10_close || w_.aborting, srv_name, be->name, t_queue,
                                     retries_done, consumed);
    }
    if (!pump_done_ && !pump_failed_ && rr.client_saw == ClientSaw::Response &&
        rr.end != RelayEnd::ClientFailed) {
      // Early response: keep forwarding the upload (as HAProxy does) so the
      // client connection stays in step, bounded by the client timeout.
      set_deadline(Phase::ClientBody, fe_timeout_client());
      if (rr.keep_client) co_await pump_wake_->async_wait(nothrow);
      if (pump_done_ && !pump_failed_ && rr.reuse_after_pump) {
        keep_upstream(srv);
      } else {
        boost::system::error_code ign;
        upstream_.close(ign);
      }
    }
    if (t_connect >= 0 && rr.t_response >= 0) {
      // The exchange got its response head: a sample of the time statistics.
      const long tt = static_cast<long>(ms_since(start_));
      balancing::record_times(srv_live->counters, srv_live->times, t_queue, t_connect,
                              rr.t_response, tt);
      balancing::record_times(be->live->counters, be->live->times, t_queue, t_connect,
                              rr.t_response, tt);
    }
    if (fe_.logs) {
      LogRecord r = base_log(srv_name, be->name);
      r.tr = t_request;
      r.tw = t_queue;
      r.tc = t_connect;
      r.tres = rr.t_response;
      r.status = rr.status;
      r.bytes_out = rr.bytes_out;
      std::memcpy(r.term, relay_log_term(rr), 4);
      r.beconn = be->live->inflight.get();
      r.srvconn = srv_live->inflight.get();
      r.retries = retries_done;
      r.request_line = request_line_;
      w_.shared.hooks.log(*fe_.cfg, r);
    }
    release_server();
    co_return rr.keep_client&& pump_done_ && !pump_failed_;
  }

  // The server connection goes to the worker's idle pool, a TLS one with
  // its engine and the SNI it was opened with (unless the engine holds
  // bytes: then it closes).
  void keep_upstream(const balancing::Server* srv) {
    boost::system::error_code ec;
    if (!upstream_.tls_quiet()) {
      upstream_.close(ec);
      return;
    }
    std::unique_ptr<tls::Conn> tls = upstream_.release_tls();
    std::string sni = tls ? upstream_sni_ : std::string();
    w_.upstreams.put(srv->live.get(), ep_,
                     UpstreamPool::Conn{std::move(upstream_.socket()), std::move(tls)},
                     std::move(sni));
    upstream_ = Stream(tcp::socket(w_.ioc));
  }

  // The SNI sent to a `server ... ssl` (its `sni` expression).
  std::string server_sni(const balancing::Server& s, const RequestView& rv) const {
    using Sni = config::Server::Tls::Sni;
    switch (s.tls_sni) {
      case Sni::Literal:
        return s.tls_sni_arg;
      case Sni::Header:
        return std::string(header_value(rv, s.tls_sni_arg));
      case Sni::ClientSni:
        return client_.tls() ? std::string(client_.tls()->sni()) : std::string();
      case Sni::None:
        break;
    }
    return {};
  }

  // Counts an error (or a success, which resets the count) for `observe`;
  // at `error-limit` consecutive errors the control thread is told.
  void observe(const balancing::BackendSnapshot& be, const balancing::Server& s, bool error) {
    if (s.observe == balancing::Server::Observe::None) return;
    auto& n = s.live->consecutive_errors;
    if (!error) {
      if (n.load(std::memory_order_relaxed) != 0) n.store(0, std::memory_order_relaxed);
      return;
    }
    if (n.fetch_add(1, std::memory_order_relaxed) + 1 >= s.error_limit) {
      n.store(0, std::memory_order_relaxed);
      if (w_.shared.hooks.observed_errors) w_.shared.hooks.observed_errors(be.name, s.name);
    }
  }

  // The rewrite phase (rewrite.h): the head sent to servers, built once
  // per request and reused on retries.
  void build_server_head(const RequestView& rv, const config::Proxy& b) {
    request_target_.assign(req_.target);
    make_unique_id(rv, b.name);
    server_close_ = build_upstream_head(
        out_, added_,
        {rv, *fe_.cfg, b, upgrade_, body_len_, method_, fe_.cfg->unique_id_header, unique_id_});
  }

  asio::awaitable<RelayResult> relay_response(const config::Proxy& b,
                                              const balancing::BackendSnapshot& be,
                                              const balancing::Server* srv, bool client_keep,
                                              bool cookie_valid) {
    RelayResult rr;
    auto rstart = Clock::now();
    if (!sbuf_) sbuf_ = w_.take_buffer();
    // Response bytes counted so far: as they go with `option contstats`,
    // else all at the end.
    uint64_t counted_out = 0;
    auto count_out = [&] {
      const uint64_t d = rr.bytes_out - counted_out;
      srv->live->counters.add(Counter::BytesOut, d);
      be.live->counters.add(Counter::BytesOut, d);
      fe_.live->counters.add(Counter::BytesOut, d);
      counted_out = rr.bytes_out;
    };
    const bool contstats = fe_.cfg->contstats;
    size_t sn = 0;  // bytes in sbuf_
    bool any_byte = false;
    http1::Head resp;
    for (;;) {  // read heads until a final (non-1xx) one
      http1::Status st = http1::Status::Incomplete;
      while (st == http1::Status::Incomplete) {
        if (sn > 0) {
          st = http1::parse_response(sbuf_.get(), sn, resp, b.accept_invalid_response);
          if (st != http1::Status::Incomplete) break;
          if (sn == kBufSize) {
            st = http1::Status::Error;
            break;
          }
        }
        set_deadline(Phase::Server, b.timeouts.server);
        auto [ec, n] = co_await upstream_.read_async(asio::buffer(sbuf_.get() + sn, kBufSize - sn));
        if (ec) {
          rr.end = timed_out_     ? RelayEnd::ServerTimeout
                   : pump_failed_ ? RelayEnd::ClientFailed
                                  : RelayEnd::ServerFailed;
          rr.server_silent = !any_byte;
          co_return rr;
        }
        any_byte = true;
        sn += n;
      }
      if (st == http1::Status::Error) {
        rr.end = RelayEnd::ProtocolError;
        co_return rr;
      }
      if (debug::on()) trace_.response(sbuf_.get(), resp);
      stop_watch();        // the answer comes: a close from now on is the client's abort
      if (client_gone_) {  // it closed just before (one_request answers CH)
        rr.end = RelayEnd::ServerFailed;
        co_return rr;
      }
      if (resp.status >= 100 && resp.status < 200 && resp.status != 101) {
        // Interim response (100 Continue): forward it, keep reading. It has
        // no body: Content-Length and Transfer-Encoding go (as haproxy drops
        // them), names lower-cased as in every response head.
        build_interim_head(out_, sbuf_.get(), resp);
        set_deadline(Phase::ClientWrite, fe_timeout_client());
        auto [wec, wn] = co_await asio::async_write(client_, asio::buffer(out_), nothrow);
        if (wec) {
          rr.end = RelayEnd::ClientFailed;
          co_return rr;
        }
        // Not ClientSaw::Response: a server that fails after an interim answer
        // still owes the client a final one (haproxy's 502 follows the 100).
        rr.client_saw = ClientSaw::Interim;
        std::memmove(sbuf_.get(), sbuf_.get() + resp.head_len, sn - resp.head_len);
        sn -= resp.head_len;
        continue;
      }
      break;
    }
    rr.t_response = static_cast<long>(ms_since(rstart));
    rr.status = resp.status;
    if (may_retry_status_ && rr.client_saw == ClientSaw::Nothing) {
      const auto& st = b.retry_on.statuses;
      if (std::find(st.begin(), st.end(), resp.status) != st.end()) {
        rr.end = RelayEnd::RetryStatus;  // `retry-on <status>`: this answer is dropped
        co_return rr;
      }
    }
    const char* sb = sbuf_.get();
    const ResponseEdits* edits = nullptr;
    if (!b.http_response.empty() || !fe_.cfg->http_response.empty()) {
      RequestView rv{nullptr,   nullptr,       src_ip_, src_port_, dst_ip_,
                     dst_port_, client_.tls(), sb,      &resp};
      rv.vars = &vars_;
      rr.status = apply_response_rules(resp_edits_, rv, *fe_.cfg, b);
      if (rr.status) {
        rr.end = RelayEnd::Denied;
        co_return rr;
      }
      rr.status = resp_edits_.status ? resp_edits_.status : resp.status;
      edits = &resp_edits_;
    }
    if (resp.status == 101) {
      // haproxy 2.6 switches protocols only for a request that asked
      // (Connection: upgrade, no body) and, for WebSocket, on an answer with
      // a Sec-WebSocket-Accept; any other 101 is an invalid answer (502).
      if (!upgrade_ || (resp.upgrade && resp.upgrade_websocket && !resp.websocket_accept)) {
        rr.end = RelayEnd::ProtocolError;
        co_return rr;
      }
      co_await tunnel(b, sn, resp, rr);
      co_return rr;
    }

    // Response framing.
    const bool has_body = http1::response_has_body(method_, resp.status) && resp.status != 101;
    int64_t remaining = has_body ? resp.content_length : 0;  // -1: until close or chunked
    bool chunked = has_body && resp.chunked;
    bool until_close = has_body && !chunked && resp.content_length < 0;
    bool server_keep =
        !server_close_ && !until_close &&
        ((resp.version == 11 && !resp.conn_close) || (resp.version == 10 && resp.conn_keep_alive));
    // Transfer-Encoding in an HTTP/1.0 response is faulty framing
    // (RFC 9112 §6.1): the client connection closes after it, as haproxy's.
    bool keep = client_keep && !until_close && !stop_close() && !(resp.version == 10 && chunked);

    // Client head (rewrite.h).
    build_client_head(
        out_, {sb, resp, b, chunked, keep, req_is_10_, cookie_valid, srv->cookie, method_, edits});

    // Body bytes already buffered.
    size_t body_avail = sn - resp.head_len;
    size_t take = body_avail;
    bool done = !has_body;
    http1::ChunkedScanner scan;
    if (has_body) {
      if (chunked) {
        size_t used = 0;
        resp_out_.clear();
        auto r = scan.feed(sb + resp.head_len, body_avail, used, &resp_out_);
        if (r == http1::ChunkedScanner::Result::Error) {
          rr.end = RelayEnd::ProtocolError;
          co_return rr;
        }
        take = used;
        done = r == http1::ChunkedScanner::Result::Done;
      } else if (remaining >= 0) {
        take = static_cast<size_t>(std::min<int64_t>(remaining, static_cast<int64_t>(body_avail)));
        remaining -= static_cast<int64_t>(take);
        done = remaining == 0;
      }
    } else {
      take = 0;
    }
    if (take < body_avail) server_keep = false;  // stray bytes after the response

    set_deadline(Phase::ClientWrite, fe_timeout_client());
    std::array<asio::const_buffer, 2> bufs{
        asio::buffer(out_),
        chunked ? asio::buffer(resp_out_) : asio::buffer(sb + resp.head_len, take)};
    // The rest of a body no rule reads, when policy allows and both sides
    // are plain sockets: socket to socket through a pipe (splice.h), the
    // same accounting and ends as the copy below.
    const SplicePolicy sp = splice_policy(*fe_.cfg, b);
    const bool to_splice =
        !done && !chunked && !client_.tls() && !upstream_.tls() &&
        (sp.response ||
         (sp.auto_response && (until_close || remaining >= static_cast<int64_t>(kBufSize))));
    // MSG_MORE when the buffer was full (the rest of the body is most likely
    // there already) and the rest is copied: before a splice it doubled the
    // kernel's time per 1 MiB response.
    auto [wec, wn] =
        co_await write_all(client_, bufs, may_hold_ && !done && sn == kBufSize && !to_splice);
    rr.client_saw = ClientSaw::Response;
    rr.bytes_out += wn;
    if (contstats) count_out();
    if (wec) {
      rr.end = RelayEnd::ClientFailed;
      co_return rr;
    }
    bool spliced_failed = false;
    if (to_splice) {
      if (Pipe pipe = w_.pipe_pool().take()) {
        SpliceWait waited = SpliceWait::Source;
        auto res = co_await splice_relay(
            upstream_.socket(), client_.socket(), pipe, until_close ? -1 : remaining,
            [&](SpliceWait s) {
              waited = s;
              if (contstats) count_out();
              if (s == SpliceWait::Source)
                set_deadline(Phase::Server, b.timeouts.server);
              else
                set_deadline(Phase::ClientBody, fe_timeout_client());
            },
            &rr.bytes_out);
        w_.pipe_pool().give(pipe);
        using E = SpliceResult::End;
        const bool server_side = res.end == E::FromError || res.end == E::Eof ||
                                 (res.end == E::Aborted && waited == SpliceWait::Source);
        if (res.end == E::Done || (res.end == E::Eof && until_close)) {
          remaining = 0;
          done = true;
        } else if (server_side) {
          rr.end = timed_out_ ? RelayEnd::ServerTimeout : RelayEnd::ServerFailed;
          keep = false;
          spliced_failed = true;
        } else {
          rr.end = RelayEnd::ClientFailed;
          keep = false;
          spliced_failed = true;
        }
      }
    }
    // Stream the rest through the fixed buffer.
    while (!done && !spliced_failed) {
      set_deadline(Phase::Server, b.timeouts.server);
      auto [ec, n] = co_await read_more(upstream_, asio::buffer(sbuf_.get(), kBufSize));
      if (ec) {
        if (until_close && ec == asio::error::eof) {
          done = true;
          break;
        }
        rr.end = timed_out_ ? RelayEnd::ServerTimeout : RelayEnd::ServerFailed;
        keep = false;
        break;
      }
      size_t chunk = n;
      if (chunked) {
        size_t used = 0;
        resp_out_.clear();
        auto r = scan.feed(sbuf_.get(), n, used, &resp_out_);
        if (r == http1::ChunkedScanner::Result::Error) {
          rr.end = RelayEnd::ServerFailed;
          keep = false;
          break;
        }
        chunk = used;
        done = r == http1::ChunkedScanner::Result::Done;
      } else if (remaining >= 0) {
        chunk = static_cast<size_t>(std::min<int64_t>(remaining, static_cast<int64_t>(n)));
        remaining -= static_cast<int64_t>(chunk);
        done = remaining == 0;
      }
      if (chunk < n) server_keep = false;
      set_deadline(Phase::ClientBody, fe_timeout_client());
      auto body = chunked ? asio::buffer(resp_out_) : asio::buffer(sbuf_.get(), chunk);
      auto [wec2, wn2] = co_await write_all(client_, body, may_hold_ && !done && n == kBufSize);
      rr.bytes_out += wn2;
      if (contstats) count_out();
      if (wec2) {
        rr.end = RelayEnd::ClientFailed;
        keep = false;
        break;
      }
    }
    // Accounting.
    auto sc = status_counter(resp.status);
    srv->live->counters.add(sc);
    be.live->counters.add(sc);
    fe_.live->counters.add(sc);
    count_out();
    // Keep the server connection for reuse when the exchange ended cleanly.
    const bool client_failed = rr.end == RelayEnd::ClientFailed;
    if (done && !pump_done_ && !pump_failed_ && !client_failed) {
      // The server answered before the request body was all sent (it may
      // discard it): the caller lets the upload finish, then decides.
      rr.reuse_after_pump =
          server_keep && !rr.server_side_failure() && !srv->send_proxy && !upstream_private_;
    } else if (done && server_keep && pump_done_ && !rr.server_side_failure() && !client_failed &&
               !srv->send_proxy && !upstream_private_) {
      keep_upstream(srv);
    } else {
      boost::system::error_code ec;
      upstream_.close(ec);
    }
    rr.keep_client = keep && done && !client_failed;
    co_return rr;
  }

  // 101 Switching Protocols: forward the head as the server sent it (names
  // lower-cased), then copy bytes both ways until either side closes. The
  // deadline is `timeout tunnel` (else client/server) from the last byte.
  asio::awaitable<void> tunnel(const config::Proxy& b, size_t sn, const http1::Head& resp,
                               RelayResult& rr) {
    const char* sb = sbuf_.get();
    out_.clear();
    out_.append(sb, resp.head_len);
    // Lower-case header names in place, as for every response.
    size_t line = out_.find('\n') + 1;
    while (line < out_.size() && out_[line] != '\r' && out_[line] != '\n') {
      for (size_t i = line; i < out_.size() && out_[i] != ':'; ++i)
        if (out_[i] >= 'A' && out_[i] <= 'Z') out_[i] = static_cast<char>(out_[i] + 32);
      line = out_.find('\n', line) + 1;
    }
    out_.append(sb + resp.head_len, sn - resp.head_len);
    const int64_t idle = b.timeouts.tunnel ? b.timeouts.tunnel
                         : fe_.cfg->timeouts.tunnel
                             ? fe_.cfg->timeouts.tunnel
                             : std::max(fe_timeout_client(), b.timeouts.server);
    set_deadline(Phase::ClientWrite, idle);
    auto [wec, wn] = co_await asio::async_write(client_, asio::buffer(out_), nothrow);
    rr.client_saw = ClientSaw::Response;
    rr.bytes_out += wn;
    if (wec) {
      rr.end = RelayEnd::ClientFailed;
      co_return;
    }
    // Client bytes that arrived after the request belong to the tunnel (the
    // buffer is already past the request: an upgrade has no body).
    if (cend_ > cbeg_) {
      auto [ec, n] = co_await asio::async_write(
          upstream_, asio::buffer(cbuf_.get() + cbeg_, cend_ - cbeg_), nothrow);
      (void)n;
      if (ec) co_return;
    }
    cbeg_ = cend_ = 0;
    // Then bytes both ways, half-closes passed on, until both sides closed
    // (tunnel.h), under the tunnel's idle deadline instead of the session's.
    set_deadline(Phase::ClientBody, 0);
    TunnelResult t = co_await run_tunnel(
        client_, upstream_,
        {cbuf_.get(), sbuf_.get(), kBufSize, &w_.pipe_pool(), splice_policy(*fe_.cfg, b), {}},
        {idle, fe_.cfg->timeouts.client_fin, b.timeouts.server_fin}, &closed_);
    rr.bytes_out += t.to_client;
    boost::system::error_code ign;
    upstream_.close(ign);
    rr.keep_client = false;
  }

  // Streams the rest of the request body from the client to the server.
  // Whether the rest of an upload, `left` bytes of a Content-Length body (-1
  // chunked), goes through a pipe (splice.h) to a server over TLS or not.
  bool upload_spliced(const config::Proxy& be, int64_t left, bool server_tls) const {
    const SplicePolicy sp = splice_policy(*fe_.cfg, be);
    return left > 0 && !client_.tls() && !server_tls &&
           (sp.request || (sp.auto_request && left >= static_cast<int64_t>(kBufSize)));
  }

  asio::awaitable<void> pump_request_body() {
    auto self = shared_from_this();
    // body_len_ > 0: count what is left; chunked: the scanner decides.
    int64_t left = body_len_ > 0 ? body_left_ : -1;
    // The main coroutine's deadline covers the whole exchange.
    // A Content-Length body goes through a pipe when policy allows (splice.h).
    if (upload_spliced(*pump_be_, left, upstream_.tls() != nullptr)) {
      if (Pipe pipe = w_.pipe_pool().take()) {
        uint64_t moved = 0;
        auto res = co_await splice_relay(
            client_.socket(), upstream_.socket(), pipe, left, [](SpliceWait) {}, &moved);
        fe_.live->counters.add(Counter::BytesIn, moved + pipe.held);  // read from the client
        bytes_in_ += moved + pipe.held;
        w_.pipe_pool().give(pipe);
        using E = SpliceResult::End;
        if (res.end == E::Done) {
          pump_done_ = true;
          co_return;
        }
        pump_failed_ = true;
        if (res.end != E::ToError) {
          boost::system::error_code e2;
          upstream_.cancel(e2);
        }
        co_return;
      }
    }
    for (;;) {
      auto [ec, n] = co_await read_more(client_, asio::buffer(cbuf_.get(), kBufSize));
      if (ec) {
        pump_failed_ = true;
        boost::system::error_code e2;
        upstream_.cancel(e2);
        co_return;
      }
      size_t use = n;
      bool done = false;
      if (left >= 0) {
        use = static_cast<size_t>(std::min<int64_t>(left, static_cast<int64_t>(n)));
        left -= static_cast<int64_t>(use);
        done = left == 0;
      } else {
        size_t used = 0;
        pump_out_.clear();
        auto r = chunks_.feed(cbuf_.get(), n, used, &pump_out_);
        if (r == http1::ChunkedScanner::Result::Error) {
          pump_failed_ = true;
          boost::system::error_code e2;
          upstream_.cancel(e2);
          co_return;
        }
        use = used;
        done = r == http1::ChunkedScanner::Result::Done;
      }
      fe_.live->counters.add(Counter::BytesIn, use);
      bytes_in_ += use;
      auto out = left >= 0 ? asio::buffer(cbuf_.get(), use) : asio::buffer(pump_out_);
      auto [wec, wn] = co_await write_all(upstream_, out, may_hold_ && !done && n == kBufSize);
      (void)wn;
      if (wec) {
        pump_failed_ = true;
        co_return;
      }
      if (done) {
        cbeg_ = use;
        cend_ = n;
        pump_done_ = true;
        co_return;
      }
    }
  }

  // `option abortonclose`: while the request waits for its server (queue,
  // connect, response head), a client that closes its side aborts it, as
  // haproxy's: the queue wait or the server connection is cancelled and
  // one_request() ends it (CQ, CC, CH). A readable socket is peeked at: end
  // of stream or an error is the close; bytes (a pipelined request) end the
  // watch. Not for TLS clients (their close_notify precedes the FIN).
  void watch_client_close() {
    if (client_.tls()) return;
    aoc_watch_ = true;
    client_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this(), gen = aoc_gen_](boost::system::error_code ec) {
                         self->on_client_readable(ec, gen);
                       });
  }
  void on_client_readable(boost::system::error_code ec, uint32_t gen) {
    if (gen != aoc_gen_ || !aoc_watch_ || closed_) return;  // a watch that was stopped
    aoc_watch_ = false;
    if (ec) return;
    char b;
    ssize_t n = ::recv(client_.socket().native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return;  // bytes of a next request: not a close
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return watch_client_close();
    client_gone_ = true;
    qabort_.aborted = true;
    if (auto t = qabort_.event.lock()) t->cancel();
    boost::system::error_code ign;
    upstream_.cancel(ign);
  }
  void stop_watch() {
    if (!aoc_watch_) return;
    aoc_watch_ = false;
    ++aoc_gen_;
    boost::system::error_code ign;
    client_.cancel(ign);  // nothing else is pending on the client while watched
  }
  // The request ends because its client left (abortonclose): CQ and CC
  // without an answer, CH with haproxy's 400 (what haproxy 2.6 sends).
  asio::awaitable<bool> client_aborted(const char* term, const std::string& server,
                                       const balancing::BackendSnapshot& be,
                                       const balancing::Server* srv, long t_request, long t_queue,
                                       long t_connect) {
    be.live->counters.add(Counter::CliAborts);
    if (srv) srv->live->counters.add(Counter::CliAborts);
    boost::system::error_code ign;
    upstream_.close(ign);
    if (term[1] == 'H') {
      // haproxy's 400 as its HTTP layer sends it (lower-case fields, closing),
      // not the capitalised one of a request that does not parse.
      reply_tc_ = t_connect;
      const auto& files =
          err_be_ && err_be_->errorfiles.count(400) ? err_be_->errorfiles : fe_.cfg->errorfiles;
      std::string bytes;
      if (files.count(400)) {
        bytes = error_response(files, 400, true, false, req_.version == 10, is_head_).bytes;
      } else {
        const std::string page = builtin_response(400, true, false);
        const std::string body = page.substr(page.find("\r\n\r\n") + 4);
        bytes = "HTTP/1.1 400 Bad request\r\ncontent-length: " + std::to_string(body.size()) +
                "\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: "
                "close\r\n\r\n" +
                (is_head_ ? std::string() : body);
      }
      co_await local_reply(std::move(bytes), 400, term, false, false, server, be.name, t_queue, 0,
                           true);
      co_return false;
    }
    release_server();
    if (fe_.logs) {
      LogRecord r = base_log(server, be.name);
      r.tr = t_request;
      r.tw = t_queue;
      r.tc = t_connect;
      r.status = -1;
      std::memcpy(r.term, term, 4);
      r.request_line = request_line_;
      w_.shared.hooks.log(*fe_.cfg, r);
    }
    co_return false;
  }

  // Answers with one of HAProxy's own responses (503 etc.).
  // `consumed`: the request (head and body) was forwarded and the buffer is
  // already past it; otherwise its body is skipped here when it is all in the
  // buffer, and the connection closes when it is not.
  asio::awaitable<bool> local_error(int status, const char* term, bool keep, bool http10_close,
                                    const std::string& server, const std::string& backend,
                                    long t_queue = -1, int retries = 0, bool consumed = false,
                                    long t_request = 0) {
    // The backend's errorfile for this status when a backend was chosen,
    // else the frontend's (haproxy's http_error_message()).
    const auto& files =
        err_be_ && err_be_->errorfiles.count(status) ? err_be_->errorfiles : fe_.cfg->errorfiles;
    ErrorReply reply = error_response(files, status, !keep || http10_close, http10_close,
                                      req_.version == 10, is_head_);
    co_return co_await local_reply(std::move(reply.bytes), status, term, keep && !reply.closes,
                                   http10_close, server, backend, t_queue, retries, consumed,
                                   t_request);
  }

  // An http-request rule's final answer: deny (HAProxy's page, `PR--`) or
  // redirect (`LR--`).
  // `px`: the proxy whose rule it is (auth's default realm, tarpit's timeout).
  // `server`: the log's server field (`<STATS>` for `stats http-request`).
  asio::awaitable<bool> final_rule(const config::HttpRequestRule& rule, const RequestView& rv,
                                   bool keep, bool http10_close, const std::string& backend,
                                   const config::Proxy& px, const std::string& server = "<NOSRV>") {
    using A = config::HttpRequestRule::Action;
    if (rule.action == A::Redirect)
      co_return co_await local_reply(redirect_response(rule, rv, http10_close), rule.status, "LR--",
                                     keep, http10_close, "<NOSRV>", backend);
    if (rule.action == A::Auth)
      co_return co_await local_reply(
          unauthorized_response(rule.realm.empty() ? px.name : rule.realm, http10_close, is_head_),
          401, "LR--", keep, http10_close, server, backend);
    if (rule.action == A::Tarpit) {
      // Held for `timeout tarpit`, then answered (haproxy logs the wait as
      // Tw, with no complete-request time: TR is -1).
      const auto held_from = Clock::now();
      if (px.timeouts.tarpit > 0) {
        asio::steady_timer t(w_.ioc);
        t.expires_after(std::chrono::milliseconds(px.timeouts.tarpit));
        co_await t.async_wait(nothrow);
        if (closed_) co_return false;
      }
      const long held = static_cast<long>(ms_since(held_from));
      co_return co_await local_error(rule.status, "PT--", keep, http10_close, "<NOSRV>", backend,
                                     held, 0, false, -1);
    }
    co_return co_await local_error(rule.status, "PR--", keep, http10_close, server, backend);
  }

  // Sends `resp`, a response herd made, and logs it (see local_error).
  asio::awaitable<bool> local_reply(std::string resp, int status, const char* term, bool keep,
                                    bool http10_close, const std::string& server,
                                    const std::string& backend, long t_queue = -1, int retries = 0,
                                    bool consumed = false, long t_request = 0) {
    stop_watch();
    release_server();
    bool close = !keep || http10_close;
    set_deadline(Phase::ClientWrite, fe_timeout_client());
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(resp), nothrow);
    fe_.live->counters.add(status_counter(status));
    fe_.live->counters.add(Counter::BytesOut, n);
    if (fe_.logs) {
      LogRecord r = base_log(server, backend);
      r.tr = t_request;
      r.tw = t_queue;
      r.tc = reply_tc_;
      r.status = status;
      r.bytes_out = n;
      std::memcpy(r.term, term, 4);
      r.retries = retries;
      r.request_line = request_line_;
      w_.shared.hooks.log(*fe_.cfg, r);
    }
    if (consumed) co_return !ec && !close;
    // Skip a request body we never forwarded (only when it is all here).
    size_t body = body_len_ > 0 ? static_cast<size_t>(body_len_) : 0;
    if (body_len_ == -2) close = true;
    if (cend_ - cbeg_ >= req_.head_len + body) {
      cbeg_ += req_.head_len + body;
    } else {
      close = true;
    }
    co_return !ec && !close;
  }

  // `monitor-uri`: 200 "Service ready", or 503 when a `monitor fail`
  // condition holds (the frontend's errorfiles apply); counted as an
  // intercepted request and not logged, as haproxy 2.6.
  asio::awaitable<bool> answer_monitor(const RequestView& rv, bool keep, bool http10_close) {
    bool fail = false;
    for (const auto& c : fe_.cfg->monitor_fail)
      if (eval_condition(c, *fe_.cfg, rv)) fail = true;
    const int status = fail ? 503 : 200;
    // (`connection: close` whenever the connection ends, HTTP/1.1 too.)
    ErrorReply reply = error_response(fe_.cfg->errorfiles, status, !keep || http10_close,
                                      !keep || http10_close, req_.version == 10, is_head_);
    fe_.live->counters.add(Counter::Intercepted);
    fe_.live->counters.add(status_counter(status));
    bool close = !keep || http10_close || reply.closes || body_len_ == -2;
    size_t body = body_len_ > 0 ? static_cast<size_t>(body_len_) : 0;
    if (cend_ - cbeg_ >= req_.head_len + body)
      cbeg_ += req_.head_len + body;
    else
      close = true;
    set_deadline(Phase::ClientWrite, fe_timeout_client());
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(reply.bytes), nothrow);
    fe_.live->counters.add(Counter::BytesOut, n);
    co_return !ec && !close;
  }

  // The stats page of `px`: the frontend's, or the backend's the request
  // was routed to (then the frontend does not count it as intercepted, as
  // haproxy).
  asio::awaitable<bool> serve_stats(const config::Proxy& px, bool client_keep) {
    const char* base = cbuf_.get() + cbeg_;
    RequestView rv{base, &req_, src_ip_, src_port_, dst_ip_, dst_port_, client_.tls()};
    rv.vars = &vars_;
    // `stats http-request` rules: a deny or auth answers instead of the page.
    if (const auto* fin = stats_rule_verdict(px, rv))
      co_return co_await final_rule(*fin, rv, client_keep,
                                    req_.version == 10 && !req_.conn_keep_alive, px.name, px,
                                    "<STATS>");
    StatsRequest sr = make_stats_request(px, rv, is_head_);
    if (&px == fe_.cfg) fe_.live->counters.add(Counter::Intercepted);
    size_t body = body_len_ > 0 ? static_cast<size_t>(body_len_) : 0;
    bool keep = client_keep && body_len_ != -2;
    // Read a (small) POST body completely.
    if (body > 0) {
      if (body > kBufSize - req_.head_len)
        co_return co_await local_error(400, "PR--", false, true, "<STATS>", fe_.cfg->name);
      while (cend_ - cbeg_ < req_.head_len + body) {
        if (cbeg_ > 0) {
          std::memmove(cbuf_.get(), cbuf_.get() + cbeg_, cend_ - cbeg_);
          cend_ -= cbeg_;
          cbeg_ = 0;
          base = cbuf_.get();
        }
        set_deadline(Phase::Request, request_timeout(false));
        auto [ec, n] =
            co_await client_.read_async(asio::buffer(cbuf_.get() + cend_, kBufSize - cend_));
        if (ec) co_return false;
        cend_ += n;
      }
      sr.body.assign(cbuf_.get() + cbeg_ + req_.head_len, body);
    }
    cbeg_ += req_.head_len + body;
    std::string resp = co_await answer_stats(w_, std::move(sr));
    set_deadline(Phase::ClientWrite, fe_timeout_client());
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(resp), nothrow);
    fe_.live->counters.add(Counter::BytesOut, n);
    fe_.live->counters.add(status_counter(resp.size() > 12 ? std::atoi(resp.c_str() + 9) : 0));
    if (fe_.logs) {
      LogRecord r = base_log("<STATS>", px.name);
      r.tr = 0;
      r.status = resp.size() > 12 ? std::atoi(resp.c_str() + 9) : 0;
      r.bytes_out = n;
      std::memcpy(r.term, "LR--", 4);
      r.request_line = request_line_;
      w_.shared.hooks.log(*fe_.cfg, r);
    }
    // The applet's responses carry connection: close when they end by closing.
    bool resp_closes = resp.find("\r\nconnection: close\r\n") != std::string::npos ||
                       resp.find("content-length") == std::string::npos;
    co_return !ec && keep && !resp_closes;
  }

  Worker& w_;
  const FrontendRt& fe_;
  // `-d`'s lines for the request in progress (debug_trace.h).
  void trace_begin() {
    const tls::Conn* t = client_.tls();
    trace_.begin(fe_.cfg->name, w_.listener_fd(client_.socket()), client_.socket().native_handle(),
                 src_ip_ + ':' + std::to_string(src_port_), t ? t->alpn() : std::string_view());
    trace_.request(cbuf_.get() + cbeg_, req_);
  }
  debug::StreamTrace trace_;
  Stream client_;    // TLS or not (stream.h)
  Stream upstream_;  // TLS to `server ... ssl` (stream.h)
  asio::steady_timer watchdog_;
  bool watchdog_armed_ = false;
  Clock::time_point deadline_{};
  bool park_ = false;              // leaving for the parking lot (request_park)
  bool park_first_ = false;        // parked before its first request
  Clock::time_point accepted_ = Clock::now();  // or the parked connection's
  bool resumed_ = false;           // made by the parking lot: the socket is readable
  bool v6_ = false;                // the client connection's family
  bool may_retry_status_ = false;  // relay_response may drop a `retry-on` status
  Phase phase_ = Phase::Idle;
  bool timed_out_ = false;
  bool closed_ = false;
  int8_t stop_close_ = -1;  // stop_close(): -1 not decided for this request
  // `option abortonclose` (watch_client_close): the client closed while its
  // request waited; the watch's generation tells a stale completion apart.
  bool aoc_watch_ = false, client_gone_ = false;
  uint32_t aoc_gen_ = 0;
  QueueAbort qabort_;
  long reply_tc_ = -1;  // the connect time a local reply logs (-1: none)  // stop_close(): -1 not
                        // decided for this request

  std::unique_ptr<char[]> cbuf_;  // from the worker's pool while in use (see run())
  size_t cbeg_ = 0, cend_ = 0;
  std::unique_ptr<char[]> sbuf_;
  std::string out_;
  AddedFields added_;  // http-request additions, reused (rewrite.h)
  ResponseEdits resp_edits_;  // http-response edits, reused (rewrite.h)
  std::string pp_;            // a `send-proxy` header being sent
  bool upstream_private_ = false;  // the server connection carries the client's address
  http1::Head req_;
  http1::ChunkedScanner chunks_;
  std::string framed_;    // the request body's first bytes, re-framed (chunked)
  std::string pump_out_;  // a piece of the request body, re-framed (chunked)
  std::string resp_out_;  // a piece of the response body, re-framed (chunked)
  int64_t body_len_ = 0;  // -2 chunked
  int64_t body_left_ = 0;
  bool pump_done_ = true, pump_failed_ = false;
  const config::Proxy* pump_be_ = nullptr;         // the backend the body goes to
  std::shared_ptr<asio::steady_timer> pump_wake_;  // cancelled when the body pump ends
  bool is_head_ = false, req_is_10_ = false, server_close_ = false, upgrade_ = false;
  std::string method_;
  std::string request_target_;
  std::string request_line_;
  std::string accept_date_;
  // log-format facts of the current request (LogRecord): its counter, its
  // wall-clock start, the idle time before it (from idle_since_: the
  // accept, then the end of the previous request), the bytes it sent.
  uint64_t req_id_ = 0;
  std::chrono::system_clock::time_point req_date_{};
  long ti_ = 0;
  Clock::time_point idle_since_{};
  uint64_t bytes_in_ = 0;
  std::string unique_id_;
  bool unique_id_made_ = false;
  tcp::endpoint upstream_local_;  // the server connection's source (%bi:%bp)
  Vars vars_;  // set-var's variables: sess.* for the connection, the others per request

  std::string src_ip_, dst_ip_;
  uint16_t src_port_ = 0, dst_port_ = 0;
  uint32_t client_v4_ = 0;
  Clock::time_point start_{};
  // Valid while hold_ pins the snapshot that holds them.
  Worker::SnapHold* hold_ = nullptr;
  const balancing::Server* slot_srv_ = nullptr;  // holds a connection slot of it
  // The snapshot holding slot_srv_ when it is newer than hold_'s (a server
  // that came up while the request waited in the queue).
  std::shared_ptr<const balancing::PoolSnapshot> slot_keep_;
  int slot_backend_ = -1;
  balancing::BackendLive* backend_live_ = nullptr;
  const config::Proxy* err_be_ = nullptr;  // the request's backend, for its errorfiles
  tcp::endpoint ep_;
  std::string upstream_sni_;  // the SNI of a `server ... ssl` connection ("" none)
  // Writes may carry MSG_MORE (relay_io.h); not with `option http-no-delay`.
  bool may_hold_ = true;

  friend void stop_idle(Session* s);
  friend bool is_stuck(const Session* s);
};

// Idle for kParkAfter: the connection goes to the parking lot (parking.h)
// and the session ends; a stop (or no lot) closes it instead.
void Session::park() {
  if (!w_.aborting && park_connection(w_, client_.socket(), fe_, park_first_, v6_, deadline_,
                                      request_timeout(park_first_), accepted_)) {
    retire(true);
    w_.trim_buffers();
    return;
  }
  boost::system::error_code ec;
  client_.shutdown(tcp::socket::shutdown_send, ec);
  finish();
}

void resume_session(Worker& w, const FrontendRt& fe, tcp::socket sock, bool first,
                    Clock::time_point since) {
  std::make_shared<Session>(w, fe, std::move(sock))->resume(first, since);
}

void empty_first_request(Worker& w, const FrontendRt& fe, int fd, bool timeout,
                         Clock::time_point since, uint64_t req_id) {
  // `option http-ignore-probes`: a browser's pre-connection, not an error.
  if (fe.cfg->http_ignore_probes) return;
  const int status = timeout ? 408 : 400;
  fe.live->counters.add(Counter::ErrReq);
  fe.live->counters.add(status_counter(status));
  fe.live->counters.add(Counter::Requests);  // haproxy counts it in req_tot
  w.shared.process.counters.add(Counter::Requests);
  if (timeout) {
    // haproxy answers the 408 (errorfile honoured) before it closes; one
    // non-blocking send: the socket's buffer is empty, it fits.
    const std::string resp =
        error_response(fe.cfg->errorfiles, 408, true, true, false, false).bytes;
    (void)::send(fd, resp.data(), resp.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  if (!fe.logs || fe.cfg->dontlognull) return;
  LogRecord r;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "";
  uint16_t port = 0;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (ss.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      port = ntohs(a->sin6_port);
    }
  }
  r.client = std::string(host) + ":" + std::to_string(port);
  const auto waited = Clock::now() - since;
  r.accept_date = log_date_at(since);
  r.frontend = r.backend = fe.cfg->name;
  r.server = "<NOSRV>";
  r.ta = std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
  r.actconn = w.shared.process.conns.get();
  r.feconn = fe.live->sessions.get();
  r.status = status;
  std::memcpy(r.term, timeout ? "cR--" : "CR--", 4);
  r.request_line = "<BADREQ>";
  if (fe.cfg->log_format) {  // what log-format adds (LogRecord)
    len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      char local[INET6_ADDRSTRLEN] = "";
      const bool v4 = ss.ss_family == AF_INET;
      auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
      auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
      ::inet_ntop(ss.ss_family, v4 ? static_cast<void*>(&a4->sin_addr) : &a6->sin6_addr, local,
                  sizeof local);
      r.fe_ip = local;
      r.fe_port = ntohs(v4 ? a4->sin_port : a6->sin6_port);
    }
    r.req_id = req_id;
    RequestView rv{nullptr, nullptr, host, port, r.fe_ip, static_cast<uint16_t>(r.fe_port)};
    log_samples(*fe.cfg->log_format, rv, r.samples);
  }
  w.shared.hooks.log(*fe.cfg, r);
}

void request_park(IdleHook* h) { static_cast<Session*>(h)->request_park(); }

void start_session(Worker& w, const FrontendRt& fe, tcp::socket sock,
                   const tls::ServerContext* tls) {
  std::make_shared<Session>(w, fe, std::move(sock), tls)->start();
}

void start_session(Worker& w, const FrontendRt& fe, tcp::socket sock,
                   std::string_view first_bytes) {
  std::make_shared<Session>(w, fe, std::move(sock))->start(first_bytes);
}

void stop_idle(Session* s) { s->stop_idle(); }
void abort_session(Session* s) { s->abort(); }

bool is_stuck(const Session* s) {
  return s->phase_ == Session::Phase::Idle && Clock::now() > s->deadline_ + std::chrono::seconds(1);
}

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
