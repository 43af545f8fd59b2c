// proxy/session.cpp — one client connection: read a request head, route it,
// pick a server from the worker's pool snapshot, relay the request and the
// response with bounded buffers, keep both sides alive when HTTP allows.
//
// Thread rules: a Session lives on one worker thread; all of its coroutines
// run on that worker's io_context.
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstring>
#include <ctime>
#include <map>

#include "proxy/exchange_outcome.h"
#include "proxy/http1.h"
#include "proxy/responses.h"
#include "proxy/rules.h"
#include "proxy/server_slot.h"
#include "proxy/tunnel.h"
#include "proxy/worker.h"

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

// "HTTP/1.1 <status>[ <reason>]\r\n": the status line of every response
// head herd sends on (the server's version is not passed through).
void append_status_line(std::string& out, const char* head, const http1::Head& resp) {
  out += "HTTP/1.1 ";
  out.append(head + 9, 3);
  if (!resp.reason.empty()) {
    out += ' ';
    out.append(resp.reason);
  }
  out += "\r\n";
}

void lower_append(std::string& out, std::string_view s) {
  size_t n = out.size();
  out.append(s);
  for (size_t i = n; i < out.size(); ++i) {
    char c = out[i];
    if (c >= 'A' && c <= 'Z') out[i] = static_cast<char>(c + 32);
  }
}

bool is_hop_by_hop(std::string_view name) {
  return http1::iequals(name, "connection") || http1::iequals(name, "keep-alive") ||
         http1::iequals(name, "proxy-connection");
}

// Appends "connection: <options>\r\n" with the options of a received
// Connection value less close and keep-alive; nothing when none is left.
void append_connection_options(std::string& out, std::string_view value) {
  const size_t start = out.size();
  out += "connection: ";
  const size_t first = out.size();
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view t = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t.empty() || http1::iequals(t, "close") || http1::iequals(t, "keep-alive")) continue;
    if (out.size() > first) out += ", ";
    out.append(t);
  }
  if (out.size() == first) {
    out.resize(start);
  } else {
    out += "\r\n";
  }
}

Counter status_counter(int st) {
  if (st >= 100 && st < 200) return Counter::Http1xx;
  if (st < 300) return Counter::Http2xx;
  if (st < 400) return Counter::Http3xx;
  if (st < 500) return Counter::Http4xx;
  if (st < 600) return Counter::Http5xx;
  return Counter::HttpOther;
}

// Whether a response may be cached by a shared cache (HAProxy's test for
// `cookie ... nocache`): method, status and explicit freshness.
bool response_cacheable(std::string_view method, int status, const char* base,
                        const http1::Head& h) {
  if (method != "GET" && method != "HEAD" && method != "OPTIONS" && method != "TRACE") return false;
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 206:
    case 300:
    case 301:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
      break;
    default:
      return false;
  }
  bool fresh = false;
  for (size_t i = 0; i < h.nfields; ++i) {
    auto n = h.name(base, i);
    auto v = h.value(base, i);
    if (http1::iequals(n, "pragma") && v.find("no-cache") != std::string_view::npos) return false;
    if (http1::iequals(n, "cache-control")) {
      std::string lv;
      lower_append(lv, v);
      if (lv.find("private") != std::string::npos || lv.find("no-cache") != std::string::npos ||
          lv.find("no-store") != std::string::npos || lv.find("max-age=0") != std::string::npos)
        return false;
      if (lv.find("max-age") != std::string::npos || lv.find("s-maxage") != std::string::npos)
        fresh = true;
    }
    if (http1::iequals(n, "expires") || http1::iequals(n, "etag") ||
        http1::iequals(n, "last-modified"))
      fresh = true;
  }
  return fresh;
}

bool idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

}  // namespace

// A connection idle for kParkAfter is parked: its session (the object, its
// coroutine frames, its timer, Asio's state for the socket) is freed and the
// worker's parking lot keeps the file descriptor and the idle deadline in a
// 48-byte record (see "parking" below). Bytes arriving make a new session
// that carries on where the old one stopped; busy keep-alive connections (a
// request within kParkAfter) never park.
constexpr std::chrono::milliseconds kParkAfter{100};
void idle_enter(Worker& w, IdleHook* h);

class Session : public IdleHook, public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& w, const FrontendRt& fe, tcp::socket sock)
      : w_(w), fe_(fe), client_(std::move(sock)), upstream_(w.ioc), watchdog_(w.ioc) {}

  // A new connection: counted, then served from its first request on.
  void start() {
    boost::system::error_code ec;
    client_.set_option(tcp::no_delay(true), ec);
    client_.non_blocking(true, ec);  // read_some() returns would_block instead of waiting
    count_connection_open(w_, fe_);
    serve(true);
  }
  // A parked connection that became readable (already counted; `first`:
  // it has not sent a request yet).
  void resume(bool first) {
    resumed_ = true;
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
    if (rep.address().is_v4()) client_v4_ = rep.address().to_v4().to_uint();
    w_.sessions.push_back(this);
    auto self = shared_from_this();
    asio::co_spawn(w_.ioc, run(first), [self](std::exception_ptr e) {
      if (self->park_ && !e)
        self->park();
      else
        self->finish();
    });
  }

 public:
  // Soft stop: an idle keep-alive connection is closed at once.
  void close_if_idle() {
    if (phase_ == Phase::Idle) {
      boost::system::error_code ec;
      client_.cancel(ec);
    }
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
        if (r == Wait::Closed) break;
      }
      bool keep = co_await one_request(first);
      if (!keep || w_.stopping) break;
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
        auto [rec, rn] =
            co_await client_.async_read_some(asio::buffer(cbuf_.get(), kBufSize), nothrow);
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
        // Cancelled by the idle tick (and not by a timeout or a stop: those
        // close). Bytes that came first win: the connection is not parked.
        if (ec == asio::error::operation_aborted && !timed_out_ && !w_.stopping) {
          w_.give_buffer(std::move(cbuf_));
          co_return Wait::Park;
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
    std::string resp = error_response(fe_.cfg->errorfiles, status, true, false);
    set_deadline(Phase::ClientWrite, fe_timeout_client());
    co_await asio::async_write(client_, asio::buffer(resp), nothrow);
    fe_.live->counters.add(Counter::BytesOut, resp.size());
    if (fe_.logs) {
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
    return r;
  }

  // Chooses the backend index for the parsed request.
  int route(const RequestView& rv) const {
    for (const auto& r : fe_.routes)
      if (eval_condition(r.rule->cond, *fe_.cfg, rv)) return r.backend;
    return fe_.default_backend;
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
  }

  // Handles one request/response exchange. Returns whether the client
  // connection stays open.
  asio::awaitable<bool> one_request(bool first) {
    if (!co_await read_request_head(first)) co_return false;
    if (fe_.logs) accept_date_ = log_accept_date();
    const long t_request = static_cast<long>(ms_since(start_));

    const char* base = cbuf_.get() + cbeg_;
    RequestView rv{base, &req_, src_ip_, src_port_, dst_ip_, dst_port_};
    is_head_ = req_.method == "HEAD";
    req_is_10_ = req_.version == 10;
    method_.assign(req_.method);
    // A request framed by both Transfer-Encoding and Content-Length, or
    // chunked in HTTP/1.0, is answered and the connection closed (RFC 9112
    // §6.1, as haproxy): what follows it on the connection is not trusted.
    const bool suspect_framing = req_.te_and_cl || (req_.chunked && req_.version == 10);
    const bool client_keep =
        !fe_.close_client && !suspect_framing &&
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
      request_line_ += req_.version == 10 ? req_.version_str : std::string_view("HTTP/1.1");
    }

    // Body extent of this request.
    body_len_ = req_.chunked ? -2 : (req_.content_length > 0 ? req_.content_length : 0);

    // Stats applet.
    if (fe_.cfg->stats.enabled && w_.shared.hooks.stats && stats_uri_matches()) {
      co_return co_await serve_stats(client_keep);
    }

    hold_ = w_.pin();  // this request's snapshot, until release_server()
    const balancing::PoolSnapshot* snap = hold_->snap.get();
    int bi = route(rv);
    const balancing::BackendSnapshot* be =
        (bi >= 0 && static_cast<size_t>(bi) < snap->backends.size()) ? snap->backends[bi].get()
                                                                     : nullptr;
    const config::Proxy* bcfg = be ? w_.shared.backend_cfg[static_cast<size_t>(bi)] : nullptr;
    if (!be || !bcfg) {
      co_return co_await local_error(503, "SC--", client_keep, http10_close, "<NOSRV>",
                                     be ? be->name : fe_.cfg->name);
    }
    be->live->counters.add(Counter::Requests);
    be->live->counters.add(Counter::Sessions);
    be->live->inflight.inc();
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
    // Requests whose body is all here can be replayed on another connection.
    const bool replayable = body_complete;

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
    for (int attempt = 0;; ++attempt) {
      for (;;) {
        if (!srv || slot_srv_ != srv) {
          // Pick and queue (server_slot.h): a slot on the cookie's server
          // or on the balancer's choice, waiting in the queue when full.
          if (slot_srv_) release_server_slot();
          balancing::PickContext ctx;
          ctx.client_ipv4 = client_v4_;
          ctx.uri_path = request_path(request_target_);
          ctx.avoid = avoid;
          phase_ = Phase::Queue;
          SlotResult slot;
          slot.srv = try_slot_now(w_, bi, *be, ctx, srv);
          if (slot.srv)
            slot.status = SlotResult::Status::Ok;
          else
            slot = co_await acquire_slot(w_, bi, *be, *bcfg, ctx, srv);
          if (t_queue < 0) t_queue = 0;
          t_queue += slot.t_queue_ms;
          if (closed_) co_return false;
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
          slot_backend_ = bi;
          be->live->counters.add(Counter::QueueTimeMsSum, static_cast<uint64_t>(slot.t_queue_ms));
        }
        srv->live->counters.add(Counter::Sessions);
        ep_ = server_endpoint(*srv, dst_port_);

        auto cstart = Clock::now();
        reused = false;
        boost::system::error_code ec;
        // Only a request that can be replayed goes on an idle connection: the
        // server may close one at any moment (a close after its response
        // that has not arrived yet), and then the request is sent again on a
        // fresh one. A request whose body is still coming always gets a
        // fresh connection (an upload lost that race under CI load).
        if (auto idle = replayable && !fresh_only ? w_.upstreams.take(srv->live.get(), ep_)
                                                  : std::nullopt) {
          upstream_ = std::move(*idle);
          reused = true;
        } else {
          upstream_ = tcp::socket(w_.ioc);
          set_deadline(Phase::Connect, bcfg->timeouts.connect);
          auto [cec] = co_await upstream_.async_connect(ep_, nothrow);
          ec = cec;
          if (!ec) upstream_.set_option(tcp::no_delay(true), ec);
        }
        t_connect = static_cast<long>(ms_since(cstart));
        if (!ec) {
          // Send the head and whatever body is already here, in one write.
          set_deadline(Phase::Server, bcfg->timeouts.server);
          std::array<asio::const_buffer, 2> bufs{asio::buffer(out_), body_prefix(base, body_now)};
          auto [wec, wn] = co_await asio::async_write(upstream_, bufs, nothrow);
          ec = wec;
          if (!ec) srv->live->counters.add(Counter::BytesIn, wn);
        }
        if (!ec) break;
        // Connection failed.
        upstream_.close(ec);
        if (closed_) co_return false;
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
        pump_wake_ = std::make_shared<asio::steady_timer>(w_.ioc, Clock::time_point::max());
        asio::co_spawn(w_.ioc, pump_request_body(),
                       [wake = pump_wake_](std::exception_ptr) { wake->cancel(); });
      } else if (attempt == 0) {
        cbeg_ += req_.head_len + body_now;
      }

      // Response.
      may_retry_status_ = replayable && retries_left > 0 && !bcfg->retry_on.statuses.empty();
      rr = co_await relay_response(*bcfg, *be, srv, client_keep, cookie_valid);
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
        w_.upstreams.put(srv->live.get(), ep_, std::move(upstream_));
        upstream_ = tcp::socket(w_.ioc);
      } else {
        boost::system::error_code ign;
        upstream_.close(ign);
      }
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

  // The applet answers any request whose target starts with `stats uri`.
  bool stats_uri_matches() const {
    if (w_.shared.hooks.stats_matches) return w_.shared.hooks.stats_matches(*fe_.cfg, req_.target);
    return req_.target.starts_with(fe_.cfg->stats.uri);
  }

  void build_server_head(const RequestView& rv, const config::Proxy& b) {
    const char* base = rv.base;
    request_target_.assign(req_.target);
    out_.clear();
    out_.append(req_.method);
    out_ += ' ';
    out_.append(req_.target);
    out_ += ' ';  // 1.1 and above go as HTTP/1.1, older versions as received (haproxy)
    out_ += req_.version == 10 ? req_.version_str : std::string_view("HTTP/1.1");
    out_ += "\r\n";
    // Header edits from http-request rules (frontend, then backend), applied
    // in order; deletions mark fields, additions are appended after the
    // original fields.
    std::array<bool, http1::kMaxHeaders> drop{};
    nappended_ = 0;
    auto apply_rules = [&](const config::Proxy& px) {
      for (const auto& rule : px.http_request) {
        if (rule.cond && !eval_condition(*rule.cond, px, rv)) continue;
        using A = config::HttpRequestRule::Action;
        if (rule.action == A::SetHeader || rule.action == A::DelHeader) {
          for (size_t i = 0; i < req_.nfields; ++i)
            if (http1::iequals(req_.name(base, i), rule.name)) drop[i] = true;
          size_t keep = 0;  // drop earlier additions of this name, in order
          for (size_t i = 0; i < nappended_; ++i)
            if (!http1::iequals(appended_[i].first, rule.name))
              std::swap(appended_[keep++], appended_[i]);
          nappended_ = keep;
        }
        if (rule.action == A::SetHeader || rule.action == A::AddHeader) {
          if (nappended_ == appended_.size()) appended_.emplace_back();
          auto& [name, value] = appended_[nappended_++];
          name = rule.name;
          value.clear();
          append_format(value, rule.value, rv);
        }
      }
    };
    apply_rules(*fe_.cfg);
    if (&b != fe_.cfg) apply_rules(b);

    const bool strip_cookie_hdr = b.cookie.enabled && b.cookie.indirect;
    bool cl_sent = false;
    for (size_t i = 0; i < req_.nfields; ++i) {
      if (drop[i]) continue;
      auto n = req_.name(base, i);
      // The Connection header goes on less its close and keep-alive tokens
      // (herd states its own persistence below), and so do the fields it
      // nominates, Keep-Alive and Proxy-Connection: what haproxy 2.6 does.
      if (n.size() == 10 && http1::iequals(n, "connection")) {
        append_connection_options(out_, req_.value(base, i));
        continue;
      }
      if (http1::iequals(n, "content-length")) {
        // Dropped under Transfer-Encoding; otherwise sent once, normalised
        // ("3, 3" and repeated fields become one `content-length: 3`).
        if (req_.chunked || cl_sent) continue;
        cl_sent = true;
        if (req_.cl_normalise) {
          out_ += "content-length: ";
          out_ += std::to_string(req_.content_length);
          out_ += "\r\n";
          continue;
        }
      }
      // Several Host fields agree (the parser refuses them otherwise): one goes on.
      if (static_cast<int>(i) > req_.host_index && req_.host_index >= 0 && n.size() == 4 &&
          http1::iequals(n, "host"))
        continue;
      auto v = req_.value(base, i);
      if (static_cast<int>(i) == req_.host_index && method_ == "CONNECT") {
        // CONNECT's Host goes on without the port of http or https (:80,
        // :443), as haproxy normalises it.
        for (std::string_view port : {std::string_view(":80"), std::string_view(":443")}) {
          if (v.size() > port.size() && v.substr(v.size() - port.size()) == port) {
            v.remove_suffix(port.size());
            break;
          }
        }
      }
      // A request with a body does not switch protocols: its Upgrade field
      // goes (haproxy's choice; Connection: upgrade stays).
      if (req_.upgrade && !upgrade_ && body_len_ != 0 && n.size() == 7 &&
          http1::iequals(n, "upgrade"))
        continue;
      if (strip_cookie_hdr && http1::iequals(n, "cookie")) {
        std::string rest = strip_cookie(v, b.cookie.name);
        if (rest.empty()) continue;
        lower_append(out_, n);
        out_ += ": ";
        out_ += rest;
        out_ += "\r\n";
        continue;
      }
      lower_append(out_, n);
      out_ += ": ";
      out_.append(v);
      out_ += "\r\n";
    }
    for (size_t i = 0; i < nappended_; ++i) {
      const auto& [n, v] = appended_[i];
      lower_append(out_, n);
      out_ += ": ";
      out_ += v;
      out_ += "\r\n";
    }
    // option forwardfor: the frontend's or the backend's.
    const config::ForwardFor* ff =
        b.forwardfor.enabled ? &b.forwardfor
                             : (fe_.cfg->forwardfor.enabled ? &fe_.cfg->forwardfor : nullptr);
    if (ff && (ff->except_net.empty() || !ip_in_network(src_ip_, ff->except_net))) {
      bool present = false;
      if (ff->if_none) {
        for (size_t i = 0; i < req_.nfields && !present; ++i)
          present = !drop[i] && http1::iequals(req_.name(base, i), ff->header);
      }
      if (!present) {
        lower_append(out_, ff->header);
        out_ += ": ";
        out_ += src_ip_;
        out_ += "\r\n";
      }
    }
    // Connection header towards the server.
    server_close_ = b.conn_mode != config::HttpConnMode::KeepAlive ||
                    fe_.cfg->conn_mode == config::HttpConnMode::ServerClose ||
                    fe_.cfg->conn_mode == config::HttpConnMode::Close;
    if (upgrade_)
      ;  // the client's `connection: upgrade` was forwarded above
    else if (server_close_)
      out_ += "connection: close\r\n";
    else if (req_.version == 10 && !req_.chunked)  // haproxy: not for a chunked 1.0 body
      out_ += "connection: keep-alive\r\n";
    out_ += "\r\n";
  }

  asio::awaitable<RelayResult> relay_response(const config::Proxy& b,
                                              const balancing::BackendSnapshot& be,
                                              const balancing::Server* srv, bool client_keep,
                                              bool cookie_valid) {
    RelayResult rr;
    auto rstart = Clock::now();
    if (!sbuf_) sbuf_ = w_.take_buffer();
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
        auto [ec, n] = co_await upstream_.async_read_some(
            asio::buffer(sbuf_.get() + sn, kBufSize - sn), nothrow);
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
      if (resp.status >= 100 && resp.status < 200 && resp.status != 101) {
        // Interim response (100 Continue): forward it, keep reading. It has
        // no body: Content-Length and Transfer-Encoding go (as haproxy drops
        // them), names lower-cased as in every response head.
        out_.clear();
        append_status_line(out_, sbuf_.get(), resp);
        for (size_t i = 0; i < resp.nfields; ++i) {
          auto n = resp.name(sbuf_.get(), i);
          if (http1::iequals(n, "content-length") || http1::iequals(n, "transfer-encoding"))
            continue;
          lower_append(out_, n);
          out_ += ": ";
          out_.append(resp.value(sbuf_.get(), i));
          out_ += "\r\n";
        }
        out_ += "\r\n";
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
    bool keep = client_keep && !until_close && !w_.stopping && !(resp.version == 10 && chunked);

    // Client head.
    out_.clear();
    append_status_line(out_, sb, resp);
    // A 204 has no body: its framing fields go, as haproxy drops them.
    // Several or listed Content-Length fields go out as one.
    const bool drop_framing = resp.status == 204;
    bool cl_sent = false;
    for (size_t i = 0; i < resp.nfields; ++i) {
      auto n = resp.name(sb, i);
      if (is_hop_by_hop(n)) continue;
      const bool is_cl = http1::iequals(n, "content-length");
      if (is_cl && (chunked || drop_framing || cl_sent)) continue;
      if (drop_framing && http1::iequals(n, "transfer-encoding")) continue;
      lower_append(out_, n);
      out_ += ": ";
      if (is_cl && resp.cl_normalise) {
        out_ += std::to_string(resp.content_length);
      } else {
        out_.append(resp.value(sb, i));
      }
      cl_sent = cl_sent || is_cl;
      out_ += "\r\n";
    }
    if (b.cookie.enabled && b.cookie.insert && !cookie_valid) {
      out_ += "set-cookie: ";
      out_ += b.cookie.name;
      if (srv->cookie.empty()) {
        out_ += "=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/";
      } else {
        out_ += '=';
        out_ += srv->cookie;
        out_ += "; path=/";
      }
      for (const auto& d : b.cookie.domains) out_ += "; domain=" + d;
      if (b.cookie.httponly) out_ += "; HttpOnly";
      if (b.cookie.secure) out_ += "; Secure";
      out_ += "\r\n";
      if (b.cookie.nocache && response_cacheable(method_, resp.status, sb, resp))
        out_ += "cache-control: private\r\n";
    }
    if (!keep) {
      out_ += "connection: close\r\n";
    } else if (req_is_10_) {
      out_ += "connection: keep-alive\r\n";
    }
    out_ += "\r\n";

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
    auto [wec, wn] = co_await asio::async_write(client_, bufs, nothrow);
    rr.client_saw = ClientSaw::Response;
    rr.bytes_out += wn;
    if (wec) {
      rr.end = RelayEnd::ClientFailed;
      co_return rr;
    }
    // Stream the rest through the fixed buffer.
    while (!done) {
      set_deadline(Phase::Server, b.timeouts.server);
      auto [ec, n] =
          co_await upstream_.async_read_some(asio::buffer(sbuf_.get(), kBufSize), nothrow);
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
      auto [wec2, wn2] = co_await asio::async_write(client_, body, nothrow);
      rr.bytes_out += wn2;
      if (wec2) {
        rr.end = RelayEnd::ClientFailed;
        keep = false;
        break;
      }
    }
    // Accounting.
    auto sc = status_counter(resp.status);
    srv->live->counters.add(sc);
    srv->live->counters.add(Counter::BytesOut, rr.bytes_out);
    be.live->counters.add(sc);
    be.live->counters.add(Counter::BytesOut, rr.bytes_out);
    fe_.live->counters.add(sc);
    fe_.live->counters.add(Counter::BytesOut, rr.bytes_out);
    // Keep the server connection for reuse when the exchange ended cleanly.
    const bool client_failed = rr.end == RelayEnd::ClientFailed;
    if (done && !pump_done_ && !pump_failed_ && !client_failed) {
      // The server answered before the request body was all sent (it may
      // discard it): the caller lets the upload finish, then decides.
      rr.reuse_after_pump = server_keep && !rr.server_side_failure();
    } else if (done && server_keep && pump_done_ && !rr.server_side_failure() && !client_failed) {
      w_.upstreams.put(srv->live.get(), ep_, std::move(upstream_));
      upstream_ = tcp::socket(w_.ioc);
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
    TunnelResult t = co_await run_tunnel(client_, upstream_, {cbuf_.get(), sbuf_.get(), kBufSize},
                                         idle, &closed_);
    rr.bytes_out += t.to_client;
    boost::system::error_code ign;
    upstream_.close(ign);
    rr.keep_client = false;
  }

  // Streams the rest of the request body from the client to the server.
  asio::awaitable<void> pump_request_body() {
    auto self = shared_from_this();
    // body_len_ > 0: count what is left; chunked: the scanner decides.
    int64_t left = body_len_ > 0 ? body_left_ : -1;
    // The main coroutine's deadline covers the whole exchange.
    for (;;) {
      auto [ec, n] = co_await client_.async_read_some(asio::buffer(cbuf_.get(), kBufSize), nothrow);
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
      auto out = left >= 0 ? asio::buffer(cbuf_.get(), use) : asio::buffer(pump_out_);
      auto [wec, wn] = co_await asio::async_write(upstream_, out, nothrow);
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

  // Answers with one of HAProxy's own responses (503 etc.).
  // `consumed`: the request (head and body) was forwarded and the buffer is
  // already past it; otherwise its body is skipped here when it is all in the
  // buffer, and the connection closes when it is not.
  asio::awaitable<bool> local_error(int status, const char* term, bool keep, bool http10_close,
                                    const std::string& server, const std::string& backend,
                                    long t_queue = -1, int retries = 0, bool consumed = false) {
    release_server();
    bool close = !keep || http10_close;
    std::string resp = error_response(fe_.cfg->errorfiles, status, http10_close, is_head_);
    set_deadline(Phase::ClientWrite, fe_timeout_client());
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(resp), nothrow);
    fe_.live->counters.add(status_counter(status));
    fe_.live->counters.add(Counter::BytesOut, n);
    if (fe_.logs) {
      LogRecord r = base_log(server, backend);
      r.tr = 0;
      r.tw = t_queue;
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

  asio::awaitable<bool> serve_stats(bool client_keep) {
    StatsRequest sr;
    sr.proxy = fe_.cfg;
    sr.method.assign(req_.method);
    sr.target.assign(req_.target);
    sr.head_only = is_head_;
    const char* base = cbuf_.get() + cbeg_;
    RequestView rv{base, &req_, src_ip_, src_port_, dst_ip_, dst_port_};
    sr.authorization.assign(header_value(rv, "authorization"));
    sr.admin_allowed = fe_.cfg->stats.admin && eval_condition(*fe_.cfg->stats.admin, *fe_.cfg, rv);
    fe_.live->counters.add(Counter::Intercepted);
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
        auto [ec, n] = co_await client_.async_read_some(
            asio::buffer(cbuf_.get() + cend_, kBufSize - cend_), nothrow);
        if (ec) co_return false;
        cend_ += n;
      }
      sr.body.assign(cbuf_.get() + cbeg_ + req_.head_len, body);
    }
    cbeg_ += req_.head_len + body;
    std::string resp;
    if (sr.method == "POST" && w_.shared.hooks.stats_post) {
      // Runs on the control thread (it mutates the pool); wait for the answer here.
      auto result = std::make_shared<std::string>();
      auto ready = std::make_shared<asio::steady_timer>(w_.ioc, Clock::time_point::max());
      auto& ioc = w_.ioc;
      w_.shared.hooks.stats_post(std::move(sr), [result, ready, &ioc](std::string r) {
        asio::post(ioc, [result, ready, r = std::move(r)]() mutable {
          *result = std::move(r);
          ready->cancel();
        });
      });
      co_await ready->async_wait(nothrow);
      resp = std::move(*result);
    } else {
      resp = w_.shared.hooks.stats(sr);
    }
    set_deadline(Phase::ClientWrite, fe_timeout_client());
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(resp), nothrow);
    fe_.live->counters.add(Counter::BytesOut, n);
    fe_.live->counters.add(status_counter(resp.size() > 12 ? std::atoi(resp.c_str() + 9) : 0));
    if (fe_.logs) {
      LogRecord r = base_log("<STATS>", fe_.cfg->name);
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
  tcp::socket client_;
  tcp::socket upstream_;
  asio::steady_timer watchdog_;
  bool watchdog_armed_ = false;
  Clock::time_point deadline_{};
  bool park_ = false;              // leaving for the parking lot (request_park)
  bool park_first_ = false;        // parked before its first request
  bool resumed_ = false;           // made by the parking lot: the socket is readable
  bool v6_ = false;                // the client connection's family
  bool may_retry_status_ = false;  // relay_response may drop a `retry-on` status
  Phase phase_ = Phase::Idle;
  bool timed_out_ = false;
  bool closed_ = false;

  std::unique_ptr<char[]> cbuf_;  // from the worker's pool while in use (see run())
  size_t cbeg_ = 0, cend_ = 0;
  std::unique_ptr<char[]> sbuf_;
  std::string out_;
  // Header fields added by http-request rules, the first nappended_ of
  // appended_: names point into the config, value strings are reused with
  // their capacity, so the request path does not allocate (test_allocations).
  std::vector<std::pair<std::string_view, std::string>> appended_;
  size_t nappended_ = 0;
  http1::Head req_;
  http1::ChunkedScanner chunks_;
  std::string framed_;    // the request body's first bytes, re-framed (chunked)
  std::string pump_out_;  // a piece of the request body, re-framed (chunked)
  std::string resp_out_;  // a piece of the response body, re-framed (chunked)
  int64_t body_len_ = 0;  // -2 chunked
  int64_t body_left_ = 0;
  bool pump_done_ = true, pump_failed_ = false;
  std::shared_ptr<asio::steady_timer> pump_wake_;  // cancelled when the body pump ends
  bool is_head_ = false, req_is_10_ = false, server_close_ = false, upgrade_ = false;
  std::string method_;
  std::string request_target_;
  std::string request_line_;
  std::string accept_date_;

  std::string src_ip_, dst_ip_;
  uint16_t src_port_ = 0, dst_port_ = 0;
  uint32_t client_v4_ = 0;
  Clock::time_point start_{};
  // Valid while hold_ pins the snapshot that holds them.
  Worker::SnapHold* hold_ = nullptr;
  const balancing::Server* slot_srv_ = nullptr;  // holds a connection slot of it
  int slot_backend_ = -1;
  balancing::BackendLive* backend_live_ = nullptr;
  tcp::endpoint ep_;

  friend void close_if_idle(Session* s);
  friend bool is_idle(const Session* s);
};

// ---- parking ------------------------------------------------------------
// A parked connection is a file descriptor in the worker's parking lot: an
// epoll set of its own, watched by one readiness wait, with a 48-byte record
// per connection. Asio lets go of the socket (release(): no per-socket state,
// no pending operation, no timer is left), so an idle connection costs its
// record and the kernel's epoll entry. It ends in one of three ways: bytes
// (or a close) arrive and a new Session resumes it; its idle deadline passes;
// the worker stops. The last two close it without an answer, as an idle
// session would be closed.
struct ParkedConn : IdleHook {
  int fd = -1;
  bool first = false;  // no request yet: resumed under http-request
  bool v6 = false;
  const FrontendRt* fe = nullptr;
  Clock::time_point deadline{};
};
static_assert(sizeof(ParkedConn) == 48, "the record size the comments and docs give");

class ParkingLot {
 public:
  explicit ParkingLot(Worker& w) : w_(w), watch_(w.ioc), timer_(w.ioc) {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return;  // no lot: sessions stay (ok() is false)
    boost::system::error_code ec;
    watch_.assign(ep, ec);
    if (ec) ::close(ep);
  }
  ParkingLot(const ParkingLot&) = delete;
  ParkingLot& operator=(const ParkingLot&) = delete;
  // Teardown (the worker's thread has ended): closes what is left.
  ~ParkingLot() {
    for (auto& [t, list] : lists_) {
      list.for_each([](IdleHook* h) { ::close(static_cast<ParkedConn*>(h)->fd); });
      list.detach_all();
    }
    while (ParkedConn* c = spare_) {
      spare_ = static_cast<ParkedConn*>(c->next);
      c->next = nullptr;
    }
  }
  bool ok() const { return watch_.is_open(); }

  // Records come from slabs of kSlab, never freed before the lot: they
  // outlive the sessions they replace, and taken from malloc one by one they
  // would pin the pages those sessions leave behind (RSS could not shrink).
  ParkedConn* new_record() {
    if (!spare_) {
      slabs_.push_back(std::make_unique<ParkedConn[]>(kSlab));
      for (size_t i = 0; i < kSlab; ++i) free_record(&slabs_.back()[i]);
    }
    ParkedConn* c = spare_;
    spare_ = static_cast<ParkedConn*>(c->next);
    c->next = nullptr;
    return c;
  }
  void free_record(ParkedConn* c) {
    c->unlink();
    c->next = spare_;  // unlinked: next is free for the spare list
    spare_ = c;
  }

  // Takes `sock` (an idle connection of `fe`, nothing pending on it) until
  // it becomes readable or `deadline`; `timeout_ms` is the idle timeout
  // that deadline came from, 0 for none (connections are kept in FIFO lists
  // per timeout, so each list is in deadline order). False: not parked, `sock` untouched.
  bool park(tcp::socket& sock, const FrontendRt& fe, bool first, bool v6,
            Clock::time_point deadline, int64_t timeout_ms) {
    if (!ok()) return false;
    boost::system::error_code ec;
    int fd = sock.release(ec);
    if (ec) return false;
    ParkedConn* c = new_record();
    c->fd = fd;
    c->first = first;
    c->v6 = v6;
    c->fe = &fe;
    c->deadline = deadline;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = c;
    if (::epoll_ctl(watch_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(c);
      return true;  // the socket is gone either way
    }
    lists_[timeout_ms].push_back(c);
    if (!watching_) watch();
    if (!timer_armed_ || deadline < timer_.expiry()) arm_timer(deadline);
    return true;
  }

  // Soft or hard stop: every parked connection is closed.
  void close_all() {
    for (auto& [t, list] : lists_)
      list.for_each([this](IdleHook* h) { close(static_cast<ParkedConn*>(h)); });
    boost::system::error_code ec;
    watch_.cancel(ec);
    timer_.cancel();
  }

 private:
  void close(ParkedConn* c) {
    ::shutdown(c->fd, SHUT_WR);
    ::close(c->fd);
    count_connection_close(w_, *c->fe);
    free_record(c);
  }

  void watch() {
    watching_ = true;
    watch_.async_wait(asio::posix::stream_descriptor::wait_read,
                      [this](boost::system::error_code ec) {
                        watching_ = false;
                        if (ec) return;
                        resume_ready();
                        if (!w_.stopping && !empty()) watch();
                      });
  }

  // Resumes every connection with something to read (a request, a close).
  void resume_ready() {
    epoll_event evs[64];
    for (;;) {
      int n = ::epoll_wait(watch_.native_handle(), evs, 64, 0);
      for (int i = 0; i < n; ++i) {
        auto* c = static_cast<ParkedConn*>(evs[i].data.ptr);
        ::epoll_ctl(watch_.native_handle(), EPOLL_CTL_DEL, c->fd, nullptr);
        c->unlink();
        tcp::socket sock(w_.ioc);
        boost::system::error_code ec;
        sock.assign(c->v6 ? tcp::v6() : tcp::v4(), c->fd, ec);
        if (ec) {
          close(c);
          continue;
        }
        const FrontendRt* fe = c->fe;
        bool first = c->first;
        free_record(c);
        std::make_shared<Session>(w_, *fe, std::move(sock))->resume(first);
      }
      if (n < 64) return;
    }
  }

  bool empty() const {
    for (const auto& [t, list] : lists_)
      if (!list.empty()) return false;
    return true;
  }

  void arm_timer(Clock::time_point at) {
    timer_armed_ = true;
    timer_.expires_at(at);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;  // re-armed for an earlier deadline (expires_at cancels), or stopped
      timer_armed_ = false;
      expire();
    });
  }

  // Closes the connections past their deadline (each list is in deadline
  // order) and waits for the next one.
  void expire() {
    auto now = Clock::now();
    Clock::time_point next = Clock::time_point::max();
    for (auto& [t, list] : lists_) {
      while (auto* c = static_cast<ParkedConn*>(list.front())) {
        if (c->deadline > now) {
          next = std::min(next, c->deadline);
          break;
        }
        close(c);
      }
    }
    if (next != Clock::time_point::max()) arm_timer(next);
  }

  Worker& w_;
  asio::posix::stream_descriptor watch_;  // the epoll set
  asio::steady_timer timer_;
  bool watching_ = false;
  bool timer_armed_ = false;
  std::map<int64_t, IdleList> lists_;  // by idle timeout (ms)
  static constexpr size_t kSlab = 256;
  std::vector<std::unique_ptr<ParkedConn[]>> slabs_;
  ParkedConn* spare_ = nullptr;  // free records, chained through next
};

ParkingLot& parking_lot(Worker& w) {
  if (!w.parking) w.parking = new ParkingLot(w);
  return *w.parking;
}

void Session::park() {
  if (!w_.stopping && parking_lot(w_).park(client_, fe_, park_first_, v6_, deadline_,
                                           request_timeout(park_first_))) {
    retire(true);
    w_.trim_buffers();
    return;
  }
  boost::system::error_code ec;
  client_.shutdown(tcp::socket::shutdown_send, ec);
  finish();
}

namespace {
void idle_tick(Worker& w);

void arm_idle_tick(Worker& w, Clock::time_point at) {
  if (!w.park_timer) w.park_timer = std::make_unique<asio::steady_timer>(w.ioc);
  w.park_timer_armed = true;
  w.park_timer->expires_at(at);
  w.park_timer->async_wait([&w](boost::system::error_code ec) {
    w.park_timer_armed = false;
    if (!ec) idle_tick(w);
  });
}

// Parks the sessions idle for kParkAfter (oldest first), then waits for
// the next one to come of age.
void idle_tick(Worker& w) {
  auto limit = Clock::now() - kParkAfter;
  while (IdleHook* h = w.idle.front()) {
    if (h->since > limit) {
      arm_idle_tick(w, h->since + kParkAfter);
      return;
    }
    h->unlink();
    if (!w.stopping) static_cast<Session*>(h)->request_park();
  }
}
}  // namespace

void idle_enter(Worker& w, IdleHook* h) {
  h->since = Clock::now();
  w.idle.push_back(h);
  if (!w.park_timer_armed) arm_idle_tick(w, h->since + kParkAfter);
}

void close_parked(Worker& w) {
  if (w.parking) w.parking->close_all();
}

void free_parked(Worker& w) {
  delete w.parking;
  w.parking = nullptr;
}

void start_session(Worker& w, const FrontendRt& fe, tcp::socket sock) {
  std::make_shared<Session>(w, fe, std::move(sock))->start();
}

void close_if_idle(Session* s) { s->close_if_idle(); }
void abort_session(Session* s) { s->abort(); }

bool is_idle(const Session* s) { return s->phase_ == Session::Phase::Idle; }

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
