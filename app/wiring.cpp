// app/wiring.cpp — see wiring.h.
#include "app/wiring.h"

namespace herd::app {

struct Wiring::Impl {
  boost::asio::io_context& control;
  const config::Config& cfg;
  balancing::Pool& pool;
  balancing::PoolWriter& writer;
  balancing::ProcessLive& process;
  const LogSink& sink;
  std::string membership_file;
};

Wiring::Wiring(boost::asio::io_context& control, const config::Config& cfg, balancing::Pool& pool,
               balancing::PoolWriter& writer, balancing::ProcessLive& process, const LogSink& sink,
               const std::string& membership_file)
    : impl_(new Impl{control, cfg, pool, writer, process, sink, membership_file}) {}

Wiring::~Wiring() = default;

proxy::Hooks Wiring::proxy_hooks() {
  proxy::Hooks h;
  const LogSink* sink = &impl_->sink;
  h.logs_requests = [sink](const config::Proxy& fe) {
    return fe.httplog && sink->wants(&fe, kInfo);
  };
  h.log = [sink](const config::Proxy& fe, const proxy::LogRecord& r) {
    sink->send(&fe, kInfo, proxy::format_httplog(r));
  };
  return h;
}

bool Wiring::start() { return true; }
void Wiring::soft_stop() {}
void Wiring::stop() {}

}  // namespace herd::app
