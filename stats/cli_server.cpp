// stats/cli_server.cpp — Asio listeners running CliSessions (see cli_server.h).
#include "stats/cli_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace herd::stats {

namespace asio = boost::asio;

namespace {

template <class Socket>
class Connection : public std::enable_shared_from_this<Connection<Socket>> {
 public:
  Connection(Socket sock, const CliEnv& env, Level level, int64_t timeout_ms,
             const CliServer::Handover* handover)
      : sock_(std::move(sock)),
        timer_(sock_.get_executor()),
        session_(env, level, timeout_ms),
        handover_(handover) {}

  void start() {
    arm_timer();
    read();
  }

 private:
  void arm_timer() {
    const int64_t ms = session_.timeout_ms();
    if (ms <= 0) {
      timer_.cancel();
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(ms));
    timer_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->close();
    });
  }

  void read() {
    sock_.async_read_some(asio::buffer(buf_),
                          [self = this->shared_from_this()](boost::system::error_code ec,
                                                            size_t n) { self->on_read(ec, n); });
  }

  void on_read(boost::system::error_code ec, size_t n) {
    if (ec) {
      close();
      return;
    }
    arm_timer();
    std::string_view in(buf_.data(), n);
    if (first_ && (in == "_getsocks\n" || in == "_getstate\n")) {
      // A successor asking for this process's sockets or member state.
      const bool socks = in == "_getsocks\n";
      if (handover_ && socks && handover_->send) handover_->send(sock_.native_handle());
      if (handover_ && !socks && handover_->state) {
        auto data = std::make_shared<std::string>(handover_->state());
        asio::async_write(sock_, asio::buffer(*data),
                          [self = this->shared_from_this(), data](boost::system::error_code,
                                                                  size_t) { self->close(); });
        return;
      }
      close();
      return;
    }
    first_ = false;
    CliSession::Output out = session_.feed(in);
    if (out.bytes.empty()) {
      if (out.close)
        close();
      else
        read();
      return;
    }
    auto data = std::make_shared<std::string>(std::move(out.bytes));
    const bool close_after = out.close;
    asio::async_write(sock_, asio::buffer(*data),
                      [self = this->shared_from_this(), data, close_after](
                          boost::system::error_code wec, size_t) {
                        if (wec || close_after)
                          self->close();
                        else
                          self->read();
                      });
  }

  void close() {
    boost::system::error_code ignored;
    timer_.cancel();
    sock_.shutdown(asio::socket_base::shutdown_both, ignored);
    sock_.close(ignored);
  }

  Socket sock_;
  asio::steady_timer timer_;
  CliSession session_;
  const CliServer::Handover* handover_;  // null: the socket exposes nothing
  bool first_ = true;
  std::array<char, 4096> buf_{};
};

}  // namespace

struct CliServer::Impl {
  asio::io_context& io;
  const CliEnv& env;
  int64_t timeout_ms;
  std::vector<std::unique_ptr<asio::local::stream_protocol::acceptor>> unix_acceptors;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> tcp_acceptors;
  std::vector<std::pair<std::string, ino_t>> unix_paths;  // path, inode of our file
  CliServer::Handover handover;

  template <class Acceptor, class Socket>
  void accept(Acceptor& acc, Level level, bool expose) {
    acc.async_accept([this, &acc, level, expose](boost::system::error_code ec, Socket sock) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec)
        std::make_shared<Connection<Socket>>(std::move(sock), env, level, timeout_ms,
                                             expose ? &handover : nullptr)
            ->start();
      if (acc.is_open()) accept<Acceptor, Socket>(acc, level, expose);
    });
  }
};

CliServer::CliServer(asio::io_context& io, const CliEnv& env, int64_t timeout_ms)
    : impl_(std::make_unique<Impl>(Impl{io, env, timeout_ms, {}, {}, {}, {}})) {}

void CliServer::set_handover(Handover h) { impl_->handover = std::move(h); }

CliServer::~CliServer() { stop(); }

std::string CliServer::start(const std::vector<config::StatsSocket>& sockets) {
  for (const auto& s : sockets) {
    boost::system::error_code ec;
    if (s.is_unix) {
      // Bound as <path>.<pid>.tmp, then renamed over <path> (HAProxy does
      // so too): an old process's socket stays reachable until then.
      const std::string tmp = s.path + "." + std::to_string(::getpid()) + ".tmp";
      ::unlink(tmp.c_str());
      auto acc = std::make_unique<asio::local::stream_protocol::acceptor>(impl_->io);
      asio::local::stream_protocol::endpoint ep(tmp);
      acc->open(ep.protocol(), ec);
      if (!ec) acc->bind(ep, ec);
      if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
      // Owner, then mode, before the rename (haproxy's order): the socket
      // never shows at its path with the wrong ones.
      if (!ec && (s.uid != -1 || s.gid != -1) &&
          ::chown(tmp.c_str(), static_cast<uid_t>(s.uid), static_cast<gid_t>(s.gid)) != 0)
        ec = boost::system::error_code(errno, boost::system::system_category());
      if (!ec && s.mode != 0) ::chmod(tmp.c_str(), static_cast<mode_t>(s.mode));
      if (!ec && ::rename(tmp.c_str(), s.path.c_str()) != 0)
        ec = boost::system::error_code(errno, boost::system::system_category());
      if (ec) {
        ::unlink(tmp.c_str());
        return "cannot bind UNIX socket [" + s.path + "]: " + ec.message();
      }
      struct stat st {};
      ::stat(s.path.c_str(), &st);
      impl_->unix_paths.emplace_back(s.path, st.st_ino);
      impl_->accept<asio::local::stream_protocol::acceptor, asio::local::stream_protocol::socket>(
          *acc, s.level, s.expose_fd_listeners);
      impl_->unix_acceptors.push_back(std::move(acc));
    } else {
      auto addr = asio::ip::make_address(s.addr.ip.empty() ? "0.0.0.0" : s.addr.ip, ec);
      if (ec) return "invalid address for stats socket [" + s.addr.host + "]";
      asio::ip::tcp::endpoint ep(addr, s.addr.port);
      auto acc = std::make_unique<asio::ip::tcp::acceptor>(impl_->io);
      acc->open(ep.protocol(), ec);
      if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) acc->bind(ep, ec);
      if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
      if (ec)
        return "cannot bind socket [" + s.addr.ip + ":" + std::to_string(s.addr.port) +
               "]: " + ec.message();
      impl_->accept<asio::ip::tcp::acceptor, asio::ip::tcp::socket>(*acc, s.level, false);
      impl_->tcp_acceptors.push_back(std::move(acc));
    }
  }
  return "";
}

void CliServer::stop(const std::string& keep) {
  if (!impl_) return;
  boost::system::error_code ec;
  for (auto& a : impl_->tcp_acceptors) a->close(ec);
  for (std::size_t i = 0; i < impl_->unix_paths.size(); ++i) {
    auto& [path, ino] = impl_->unix_paths[i];
    if (path.empty() || (!keep.empty() && path == keep)) continue;  // closed before, or kept
    impl_->unix_acceptors[i]->close(ec);
    // A successor may have renamed its own socket over the path already.
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && st.st_ino == ino) ::unlink(path.c_str());
    path.clear();
  }
}

std::vector<uint16_t> CliServer::tcp_ports() const {
  std::vector<uint16_t> out;
  for (const auto& a : impl_->tcp_acceptors) {
    boost::system::error_code ec;
    auto ep = a->local_endpoint(ec);
    out.push_back(ec ? 0 : ep.port());
  }
  return out;
}

}  // namespace herd::stats
