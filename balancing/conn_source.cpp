// balancing/conn_source.cpp — see conn_source.h.
#include "balancing/conn_source.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace herd::balancing {

namespace {

// `host`:`port` as a sockaddr of `family`; false when it is not of it.
bool make_addr(const std::string& host, uint16_t port, int family, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(out);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    return inet_pton(AF_INET, host.c_str(), &a->sin_addr) == 1;
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(out);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  if (inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) == 1) return true;
  // An IPv4 source for an IPv6 server: its mapped form.
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) != 1) return false;
  a->sin6_addr.s6_addr[10] = a->sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
  return true;
}

void set_port(sockaddr_storage* a, uint16_t port) {
  if (a->ss_family == AF_INET)
    reinterpret_cast<sockaddr_in*>(a)->sin_port = htons(port);
  else
    reinterpret_cast<sockaddr_in6*>(a)->sin6_port = htons(port);
}

}  // namespace

const config::ConnSource* conn_source(const Server& srv, const config::Proxy& be) {
  if (srv.source.set) return &srv.source;
  if (be.source.set) return &be.source;
  return nullptr;
}

bool source_is_per_client(const config::ConnSource* src) {
  return src && (src->usesrc == config::ConnSource::Usesrc::Client ||
                 src->usesrc == config::ConnSource::Usesrc::ClientIp);
}

int bind_source(int fd, int family, const config::ConnSource& src, const sockaddr_storage* client) {
  using U = config::ConnSource::Usesrc;
  const int one = 1;
  // haproxy's tcp_bind_socket(): flags 1 = foreign address, 2 = its port too.
  int flags = 0;
  sockaddr_storage foreign{};
  if (src.usesrc != U::None && client && client->ss_family == family) {
    if (src.usesrc == U::Addr) {
      if (!make_addr(src.usesrc_host, src.usesrc_port, family, &foreign)) return EAFNOSUPPORT;
      flags = 3;
    } else {
      foreign = *client;
      flags = src.usesrc == U::Client ? 3 : 1;
    }
  }
  sockaddr_storage local{};
  if (flags & 1) {
    local = foreign;
    if (!(flags & 2)) set_port(&local, 0);
  } else if (!make_addr(src.host, src.port, family, &local)) {
    return EAFNOSUPPORT;
  }
  // As haproxy: no port is reserved at bind time when none is asked for.
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (flags & 1) {
    const int level = family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
    const int opt = family == AF_INET ? IP_TRANSPARENT : IPV6_TRANSPARENT;
    if (::setsockopt(fd, level, opt, &one, sizeof(one)) != 0) return errno;
  }
  const socklen_t len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), len) != 0) return errno;
  return 0;
}

}  // namespace herd::balancing
