// proxy/workers.cpp — one I/O variant's workers: per-thread io_context,
// SO_REUSEPORT listeners, accept loops, start/stop. Compiled once per I/O
// backend (see io_engine.h); Engine (engine.cpp) drives it through IoEngine.
//
// Thread rules: the Workers object is driven from the main thread; each
// Worker's state is touched only on its own thread (or through `post`).
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>
#include <thread>

#include "proxy/tcp_session.h"
#include "proxy/worker.h"
#include "tls/context.h"

namespace herd::proxy {
inline namespace HERD_IO_NS {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Worker::Worker(Shared& s, unsigned i) : shared(s), index(i), reader(s.pool) {}

PipePool& Worker::pipe_pool() {
  if (!pipes) {
    const auto& g = shared.cfg.global;
    unsigned n = g.nbthread > 0 ? static_cast<unsigned>(g.nbthread)
                                : std::max(1u, std::thread::hardware_concurrency());
    // haproxy's default: maxconn / 4 pipes, process-wide.
    int total = g.maxpipes > 0 ? g.maxpipes : std::max(1, shared.maxconn / 4);
    pipes = std::make_unique<PipePool>(std::max(1, total / static_cast<int>(n)), g.pipesize);
  }
  return *pipes;
}

Worker::~Worker() {
  free_parked(*this);
  idle.detach_all();  // sessions still linked die later, with ioc's handlers
}

Worker::SnapHold* Worker::pin() {
  const auto& cur = reader.snapshot();
  if (holds.empty() || holds.back()->snap != cur) {
    auto h = std::make_unique<SnapHold>();
    h->snap = cur;
    holds.push_back(std::move(h));
    // Drop older snapshots nobody on this worker uses any more.
    std::erase_if(holds, [&](const std::unique_ptr<SnapHold>& x) {
      return x->users == 0 && x.get() != holds.back().get();
    });
  }
  SnapHold* h = holds.back().get();
  ++h->users;
  return h;
}

void Worker::unpin(SnapHold* h) {
  if (--h->users == 0 && h != holds.back().get())
    std::erase_if(holds, [h](const std::unique_ptr<SnapHold>& x) { return x.get() == h; });
}

// Called when a connection parks: keeps two free buffers per active session
// (one each way) and a few more, and 250 ms later hands what the parked
// sessions and the buffers left in malloc's heap back to the kernel: glibc
// keeps freed blocks resident until malloc_trim() returns their pages, so
// after a burst the memory of sessions that are now parked would stay.
void Worker::trim_buffers() {
  constexpr size_t kReserve = 16;
  size_t keep = std::min(kMaxFreeBuffers, 2 * sessions.size() + kReserve);
  while (free_buffers.size() > keep) free_buffers.pop_back();
  if (!trim_timer) trim_timer = std::make_unique<asio::steady_timer>(ioc);
  if (trim_timer->expiry() > std::chrono::steady_clock::now()) return;  // one is pending
  trim_timer->expires_after(std::chrono::milliseconds(250));
  trim_timer->async_wait([](boost::system::error_code ec) {
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer replaces malloc: glibc's arenas are never set up and
    // malloc_trim() would read a null one (SEGV in mtrim).
    (void)ec;
#else
    if (!ec) ::malloc_trim(0);
#endif
  });
}

void count_connection_open(Worker& w, const FrontendRt& fe) {
  using balancing::Counter;
  fe.live->sessions.inc();
  fe.live->counters.add(Counter::Sessions);
  fe.live->counters.add(Counter::Connections);
  fe.live->session_rate.hit();
  fe.live->conn_rate.hit();
  w.shared.process.conns.inc();
  w.shared.process.counters.add(Counter::Connections);
  w.shared.process.conn_rate.hit();
}

void count_connection_close(Worker& w, const FrontendRt& fe) {
  fe.live->sessions.dec();
  w.shared.process.conns.dec();
  // A listener paused at a maxconn resumes (see start_accepting()).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (w.shared.paused_listeners.load() > 0)
    for (auto& wake : w.shared.accept_wakers) wake();
}

void Worker::start_accepting() {
  accept_wake =
      std::make_unique<asio::steady_timer>(ioc, std::chrono::steady_clock::time_point::max());
  for (auto& l : listeners) {
    asio::co_spawn(
        ioc,
        [this, &l]() -> asio::awaitable<void> {
          auto full = [this, &l] {
            return shared.process.conns.get() >= shared.maxconn ||
                   (l.fe->cfg->maxconn > 0 && l.fe->live->sessions.get() >= l.fe->cfg->maxconn);
          };
          // `tune.maxaccept`: connections taken in a row before the thread's
          // other work runs (haproxy's default 64; negative: unlimited).
          const int maxaccept = shared.cfg.global.maxaccept == 0 ? 64 : shared.cfg.global.maxaccept;
          int in_a_row = 0;
          for (;;) {
            if (maxaccept > 0 && in_a_row >= maxaccept) {
              in_a_row = 0;
              co_await asio::post(ioc, asio::use_awaitable);
              if (stopping) co_return;
            }
            // maxconn (global, then the frontend's): stop accepting while at the
            // limit, as HAProxy does; the kernel backlog holds new clients. The
            // listener counts itself paused before it looks again, so a close
            // on any thread either is seen here or wakes it; no polling.
            while (!stopping && full()) {
              ++paused_here;
              ++shared.paused_listeners;
              std::atomic_thread_fence(std::memory_order_seq_cst);
              if (full() && !stopping)
                co_await accept_wake->async_wait(asio::as_tuple(asio::use_awaitable));
              --shared.paused_listeners;
              --paused_here;
            }
            // Readiness, then a non-blocking accept(2): a wait left behind
            // in the kernel (a cancelled io_uring poll) takes nothing from
            // the queue, where a pending accept would take a connection
            // after a soft stop, from a socket a successor now serves.
            tcp::socket sock(ioc);
            boost::system::error_code ec;
            l.acceptor->accept(sock, ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again) {
              in_a_row = 0;
              auto [wec] = co_await l.acceptor->async_wait(tcp::acceptor::wait_read,
                                                           asio::as_tuple(asio::use_awaitable));
              if (stopping || !l.acceptor->is_open() || wec == asio::error::operation_aborted)
                co_return;
              continue;
            }
            if (stopping || !l.acceptor->is_open()) {
              // Accepted as the stop began: served all the same (and closed
              // after its answer), never reset.
              if (!ec) start_connection(*this, *l.fe, std::move(sock), l.tls);
              co_return;
            }
            if (ec) {
              if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
                co_return;
              continue;  // EMFILE and friends: keep accepting
            }
            ++in_a_row;
            start_connection(*this, *l.fe, std::move(sock), l.tls);
          }
        },
        asio::detached);
  }
}

void Worker::unlisten() {
  // Handed over to a successor (app/handover.h): the successor serves the
  // very same sockets, which close() here leaves to it.
  if (shared.handed_over) return;
  // shutdown() takes a listening socket out of LISTEN at once, and out of
  // its SO_REUSEPORT group, whoever still holds a reference to it: with
  // io_uring, a pending accept keeps the socket alive until the ring is torn
  // down, which the kernel finishes asynchronously after close() or even
  // after the process exited. A successor bound to the same port (herd -sf,
  // a restart) would share it with that lingering listener meanwhile, and
  // the connections queued there would be reset.
  for (auto& l : listeners)
    if (l.acceptor && l.acceptor->is_open()) ::shutdown(l.acceptor->native_handle(), SHUT_RDWR);
}

// A soft stop ends keep-alive connections without racing their clients:
// an exchange under way is answered with `connection: close`, and so is the
// next request of an idle connection; an idle connection that sends none is
// closed at its idle deadline (`timeout http-keep-alive`, else `http-request`,
// else `client`), as it would have been without a stop. A client never sees
// a connection it is reusing closed under it, which HAProxy 2.6 does to the
// idle ones at once. With `close-spread-time` the decisions are HAProxy's:
// idle connections close at a random moment of the window, and an answer
// closes its connection with a probability that grows to 1 at the window's
// end; `close-spread-time infinite` closes nothing actively.
void Worker::soft_stop() {
  stopping = true;
  stop_began = std::chrono::steady_clock::now();
  rng_state = static_cast<uint64_t>(stop_began.time_since_epoch().count()) + index;
  if (accept_wake) accept_wake->cancel();
  if (!shared.handed_over) {
    // Without a successor on these sockets, what waits in their accept
    // queues would be reset by unlisten(): it is taken and served (each
    // answer closes its connection). A client that reconnects after such
    // an answer from another worker, still listening, lands in a queue
    // drained here too.
    for (auto& l : listeners) {
      for (int n = 0; n < 4096 && l.acceptor->is_open(); ++n) {
        tcp::socket sock(ioc);
        boost::system::error_code aec;
        l.acceptor->accept(sock, aec);
        if (aec) break;
        start_connection(*this, *l.fe, std::move(sock), l.tls);
      }
    }
  }
  unlisten();
  boost::system::error_code ec;
  for (auto& l : listeners) l.acceptor->close(ec);
  auto copy = sessions;
  for (Session* s : copy) stop_idle(s);
  stop_parked(*this);
  upstreams.clear();
  watch_drain();
}

int64_t Worker::draw_ms(int64_t below) {
  if (below <= 1) return 0;
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<int64_t>(z % static_cast<uint64_t>(below));
}

bool Worker::close_on_stop() {
  if (!stopping) return false;
  const auto& g = shared.cfg.global;
  if (g.close_spread_infinite) return false;
  if (g.close_spread_time_ms <= 0) return true;
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - stop_began)
                     .count();
  int64_t remaining = g.close_spread_time_ms - elapsed;
  // mux_h1's h1_set_cli_conn_mode(): rarely at first, always at the end.
  return remaining <= 0 || remaining <= draw_ms(g.close_spread_time_ms);
}

std::chrono::steady_clock::time_point Worker::stop_idle_deadline(
    std::chrono::steady_clock::time_point d) {
  const auto& g = shared.cfg.global;
  if (!stopping || g.close_spread_infinite || g.close_spread_time_ms <= 0) return d;
  auto now = std::chrono::steady_clock::now();
  auto end = stop_began + std::chrono::milliseconds(g.close_spread_time_ms);
  if (now >= end) return std::min(d, now);
  // h1_refresh_timeout(): a random moment of what is left of the window.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - now).count();
  return std::min(d, now + std::chrono::milliseconds(draw_ms(left)));
}

// `hard-stop-after` expired: what is left is aborted (see Engine), and the
// worker stops when the sessions are gone, or 500 ms later at most.
void Worker::abort_sessions() {
  aborting = true;
  auto copy = sessions;
  for (Session* s : copy) abort_session(s);
  abort_tcp_sessions(*this);
  close_parked(*this);
  abort_timer = std::make_unique<asio::steady_timer>(ioc, std::chrono::milliseconds(500));
  abort_timer->async_wait([this](boost::system::error_code ec) {
    if (!ec) ioc.stop();
  });
}

// Soft stop ends this worker once no connection is left (sessions, parked
// ones, TCP-mode ones); every 100 ms it looks. An idle session whose close
// never came a second after its deadline (an operation whose completion is
// lost, as cancelled io_uring operations in Asio 1.81 were) does not hold it.
void Worker::watch_drain() {
  if (!drain_timer) drain_timer = std::make_unique<asio::steady_timer>(ioc);
  drain_timer->expires_after(std::chrono::milliseconds(100));
  drain_timer->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    if (tcp_sessions.empty() && parking_empty(*this) &&
        std::all_of(sessions.begin(), sessions.end(),
                    [](const Session* s) { return is_stuck(s); })) {
      ioc.stop();
      return;
    }
    watch_drain();
  });
}

int Worker::listener_fd(const tcp::socket& client) const {
  boost::system::error_code ec;
  const auto local = client.local_endpoint(ec);
  if (ec) return -1;
  for (const auto& l : listeners) {
    if (!l.acceptor) continue;
    const auto le = l.acceptor->local_endpoint(ec);
    if (!ec && le.port() == local.port() &&
        (le.address().is_unspecified() || le.address() == local.address()))
      return l.acceptor->native_handle();
  }
  return -1;
}

namespace {

class Workers final : public IoEngine {
 public:
  Workers(Shared& shared, unsigned n) : shared_(shared) {
    for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(shared, i));
    for (auto& w : workers_) {
      Worker* wp = w.get();
      shared_.accept_wakers.push_back([wp] {
        asio::post(wp->ioc, [wp] {
          if (wp->paused_here > 0 && wp->accept_wake) wp->accept_wake->cancel();
        });
      });
    }
  }
  ~Workers() override {
    hard_stop();
    join();
#if HERD_IO_URING
    // Asio 1.81's io_uring backend cannot destroy an io_context that still
    // holds an operation whose cancellation never completed (the accept of a
    // listener closed by a soft stop): ~io_context destroys the socket
    // service first, then the io_uring service's queued operation, which
    // reads the freed socket service (AddressSanitizer: heap-use-after-free
    // at exit). The engine is destroyed only when the process ends, so its
    // workers are kept, reachable, and the kernel reclaims them with the
    // process.
    static auto* kept = new std::vector<std::unique_ptr<Worker>>;
    for (auto& w : workers_) kept->push_back(std::move(w));
#endif
  }

  void bind(const Engine::Inherit& inherit) override {
    for (auto& w : workers_) {
      for (const auto& fe : shared_.frontends) {
        for (const auto& b : fe.cfg->binds) {
          boost::system::error_code ec;
          auto addr = asio::ip::make_address(b.addr.ip.empty() ? "0.0.0.0" : b.addr.ip, ec);
          if (ec)
            throw std::runtime_error("[" + b.where.file + ":" + std::to_string(b.where.line) +
                                     "] : invalid bind address '" + b.addr.ip + "'");
          tcp::endpoint ep(addr, b.addr.port);
          auto acc = std::make_unique<tcp::acceptor>(w->ioc);
          if (int fd = inherit ? inherit(b.addr.ip, b.addr.port) : -1; fd >= 0) {
            adopt(*acc, ep, fd);
            smart_accept(fd, *fe.cfg);
            w->listeners.push_back({std::move(acc), &fe, tls::server_context(b)});
            continue;
          }
          acc->open(ep.protocol(), ec);
          if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
          if (!ec) {
            int one = 1;
            if (::setsockopt(acc->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
              ec = boost::system::error_code(errno, boost::system::system_category());
          }
          if (!ec) acc->bind(ep, ec);
          if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
          if (!ec) acc->non_blocking(true, ec);
          if (!ec) smart_accept(acc->native_handle(), *fe.cfg);
          if (ec)
            throw std::runtime_error(
                "Starting " +
                std::string(fe.cfg->kind == config::Proxy::Kind::Listen ? "proxy" : "frontend") +
                " " + fe.cfg->name + ": cannot bind socket (" + ec.message() + ") [" + b.addr.ip +
                ":" + std::to_string(b.addr.port) + "]");
          w->listeners.push_back({std::move(acc), &fe, tls::server_context(b)});
        }
      }
    }
    // The predecessor ran more workers: its further sockets of a bind go
    // round the workers, so that no accept queue is left unserved.
    if (!inherit) return;
    size_t k = 0;
    for (const auto& fe : shared_.frontends)
      for (const auto& b : fe.cfg->binds)
        for (int fd; (fd = inherit(b.addr.ip, b.addr.port)) >= 0; ++k) {
          Worker& w = *workers_[k % workers_.size()];
          auto acc = std::make_unique<tcp::acceptor>(w.ioc);
          boost::system::error_code ec;
          auto addr = asio::ip::make_address(b.addr.ip.empty() ? "0.0.0.0" : b.addr.ip, ec);
          adopt(*acc, tcp::endpoint(addr, b.addr.port), fd);
          smart_accept(fd, *fe.cfg);
          w.listeners.push_back({std::move(acc), &fe, tls::server_context(b)});
        }
  }

  std::vector<int> listener_fds() const override {
    std::vector<int> fds;
    for (const auto& w : workers_)
      for (const auto& l : w->listeners)
        if (l.acceptor && l.acceptor->is_open()) fds.push_back(l.acceptor->native_handle());
    return fds;
  }

  void start() override {
    for (auto& w : workers_) {
      Worker* wp = w.get();
      wp->start_accepting();
      wp->thread = std::thread([wp] {
        balancing::set_current_thread_slot(wp->index);
        wp->ioc.run();
      });
    }
  }

  void soft_stop() override {
    for (auto& w : workers_) {
      Worker* wp = w.get();
      asio::post(wp->ioc, [wp] { wp->soft_stop(); });
    }
  }

  void abort_sessions() override {
    for (auto& w : workers_) {
      Worker* wp = w.get();
      asio::post(wp->ioc, [wp] { wp->abort_sessions(); });
    }
  }

  void kill_server_sessions(const void* server_live, char cause) override {
    for (auto& w : workers_) {
      Worker* wp = w.get();
      asio::post(wp->ioc, [wp, server_live, cause] { kill_tcp_sessions(*wp, server_live, cause); });
    }
  }

  void hard_stop() override {
    for (auto& w : workers_) {
      Worker* wp = w.get();
      asio::post(wp->ioc, [wp] {
        wp->unlisten();
        wp->ioc.stop();
      });
    }
  }

  void join() override {
    for (auto& w : workers_)
      if (w->thread.joinable()) w->thread.join();
    // Workers that had already returned (or never ran) did not see the
    // posted unlisten; nothing else touches their listeners now.
    for (auto& w : workers_) w->unlisten();
  }

  unsigned threads() const override { return static_cast<unsigned>(workers_.size()); }

 private:
  // A listening socket handed over by the previous process.
  static void adopt(tcp::acceptor& acc, const tcp::endpoint& ep, int fd) {
    boost::system::error_code ec;
    acc.assign(ep.protocol(), fd, ec);
    if (!ec) acc.non_blocking(true, ec);
    if (ec) {
      ::close(fd);
      throw std::runtime_error("cannot use the inherited socket of " + ep.address().to_string() +
                               ":" + std::to_string(ep.port()) + ": " + ec.message());
    }
  }

  // `option tcp-smart-accept` (on by default in `mode http`): TCP_QUICKACK
  // 0 on the listening socket, else 1, as haproxy 2.6 sets its listeners
  // (inherited ones too).
  static void smart_accept(int fd, const config::Proxy& px) {
    const bool on =
        px.tcp_smart_accept == 1 || (px.tcp_smart_accept == -1 && px.mode == config::Mode::Http);
    const int v = on ? 0 : 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &v, sizeof v);
  }

  Shared& shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace
}  // namespace HERD_IO_NS

#if HERD_IO_URING
std::unique_ptr<IoEngine> make_uring_engine(Shared& shared, unsigned threads) {
#else
std::unique_ptr<IoEngine> make_epoll_engine(Shared& shared, unsigned threads) {
#endif
  return std::make_unique<Workers>(shared, threads);
}

}  // namespace herd::proxy
