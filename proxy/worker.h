// proxy/worker.h — internals of one I/O variant shared by workers.cpp and
// session.cpp: the per-thread Worker. Compiled once per backend (io_engine.h).
//
// Thread rules: a Worker and everything it owns is touched only by its own
// thread, except `post`ed closures (soft stop) and the immutable FrontendRt.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "balancing/frontend.h"
#include "balancing/pool.h"
#include "config/model.h"
#include "proxy/engine.h"
#include "proxy/io_engine.h"
#include "proxy/splice.h"
#include "proxy/upstream.h"

#ifndef HERD_IO_NS
#error "worker.h belongs to an I/O variant: compile with HERD_IO_NS (proxy/CMakeLists.txt)"
#endif

namespace herd::tls {
class ServerContext;
}

namespace herd::proxy {
inline namespace HERD_IO_NS {

class Session;
class ParkingLot;

// An intrusive, circular FIFO node: a session waiting for its next request,
// or a parked connection (session.cpp, "parking"). Unlinking needs no list,
// so an object leaves its list wherever it ends.
struct IdleHook {
  IdleHook* prev = nullptr;
  IdleHook* next = nullptr;
  std::chrono::steady_clock::time_point since{};
  void unlink() {
    if (!next) return;
    prev->next = next;
    next->prev = prev;
    prev = next = nullptr;
  }
  IdleHook() = default;
  IdleHook(const IdleHook&) = delete;
  IdleHook& operator=(const IdleHook&) = delete;
  ~IdleHook() { unlink(); }
};

class IdleList {
 public:
  IdleList() { head_.prev = head_.next = &head_; }
  IdleList(const IdleList&) = delete;
  IdleList& operator=(const IdleList&) = delete;
  ~IdleList() { detach_all(); }
  // Forgets every node (each one's unlink becomes a no-op).
  void detach_all() {
    for (IdleHook* h = head_.next; h != &head_;) {
      IdleHook* n = h->next;
      h->prev = h->next = nullptr;
      h = n;
    }
    head_.prev = head_.next = &head_;
  }
  bool empty() const { return head_.next == &head_; }
  IdleHook* front() const { return empty() ? nullptr : head_.next; }
  // Calls f on each node, oldest first; f may unlink the node it is given.
  template <class F>
  void for_each(F f) {
    for (IdleHook* h = head_.next; h != &head_;) {
      IdleHook* n = h->next;
      f(h);
      h = n;
    }
  }
  void push_back(IdleHook* h) {
    h->unlink();
    h->prev = head_.prev;
    h->next = &head_;
    head_.prev->next = h;
    head_.prev = h;
  }

 private:
  struct Head : IdleHook {
    ~Head() { prev = next = nullptr; }
  } head_;
};

class Worker {
 public:
  Worker(Shared& shared, unsigned index);
  Shared& shared;
  unsigned index;
  // One thread runs it and only that thread touches its sockets: the
  // per-socket I/O locks go (other threads still post() to it, so the
  // scheduler keeps its lock). bench/profile.py: ~500 instructions less per
  // request.
  boost::asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  balancing::PoolReader reader;
  UpstreamPool upstreams;
  // Pipes for splicing bodies and tunnels (splice.h), made on first use:
  // this worker's share of `maxpipes`.
  std::unique_ptr<PipePool> pipes;
  PipePool& pipe_pool();
  struct Listener {
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    const FrontendRt* fe;
    const tls::ServerContext* tls = nullptr;  // `bind ... ssl` (tls/context.h)
  };
  std::vector<Listener> listeners;
  // The fd of the listener `client` came through (matched on its local
  // address), -1 if none: for `-d`'s accept lines only (debug_trace.h).
  int listener_fd(const boost::asio::ip::tcp::socket& client) const;
  std::vector<Session*> sessions;  // live sessions, for soft stop
  // Live TCP-mode sessions (tcp_session.cpp): a soft stop waits for them,
  // hard-stop-after cuts them.
  IdleList tcp_sessions;
  // Sessions waiting for a request's first bytes, oldest first; past
  // kParkAfter they are parked (session.cpp). park_timer fires for the
  // oldest; the parking lot holds the parked connections.
  IdleList idle;
  std::unique_ptr<boost::asio::steady_timer> park_timer;
  bool park_timer_armed = false;
  ParkingLot* parking = nullptr;  // made on first use, freed by free_parked()

  // Worker-local pins on pool snapshots: a request pins the snapshot it
  // started with (no atomic operation: the count is this thread's), and a
  // snapshot is let go once no request of this worker uses it any more.
  struct SnapHold {
    std::shared_ptr<const balancing::PoolSnapshot> snap;
    uint32_t users = 0;
  };
  SnapHold* pin();
  void unpin(SnapHold* h);
  std::vector<std::unique_ptr<SnapHold>> holds;

  // Per-worker pool of kBufSize I/O buffers. A session takes one only while
  // it has bytes to hold (a request being read, a response being relayed)
  // and gives it back between requests, so an idle keep-alive connection
  // holds no buffer and no request allocates one.
  // The pool keeps at most kMaxFreeBuffers (4 MiB); trim_buffers() brings it
  // down to what the active sessions may need once connections park, so a
  // burst's buffers do not stay resident behind thousands of idle clients.
  std::vector<std::unique_ptr<char[]>> free_buffers;
  static constexpr size_t kMaxFreeBuffers = 256;
  std::unique_ptr<boost::asio::steady_timer> trim_timer;  // malloc_trim() after parking
  std::unique_ptr<char[]> take_buffer() {
    if (free_buffers.empty()) return std::unique_ptr<char[]>(new char[kBufSize]);
    auto b = std::move(free_buffers.back());
    free_buffers.pop_back();
    return b;
  }
  void give_buffer(std::unique_ptr<char[]> b) {
    if (b && free_buffers.size() < kMaxFreeBuffers) free_buffers.push_back(std::move(b));
  }
  void trim_buffers();
  bool stopping = false;
  bool aborting = false;  // hard-stop-after: no retries, no new waits
  // Soft stop, as HAProxy 2.6 with its close-spread-time (workers.cpp):
  // whether the answer to a request ends its keep-alive connection, and
  // when an idle connection (deadline `d`) is closed.
  std::chrono::steady_clock::time_point stop_began{};
  bool close_on_stop();
  std::chrono::steady_clock::time_point stop_idle_deadline(std::chrono::steady_clock::time_point d);
  uint64_t rng_state = 0;  // close-spread-time's draws (splitmix64)
  int64_t draw_ms(int64_t below);
  std::unique_ptr<boost::asio::steady_timer> drain_timer;  // soft stop
  std::unique_ptr<boost::asio::steady_timer> abort_timer;  // hard-stop-after
  void watch_drain();
  std::thread thread;
  ~Worker();

  void start_accepting();
  // Listeners paused at a maxconn wait on accept_wake (never expires; a
  // connection's close cancels it, see count_connection_close()).
  std::unique_ptr<boost::asio::steady_timer> accept_wake;
  int paused_here = 0;
  void soft_stop();       // on this worker's thread
  void abort_sessions();  // on this worker's thread, after soft_stop()
  // Takes the listeners out of LISTEN (shutdown(2)) on this worker's
  // thread, or once it has exited; see workers.cpp.
  void unlisten();
};

// A client connection of `fe` opens or closes: the frontend's and the
// process's gauges, counters and rates (workers.cpp).
void count_connection_open(Worker& w, const FrontendRt& fe);
void count_connection_close(Worker& w, const FrontendRt& fe);

// Starts serving an accepted client connection as HTTP (over TLS with `tls`).
void start_session(Worker& w, const FrontendRt& fe, boost::asio::ip::tcp::socket sock,
                   const tls::ServerContext* tls = nullptr);
// The same for a connection already counted open whose first bytes were
// read (a TCP frontend's inspection that chose an HTTP backend).
void start_session(Worker& w, const FrontendRt& fe, boost::asio::ip::tcp::socket sock,
                   std::string_view first_bytes);
// Soft stop: an idle session's deadline moves to stop_idle_deadline().
void stop_idle(Session* s);
void abort_session(Session* s);
// Idle between requests and a second past its deadline: its close never
// came (the drain watch stops the worker anyway).
bool is_stuck(const Session* s);
// Hard stop: closes the parked connections (no answer).
void close_parked(Worker& w);
// Soft stop: parked connections' deadlines move to stop_idle_deadline().
void stop_parked(Worker& w);
bool parking_empty(const Worker& w);
// At teardown, after the thread ended: frees what is still parked.
void free_parked(Worker& w);

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
