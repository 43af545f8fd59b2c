// app/logsink.cpp — see logsink.h.
#include "app/logsink.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace herd::app {

LogSink::LogSink(const config::Config& cfg) : pid_(static_cast<int>(::getpid())) {
  fd4_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  fd6_ = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  fdun_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  global_ = resolve(cfg.global.logs);
  for (const auto& px : cfg.proxies) proxies_.emplace_back(&px, resolve(px.logs));
}

LogSink::~LogSink() {
  if (fd4_ >= 0) ::close(fd4_);
  if (fd6_ >= 0) ::close(fd6_);
  if (fdun_ >= 0) ::close(fdun_);
}

std::vector<LogSink::Target> LogSink::resolve(const std::vector<config::LogTarget>& in) const {
  std::vector<Target> out;
  for (const auto& t : in) {
    Target x{t, {}, 0};
    if (t.kind == config::LogTarget::Kind::Udp && !t.unix_path.empty()) {
      auto* un = reinterpret_cast<sockaddr_un*>(&x.addr);
      if (t.unix_path.size() >= sizeof un->sun_path) continue;
      un->sun_family = AF_UNIX;
      std::memcpy(un->sun_path, t.unix_path.c_str(), t.unix_path.size() + 1);
      x.len = static_cast<socklen_t>(sizeof(sockaddr_un));
    } else if (t.kind == config::LogTarget::Kind::Udp) {
      uint16_t port = t.addr.port ? t.addr.port : 514;
      auto* a4 = reinterpret_cast<sockaddr_in*>(&x.addr);
      auto* a6 = reinterpret_cast<sockaddr_in6*>(&x.addr);
      std::string ip = t.addr.ip.empty() ? "127.0.0.1" : t.addr.ip;
      if (inet_pton(AF_INET, ip.c_str(), &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        x.len = sizeof(sockaddr_in);
      } else if (inet_pton(AF_INET6, ip.c_str(), &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        x.len = sizeof(sockaddr_in6);
      } else {
        continue;
      }
    }
    out.push_back(x);
  }
  return out;
}

bool LogSink::wants(const config::Proxy* px, int severity) const {
  auto ok = [&](const std::vector<Target>& ts) {
    for (const auto& t : ts)
      if (severity <= t.t.max_level && severity >= t.t.min_level) return true;
    return false;
  };
  if (!px) return ok(global_);
  for (const auto& [p, ts] : proxies_)
    if (p == px) return ok(ts) || (px->log_global && ok(global_));
  return false;
}

void LogSink::send(const config::Proxy* px, int severity, std::string_view msg) const {
  if (!px) {
    send_to(global_, severity, msg);
    return;
  }
  for (const auto& [p, ts] : proxies_) {
    if (p != px) continue;
    send_to(ts, severity, msg);
    if (px->log_global) send_to(global_, severity, msg);
  }
}

void LogSink::send_to(const std::vector<Target>& ts, int severity, std::string_view msg) const {
  for (const auto& t : ts) {
    if (severity > t.t.max_level || severity < t.t.min_level) continue;
    std::string line;
    if (t.t.format == "raw") {
      line.assign(msg);
    } else {
      // RFC3164 as HAProxy sends it: no host name, space-padded day.
      std::time_t now = std::time(nullptr);
      std::tm tm{};
      localtime_r(&now, &tm);
      char stamp[32];
      std::strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
      line = "<" + std::to_string(t.t.facility * 8 + severity) + ">" + stamp + " haproxy[" +
             std::to_string(pid_) + "]: ";
      line.append(msg);
    }
    if (line.size() > static_cast<size_t>(t.t.max_len))
      line.resize(static_cast<size_t>(t.t.max_len));
    line += '\n';
    switch (t.t.kind) {
      case config::LogTarget::Kind::Stdout:
        (void)!::write(1, line.data(), line.size());
        break;
      case config::LogTarget::Kind::Stderr:
        (void)!::write(2, line.data(), line.size());
        break;
      case config::LogTarget::Kind::Udp: {
        int fd = t.addr.ss_family == AF_INET6 ? fd6_ : t.addr.ss_family == AF_UNIX ? fdun_ : fd4_;
        (void)::sendto(fd, line.data(), line.size(), MSG_DONTWAIT,
                       reinterpret_cast<const sockaddr*>(&t.addr), t.len);
        break;
      }
    }
  }
}

void LogSink::stderr_line(std::string_view level, std::string_view msg) {
  std::string tag = "[" + std::string(level) + "]";
  while (tag.size() < 10) tag += ' ';
  std::string line = tag + " (" + std::to_string(::getpid()) + ") : ";
  line.append(msg);
  line += '\n';
  (void)!::write(2, line.data(), line.size());
}

}  // namespace herd::app
