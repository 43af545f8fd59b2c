// proxy/worker.h — internals of one I/O variant shared by workers.cpp and
// session.cpp: the per-thread Worker. Compiled once per backend (io_engine.h).
//
// Thread rules: a Worker and everything it owns is touched only by its own
// thread, except `post`ed closures (soft stop) and the immutable FrontendRt.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "balancing/frontend.h"
#include "balancing/pool.h"
#include "config/model.h"
#include "proxy/engine.h"
#include "proxy/io_engine.h"
#include "proxy/upstream.h"

#ifndef HERD_IO_NS
#error "worker.h belongs to an I/O variant: compile with HERD_IO_NS (proxy/CMakeLists.txt)"
#endif

namespace herd::proxy {
inline namespace HERD_IO_NS {

class Session;

class Worker {
 public:
  Worker(Shared& shared, unsigned index);
  Shared& shared;
  unsigned index;
  boost::asio::io_context ioc{1};
  balancing::PoolReader reader;
  UpstreamPool upstreams;
  struct Listener {
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    const FrontendRt* fe;
  };
  std::vector<Listener> listeners;
  std::vector<Session*> sessions;  // live sessions, for soft stop

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
  std::vector<std::unique_ptr<char[]>> free_buffers;
  static constexpr size_t kMaxFreeBuffers = 1024;
  std::unique_ptr<char[]> take_buffer() {
    if (free_buffers.empty()) return std::unique_ptr<char[]>(new char[kBufSize]);
    auto b = std::move(free_buffers.back());
    free_buffers.pop_back();
    return b;
  }
  void give_buffer(std::unique_ptr<char[]> b) {
    if (b && free_buffers.size() < kMaxFreeBuffers) free_buffers.push_back(std::move(b));
  }
  bool stopping = false;
  bool aborting = false;  // hard-stop-after: no retries, no new waits
  std::unique_ptr<boost::asio::steady_timer> drain_timer;  // soft stop
  std::unique_ptr<boost::asio::steady_timer> abort_timer;  // hard-stop-after
  void watch_drain();
  std::thread thread;

  void start_accepting();
  void soft_stop();       // on this worker's thread
  void abort_sessions();  // on this worker's thread, after soft_stop()
  // Takes the listeners out of LISTEN (shutdown(2)) on this worker's
  // thread, or once it has exited; see workers.cpp.
  void unlisten();
};

// Starts serving an accepted client connection.
void start_session(Worker& w, const FrontendRt& fe, boost::asio::ip::tcp::socket sock);
// Soft stop: closes the session if it is idle between requests.
void close_if_idle(Session* s);
void abort_session(Session* s);
// Between requests (nothing in flight).
bool is_idle(const Session* s);

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
