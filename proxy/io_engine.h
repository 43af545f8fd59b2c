// proxy/io_engine.h — the seam between the backend-neutral Engine (engine.cpp)
// and its two compiled I/O variants.
//
// workers.cpp, session.cpp and upstream.cpp are compiled twice (see
// proxy/CMakeLists.txt): once against Asio's epoll reactor, once against its
// io_uring backend (BOOST_ASIO_HAS_IO_URING + BOOST_ASIO_DISABLE_EPOLL). Asio
// picks its backend at compile time, so the io_uring copy is built with the
// `boost` namespace renamed and herd's own names in an inline namespace
// (HERD_IO_NS): the two copies share no symbol, and one binary can choose its
// backend at run time. Only the types in this header cross the seam; none of
// them mentions Boost.
//
// Thread rules: as engine.h (construction and control from the main thread).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "balancing/frontend.h"
#include "balancing/pool.h"
#include "config/model.h"
#include "proxy/engine.h"
#include "proxy/queue.h"

namespace herd::proxy {

// Routing facts of one frontend/listen, resolved once at start-up.
struct FrontendRt {
  const config::Proxy* cfg = nullptr;
  balancing::FrontendLive* live = nullptr;
  int default_backend = -1;  // index into PoolSnapshot::backends, -1 none
  struct Route {
    int backend;
    const config::UseBackend* rule;
  };
  std::vector<Route> routes;
  bool logs = false;
  bool tcp = false;  // `mode tcp`: connections are routed on layer-4 facts, then relayed
  // Options that apply to the request: the frontend's, then the backend's.
  bool close_client = false;  // `option httpclose` on the frontend side
};

inline constexpr size_t kBufSize = 16384;  // HAProxy's tune.bufsize

// What every worker of the engine reads; immutable once the engine starts.
struct Shared {
  const config::Config& cfg;
  balancing::Pool& pool;
  balancing::ProcessLive& process;
  Hooks hooks;
  std::vector<FrontendRt> frontends;
  std::vector<const config::Proxy*> backend_cfg;  // parallel to PoolSnapshot::backends
  std::vector<std::unique_ptr<BackendQueue>> queues;  // parallel to backend_cfg
  int maxconn = 0;                                // process-wide limit on client connections
  // Accepting paused at a maxconn (global or a frontend's): how many
  // listeners wait, and one waker per worker (posts to its thread) that
  // count_connection_close() calls while any waits. Set up before start.
  std::atomic<int> paused_listeners{0};
  // The listeners went to a successor (Engine::set_handed_over()).
  std::atomic<bool> handed_over{false};
  std::vector<std::function<void()>> accept_wakers;
};

// The workers of one I/O backend; Engine forwards its calls here.
class IoEngine {
 public:
  virtual ~IoEngine() = default;
  virtual void bind(const Engine::Inherit& inherit) = 0;
  virtual std::vector<int> listener_fds() const = 0;
  virtual void start() = 0;
  virtual void soft_stop() = 0;
  virtual void hard_stop() = 0;
  virtual void abort_sessions() = 0;
  // `on-marked-down shutdown-sessions` / `on-marked-up
  // shutdown-backup-sessions`: every worker cuts its TCP sessions relaying
  // to the server whose live state is `server_live`, logged `<cause>-`.
  virtual void kill_server_sessions(const void* server_live, char cause) = 0;
  virtual void join() = 0;
  virtual unsigned threads() const = 0;
};

// Defined by the epoll and the io_uring copy of workers.cpp.
std::unique_ptr<IoEngine> make_epoll_engine(Shared& shared, unsigned threads);
std::unique_ptr<IoEngine> make_uring_engine(Shared& shared, unsigned threads);

}  // namespace herd::proxy
