// proxy/engine.cpp — the backend-neutral part of the engine: routing tables,
// the choice of I/O backend, limits, log formatting. See engine.h; the
// workers themselves are in workers.cpp (one copy per I/O backend).
#include "proxy/engine.h"

#include <liburing.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>

#include "proxy/io_engine.h"

namespace herd::proxy {

struct Engine::Impl {
  Shared shared;
  IoBackend backend;
  std::unique_ptr<IoEngine> io;
  Impl(const config::Config& cfg, balancing::Pool& pool, balancing::ProcessLive& process, Hooks h,
       IoBackend b)
      : shared{cfg, pool, process, std::move(h), {}, {}, {}, 0, {0}, {false}, {}}, backend(b) {}
};

const char* to_string(IoBackend b) { return b == IoBackend::IoUring ? "io_uring" : "epoll"; }

std::string io_uring_unavailable() {
  io_uring ring;
  // The same ring size a worker asks for, so a memlock limit shows here too.
  int rc = io_uring_queue_init(16384, &ring, 0);
  if (rc < 0) return std::strerror(-rc);
  io_uring_queue_exit(&ring);
  return "";
}

}  // namespace herd::proxy

// Asio's io_uring backend creates its rings with no setup flags; the io_uring
// copy of the workers is compiled with io_uring_queue_init renamed to this
// (proxy/CMakeLists.txt), which asks for cooperative task running first:
// completions are then run when the worker next enters the kernel instead of
// interrupting it (TWA_SIGNAL). Kernels before 5.19 reject the flag (EINVAL)
// and get Asio's default.
extern "C" int herd_io_uring_queue_init(unsigned entries, struct io_uring* ring, unsigned flags) {
  io_uring_params p{};
  p.flags = flags | IORING_SETUP_COOP_TASKRUN;
  int rc = io_uring_queue_init_params(entries, ring, &p);
  if (rc != -EINVAL) return rc;
  p = io_uring_params{};
  p.flags = flags;
  return io_uring_queue_init_params(entries, ring, &p);
}

namespace herd::proxy {

Engine::Engine(const config::Config& cfg, balancing::Pool& pool, balancing::ProcessLive& process,
               Hooks hooks, IoBackend backend)
    : impl_(std::make_unique<Impl>(cfg, pool, process, std::move(hooks), backend)) {
  auto& sh = impl_->shared;
  auto snap = pool.current();
  // Backends keep their index in every snapshot (backends are fixed at start-up).
  for (const auto& be : snap->backends) {
    sh.backend_cfg.push_back(cfg.find_backend(be->name));
    sh.queues.push_back(std::make_unique<BackendQueue>());
  }
  auto backend_index = [&](const std::string& name) -> int {
    for (size_t i = 0; i < snap->backends.size(); ++i)
      if (snap->backends[i]->name == name) return static_cast<int>(i);
    return -1;
  };
  for (const auto& px : cfg.proxies) {
    if (!px.has_frontend()) continue;
    FrontendRt fe;
    fe.cfg = &px;
    fe.live = process.frontend(px.name);
    if (!fe.live) {
      auto l = std::make_unique<balancing::FrontendLive>();
      l->name = px.name;
      l->id = px.id;
      l->maxconn = px.maxconn;
      fe.live = l.get();
      process.frontends.push_back(std::move(l));
    }
    fe.default_backend = px.kind == config::Proxy::Kind::Listen && px.default_backend.empty()
                             ? backend_index(px.name)
                             : backend_index(px.default_backend);
    for (const auto& ub : px.use_backends) fe.routes.push_back({backend_index(ub.backend), &ub});
    fe.close_client = px.conn_mode == config::HttpConnMode::Close;
    fe.tcp = px.mode == config::Mode::Tcp;
    fe.logs = sh.hooks.log && sh.hooks.logs_requests && sh.hooks.logs_requests(px);
    sh.frontends.push_back(std::move(fe));
  }
  sh.maxconn = effective_maxconn(cfg);
  unsigned n = cfg.global.nbthread > 0 ? static_cast<unsigned>(cfg.global.nbthread)
                                       : std::max(1u, std::thread::hardware_concurrency());
  impl_->io = backend == IoBackend::IoUring ? make_uring_engine(sh, n) : make_epoll_engine(sh, n);
}

Engine::~Engine() {
  hard_stop();
  join();
}

void Engine::bind(const Inherit& inherit) { impl_->io->bind(inherit); }
std::vector<int> Engine::listener_fds() const { return impl_->io->listener_fds(); }
void Engine::set_handed_over() { impl_->shared.handed_over = true; }
void Engine::start() { impl_->io->start(); }
void Engine::soft_stop() { impl_->io->soft_stop(); }
void Engine::abort_sessions() {
  if (impl_->io) impl_->io->abort_sessions();
}
void Engine::hard_stop() {
  if (impl_->io) impl_->io->hard_stop();
}
void Engine::join() {
  if (impl_->io) impl_->io->join();
}

int Engine::effective_maxconn(const config::Config& cfg) {
  if (cfg.global.maxconn > 0) return cfg.global.maxconn;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t fds = rl.rlim_cur == RLIM_INFINITY ? 1048576 : rl.rlim_cur;
  return static_cast<int>(std::max<rlim_t>(100, (fds - 100) / 2));
}

unsigned Engine::threads() const { return impl_->io->threads(); }

void Engine::on_pool_changes(const std::vector<balancing::PoolChange>& changes) {
  using Kind = balancing::PoolChange::Kind;
  auto& sh = impl_->shared;
  std::shared_ptr<const balancing::PoolSnapshot> snap;
  for (const auto& ch : changes) {
    if (ch.kind == Kind::Removed || ch.kind == Kind::Address || ch.kind == Kind::CheckEnabled)
      continue;
    if (!snap) snap = sh.pool.current();
    // Backends keep their index in every snapshot (fixed at start-up).
    for (size_t i = 0; i < snap->backends.size() && i < sh.queues.size(); ++i) {
      const balancing::BackendSnapshot& be = *snap->backends[i];
      if (be.name != ch.backend) continue;
      BackendQueue& q = *sh.queues[i];
      const balancing::Server* s = be.find(ch.server);
      if (q.has_waiters() && s && s->is_up())
        q.grant_free(
            s->live.get(), s->usable(), [s] { return s->take_slot(); },
            [s] { s->live->inflight.dec(); });
      break;
    }
  }
}

IoBackend Engine::io_backend() const { return impl_->backend; }

std::string log_accept_date() { return log_accept_date(std::chrono::system_clock::now()); }

std::string log_accept_date(std::chrono::system_clock::time_point now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%d/%b/%Y:%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03d", ms);
  return buf;
}

namespace {

// "<client> [<accept date>] <frontend> <backend>/<server> ": both formats start so.
void append_log_head(std::string& s, const LogRecord& r) {
  s += r.client;
  s += " [";
  s += r.accept_date;
  s += "] ";
  s += r.frontend;
  s += ' ';
  s += r.backend;
  s += '/';
  s += r.server;
  s += ' ';
}

// "<ac>/<fc>/<bc>/<sc>/<rc> <sq>/<bq>": connection counts and queues.
void append_log_counts(std::string& s, const LogRecord& r) {
  s += std::to_string(r.actconn) + '/' + std::to_string(r.feconn) + '/' + std::to_string(r.beconn) +
       '/' + std::to_string(r.srvconn) + '/' + std::to_string(r.retries);
  s += ' ';
  s += std::to_string(r.srv_queue) + '/' + std::to_string(r.be_queue);
}

}  // namespace

std::string format_httplog(const LogRecord& r, const config::Proxy* fe) {
  std::string s;
  s.reserve(256);
  append_log_head(s, r);
  s += std::to_string(r.tr) + '/' + std::to_string(r.tw) + '/' + std::to_string(r.tc) + '/' +
       std::to_string(r.tres) + '/' + std::to_string(r.ta);
  s += ' ';
  s += std::to_string(r.status);
  s += ' ';
  s += std::to_string(r.bytes_out);
  s += " - - ";
  s.append(r.term, 4);
  s += ' ';
  append_log_counts(s, r);
  if (fe) {  // the capture slots, empty: " {|}" for two
    for (const auto* caps : {&fe->req_captures, &fe->res_captures}) {
      if (caps->empty()) continue;
      s += " {";
      s.append(caps->size() - 1, '|');
      s += '}';
    }
  }
  s += " \"";
  s += r.request_line;
  s += '"';
  return s;
}

std::string format_tcplog(const LogRecord& r) {
  std::string s;
  s.reserve(160);
  append_log_head(s, r);
  s += std::to_string(r.tw) + '/' + std::to_string(r.tc) + '/' + std::to_string(r.ta);
  s += ' ';
  s += std::to_string(r.bytes_out);
  s += ' ';
  s.append(r.term, 2);
  s += ' ';
  append_log_counts(s, r);
  return s;
}

}  // namespace herd::proxy
