// proxy/engine.cpp — workers, listeners, start/stop. See engine.h.
#include "proxy/engine.h"

#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>
#include <thread>

#include "proxy/worker.h"

namespace herd::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Worker::Worker(Shared& s, unsigned i) : shared(s), index(i), reader(s.pool) {}

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

void Worker::start_accepting() {
  for (auto& l : listeners) {
    asio::co_spawn(
        ioc,
        [this, &l]() -> asio::awaitable<void> {
          asio::steady_timer pause(ioc);
          for (;;) {
            // maxconn (global, then the frontend's): stop accepting while at the
            // limit, as HAProxy does; the kernel backlog holds new clients.
            while (!stopping &&
                   (shared.process.conns.get() >= shared.maxconn ||
                    (l.fe->cfg->maxconn > 0 && l.fe->live->sessions.get() >= l.fe->cfg->maxconn))) {
              pause.expires_after(std::chrono::milliseconds(5));
              co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            auto [ec, sock] =
                co_await l.acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
            if (stopping || !l.acceptor->is_open()) co_return;
            if (ec) {
              if (ec == asio::error::operation_aborted) co_return;
              continue;  // EMFILE and friends: keep accepting
            }
            start_session(*this, *l.fe, std::move(sock));
          }
        },
        asio::detached);
  }
}

void Worker::soft_stop() {
  stopping = true;
  boost::system::error_code ec;
  for (auto& l : listeners) l.acceptor->close(ec);
  auto copy = sessions;
  for (Session* s : copy) close_if_idle(s);
  upstreams.clear();
}

struct Engine::Impl {
  Shared shared;
  std::vector<std::unique_ptr<Worker>> workers;
  Impl(const config::Config& cfg, balancing::Pool& pool, balancing::ProcessLive& process, Hooks h)
      : shared{cfg, pool, process, std::move(h), {}, {}, 0} {}
};

Engine::Engine(const config::Config& cfg, balancing::Pool& pool, balancing::ProcessLive& process,
               Hooks hooks)
    : impl_(std::make_unique<Impl>(cfg, pool, process, std::move(hooks))) {
  auto& sh = impl_->shared;
  auto snap = pool.current();
  // Backends keep their index in every snapshot (backends are fixed at start-up).
  for (const auto& be : snap->backends) sh.backend_cfg.push_back(cfg.find_backend(be->name));
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
    fe.logs = sh.hooks.log && sh.hooks.logs_requests && sh.hooks.logs_requests(px);
    sh.frontends.push_back(std::move(fe));
  }
  sh.maxconn = effective_maxconn(cfg);
  unsigned n = cfg.global.nbthread > 0 ? static_cast<unsigned>(cfg.global.nbthread)
                                       : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) impl_->workers.push_back(std::make_unique<Worker>(sh, i));
}

Engine::~Engine() {
  hard_stop();
  join();
}

void Engine::bind() {
  for (auto& w : impl_->workers) {
    for (const auto& fe : impl_->shared.frontends) {
      for (const auto& b : fe.cfg->binds) {
        boost::system::error_code ec;
        auto addr = asio::ip::make_address(b.addr.ip.empty() ? "0.0.0.0" : b.addr.ip, ec);
        if (ec)
          throw std::runtime_error("[" + b.where.file + ":" + std::to_string(b.where.line) +
                                   "] : invalid bind address '" + b.addr.ip + "'");
        tcp::endpoint ep(addr, b.addr.port);
        auto acc = std::make_unique<tcp::acceptor>(w->ioc);
        acc->open(ep.protocol(), ec);
        if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec) {
          int one = 1;
          if (::setsockopt(acc->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
            ec = boost::system::error_code(errno, boost::system::system_category());
        }
        if (!ec) acc->bind(ep, ec);
        if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
          throw std::runtime_error(
              "Starting " +
              std::string(fe.cfg->kind == config::Proxy::Kind::Listen ? "proxy" : "frontend") +
              " " + fe.cfg->name + ": cannot bind socket (" + ec.message() + ") [" + b.addr.ip +
              ":" + std::to_string(b.addr.port) + "]");
        w->listeners.push_back({std::move(acc), &fe});
      }
    }
  }
}

void Engine::start() {
  for (auto& w : impl_->workers) {
    Worker* wp = w.get();
    wp->start_accepting();
    wp->thread = std::thread([wp] {
      balancing::set_current_thread_slot(wp->index);
      wp->ioc.run();
    });
  }
}

void Engine::soft_stop() {
  for (auto& w : impl_->workers) {
    Worker* wp = w.get();
    asio::post(wp->ioc, [wp] { wp->soft_stop(); });
  }
}

void Engine::hard_stop() {
  for (auto& w : impl_->workers) w->ioc.stop();
}

void Engine::join() {
  for (auto& w : impl_->workers)
    if (w->thread.joinable()) w->thread.join();
}

int Engine::effective_maxconn(const config::Config& cfg) {
  if (cfg.global.maxconn > 0) return cfg.global.maxconn;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t fds = rl.rlim_cur == RLIM_INFINITY ? 1048576 : rl.rlim_cur;
  return static_cast<int>(std::max<rlim_t>(100, (fds - 100) / 2));
}

unsigned Engine::threads() const { return static_cast<unsigned>(impl_->workers.size()); }

const char* Engine::io_backend() {
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  return "io_uring";
#else
  return "epoll";
#endif
}

std::string format_httplog(const LogRecord& r) {
  std::string s;
  s.reserve(256);
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
  s += std::to_string(r.tr) + '/' + std::to_string(r.tw) + '/' + std::to_string(r.tc) + '/' +
       std::to_string(r.tres) + '/' + std::to_string(r.ta);
  s += ' ';
  s += std::to_string(r.status);
  s += ' ';
  s += std::to_string(r.bytes_out);
  s += " - - ";
  s.append(r.term, 4);
  s += ' ';
  s += std::to_string(r.actconn) + '/' + std::to_string(r.feconn) + '/' + std::to_string(r.beconn) +
       '/' + std::to_string(r.srvconn) + '/' + std::to_string(r.retries);
  s += ' ';
  s += std::to_string(r.srv_queue) + '/' + std::to_string(r.be_queue);
  s += " \"";
  s += r.request_line;
  s += '"';
  return s;
}

}  // namespace herd::proxy
