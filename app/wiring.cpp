// app/wiring.cpp — see wiring.h.
#include "app/wiring.h"

#include <boost/asio/post.hpp>
#include <map>

#include "stats/cli.h"
#include "stats/cli_server.h"
#include "stats/csv.h"
#include "stats/page.h"

namespace herd::app {

struct Wiring::Impl {
  boost::asio::io_context& control;
  const config::Config& cfg;
  balancing::Pool& pool;
  balancing::PoolWriter& writer;
  balancing::ProcessLive& process;
  const LogSink& sink;
  std::string membership_file;

  stats::ProcessInfo info;
  stats::CliRegistry registry;
  std::unique_ptr<stats::CliEnv> cli_env;
  std::unique_ptr<stats::CliServer> cli;
  std::map<const config::Proxy*, std::unique_ptr<stats::StatsPage>> pages;

  const stats::StatsPage* page(const config::Proxy& px) const {
    auto it = pages.find(&px);
    return it == pages.end() ? nullptr : it->second.get();
  }
};

Wiring::Wiring(boost::asio::io_context& control, const config::Config& cfg, balancing::Pool& pool,
               balancing::PoolWriter& writer, balancing::ProcessLive& process, const LogSink& sink,
               const std::string& membership_file)
    : impl_(new Impl{control, cfg, pool, writer, process, sink, membership_file, {}, {}, {}, {}, {}}) {
  auto& m = *impl_;
  m.info.nbthread = cfg.global.nbthread;
  m.info.maxconn = cfg.global.maxconn;
  stats::register_builtin_commands(m.registry);
  m.cli_env.reset(new stats::CliEnv{cfg, writer, process, m.info, m.registry});
  for (const auto& px : cfg.proxies)
    if (px.stats.enabled)
      m.pages[&px] = std::make_unique<stats::StatsPage>(cfg, px, pool, process, m.info);
}

Wiring::~Wiring() = default;

proxy::Hooks Wiring::proxy_hooks() {
  proxy::Hooks h;
  Impl* m = impl_.get();
  const LogSink* sink = &m->sink;
  h.logs_requests = [sink](const config::Proxy& fe) {
    return fe.httplog && sink->wants(&fe, kInfo);
  };
  h.log = [sink](const config::Proxy& fe, const proxy::LogRecord& r) {
    sink->send(&fe, kInfo, proxy::format_httplog(r));
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
  if (!m.cfg.global.stats_sockets.empty()) {
    m.cli = std::make_unique<stats::CliServer>(m.control, *m.cli_env, m.cfg.global.stats_timeout_ms);
    std::string err = m.cli->start(m.cfg.global.stats_sockets);
    if (!err.empty()) {
      LogSink::stderr_line("ALERT", err);
      return false;
    }
  }
  return true;
}

void Wiring::soft_stop() {
  if (impl_->cli) impl_->cli->stop();
}

void Wiring::stop() {
  if (impl_->cli) impl_->cli->stop();
}

}  // namespace herd::app
