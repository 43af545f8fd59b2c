// balancing/server.cpp — Endpoint parsing and printing (see server.h).
#include "balancing/server.h"

#include <arpa/inet.h>

#include <cstring>

namespace herd::balancing {

Server Server::from_line(const config::Server& line) {
  Server s;
  s.name = line.name;
  s.cookie = line.cookie;
  s.weight = s.initial_weight = line.weight;
  s.backup = line.backup;
  s.maxconn = line.maxconn;
  s.maxqueue = line.maxqueue;
  s.minconn = line.minconn;
  s.shutdown_on_down = line.shutdown_on_down;
  s.shutdown_backup_on_up = line.shutdown_backup_on_up;
  s.send_proxy = static_cast<uint8_t>(line.send_proxy);
  s.source = line.source;
  s.socks4_host = line.socks4_host;
  s.socks4_port = line.socks4_port;
  s.check_via_socks4 = line.check_via_socks4;
  s.check_enabled = s.check_configured = line.check;
  s.rise = line.rise;
  s.fall = line.fall;
  s.check_inter_ms = line.inter_ms > 0 ? line.inter_ms : 2000;
  s.check_fastinter_ms = line.fastinter_ms;
  s.check_downinter_ms = line.downinter_ms;
  s.check_port = line.check_port;
  s.check_addr = line.check_addr;
  s.set_observe(line.observe, line.error_limit, line.on_error);
  s.slowstart_s = static_cast<int>(line.slowstart_ms / 1000);
  s.hash_key = line.hash_key;
  s.tls_ctx = line.tls_ctx;
  s.ssl = line.tls.enabled && line.tls_ctx;
  s.tls_sni = line.tls.sni;
  s.tls_sni_arg = line.tls.sni_arg;
  // Checks are ciphered with `check-ssl`, or with `ssl` when neither `port`
  // nor `addr` sends them elsewhere (haproxy 2.6).
  s.check_ssl =
      line.tls.check_ssl || (line.tls.enabled && line.check_port == 0 && line.check_addr.empty());
  return s;
}

bool Endpoint::parse(const std::string& ip_text, uint16_t port_num, Endpoint& out) {
  std::string text = ip_text;
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  if (text.empty() || text == "*") text = "0.0.0.0";
  Endpoint e;
  char buf[INET6_ADDRSTRLEN] = {};
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, text.c_str(), &a4) == 1) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port_num);
    sin.sin_addr = a4;
    std::memcpy(&e.storage, &sin, sizeof sin);
    e.len = sizeof sin;
    inet_ntop(AF_INET, &a4, buf, sizeof buf);
  } else if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port_num);
    sin6.sin6_addr = a6;
    std::memcpy(&e.storage, &sin6, sizeof sin6);
    e.len = sizeof sin6;
    inet_ntop(AF_INET6, &a6, buf, sizeof buf);
  } else {
    return false;
  }
  e.ip = buf;
  e.port = port_num;
  out = e;
  return true;
}

std::string Endpoint::to_string() const {
  bool v6 = storage.ss_family == AF_INET6 || ip.find(':') != std::string::npos;
  std::string s = v6 ? "[" + ip + "]" : ip;
  return s + ":" + std::to_string(port);
}

}  // namespace herd::balancing
