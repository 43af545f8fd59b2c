// app/handover.cpp — see handover.h.
#include "app/handover.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

namespace herd::app {

namespace {

constexpr int kMaxSendFd = 252;  // HAProxy's MAX_SEND_FD
// Per descriptor: namespace length, interface length, 4 zero bytes.
constexpr size_t kPerFd = 1 + 1 + sizeof(int);

std::string os_error(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool send_int(int fd, int v) {
  ssize_t r;
  do r = ::send(fd, &v, sizeof v, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  return r == static_cast<ssize_t>(sizeof v);
}

void set_timeouts(int fd) {
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// A connected Unix stream socket to `path` with 1 s send/receive timeouts.
int connect_unix(const std::string& path, std::string* err) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    *err = "socket path too long: " + path;
    return -1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = os_error("socket");
    return -1;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *err = "cannot connect to the old process's socket '" + path + "': " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  set_timeouts(fd);
  return fd;
}

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t r = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    off += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

std::string send_sockets(int conn, const std::vector<int>& fds) {
  int flags = ::fcntl(conn, F_GETFL);
  if (flags < 0) return os_error("fcntl");
  // Blocking for the exchange (HAProxy does the same), bounded by 1 s steps.
  ::fcntl(conn, F_SETFL, flags & ~O_NONBLOCK);
  set_timeouts(conn);
  std::string err;
  const int total = static_cast<int>(fds.size());
  if (!send_int(conn, total)) err = "cannot send the number of sockets";
  for (size_t i = 0; err.empty() && i < fds.size(); i += kMaxSendFd) {
    const size_t n = std::min(fds.size() - i, static_cast<size_t>(kMaxSendFd));
    std::string bytes(n * kPerFd, '\0');  // no namespace, no interface, 0 options
    iovec iov{bytes.data(), bytes.size()};
    std::vector<char> control(CMSG_SPACE(n * sizeof(int)), 0);
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(n * sizeof(int));
    std::memcpy(CMSG_DATA(cm), fds.data() + i, n * sizeof(int));
    ssize_t r;
    do r = ::sendmsg(conn, &msg, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r != static_cast<ssize_t>(bytes.size())) {
      err = "cannot transfer sockets";
      break;
    }
    if (i + n < fds.size()) {  // HAProxy waits for an ack between messages
      int ack = 0;
      do r = ::recv(conn, &ack, sizeof ack, 0);
      while (r < 0 && errno == EINTR);
      if (r <= 0) err = "no acknowledgement while transferring sockets";
    }
  }
  ::fcntl(conn, F_SETFL, flags);
  return err;
}

std::string receive_sockets(const std::string& path, std::vector<int>* fds) {
  std::string err;
  int sock = connect_unix(path, &err);
  if (sock < 0) return err;
  int total = 0;
  if (!send_all(sock, "_getsocks\n")) {
    ::close(sock);
    return "cannot send _getsocks to '" + path + "'";
  }
  ssize_t r;
  do r = ::recv(sock, &total, sizeof total, MSG_WAITALL);
  while (r < 0 && errno == EINTR);
  if (r != static_cast<ssize_t>(sizeof total)) {
    std::string why = r < 0 ? std::strerror(errno) : r == 0 ? "closed" : "short read";
    ::close(sock);
    return "failed to get the number of sockets to be transferred from '" + path + "' (" + why +
           "; is `expose-fd listeners` set on it?)";
  }
  std::vector<char> data(static_cast<size_t>(kMaxSendFd) * (kPerFd + 2 * 255));
  std::vector<char> control(CMSG_SPACE(kMaxSendFd * sizeof(int)));
  while (static_cast<int>(fds->size()) < total) {
    iovec iov{data.data(), data.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    do r = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r <= 0) break;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
      size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < n; ++k) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof fd);
        fds->push_back(fd);
      }
    }
    if (static_cast<int>(fds->size()) < total && !send_int(sock, 0)) break;
  }
  ::close(sock);
  if (static_cast<int>(fds->size()) != total)
    return "expected " + std::to_string(total) + " sockets from '" + path + "', got " +
           std::to_string(fds->size());
  return "";
}

std::string cli_command(const std::string& path, const std::string& cmd, std::string* reply) {
  std::string err;
  int sock = connect_unix(path, &err);
  if (sock < 0) return err;
  if (!send_all(sock, cmd + "\n")) {
    ::close(sock);
    return "cannot send '" + cmd + "' to '" + path + "'";
  }
  char buf[16384];
  for (;;) {
    ssize_t r = ::recv(sock, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      err = "reading the answer to '" + cmd + "' from '" + path + "': " + std::strerror(errno);
      break;
    }
    if (r == 0) break;
    reply->append(buf, static_cast<size_t>(r));
  }
  ::close(sock);
  return err;
}

std::string receive_state(const std::string& path, std::string* text) {
  return cli_command(path, "_getstate", text);
}

namespace {
constexpr std::string_view kServerStateLine = "server-state:\n";
}

std::string state_answer(const std::string& member_state, const std::string& server_states) {
  std::string out = member_state;
  if (!out.empty() && out.back() != '\n') out += '\n';
  if (server_states.empty()) return out;
  out += kServerStateLine;
  return out + server_states;
}

void split_state_answer(const std::string& answer, std::string* member_state,
                        std::string* server_states) {
  size_t at =
      answer.starts_with(kServerStateLine) ? 0 : answer.find("\n" + std::string(kServerStateLine));
  if (at == std::string::npos) {
    *member_state = answer;
    server_states->clear();
    return;
  }
  if (at > 0) ++at;  // keep the member state's last newline
  *member_state = answer.substr(0, at);
  *server_states = answer.substr(at + kServerStateLine.size());
}

InheritedSockets::~InheritedSockets() { close_rest(); }

void InheritedSockets::add(const std::vector<int>& fds) {
  for (int fd : fds) {
    Sock s;
    s.fd = fd;
    int type = 0, acc = 0;
    socklen_t len = sizeof type;
    ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
    len = sizeof acc;
    ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
    s.udp = type == SOCK_DGRAM;
    s.listening = acc != 0;
    sockaddr_storage ss{};
    len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "";
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      if (ss.ss_family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        ::inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        s.port = ntohs(a->sin_port);
      } else if (ss.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        ::inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        s.port = ntohs(a->sin6_port);
      }
    }
    s.ip = ip;
    socks_.push_back(s);
  }
}

int InheritedSockets::take(bool udp, const std::string& ip, uint16_t port) {
  std::string want = ip.empty() ? "0.0.0.0" : ip;
  // The address as inet_ntop would write it ("::0" and "::" are one).
  unsigned char bin[sizeof(in6_addr)];
  char norm[INET6_ADDRSTRLEN];
  if (::inet_pton(AF_INET, want.c_str(), bin) == 1)
    want = ::inet_ntop(AF_INET, bin, norm, sizeof norm);
  else if (::inet_pton(AF_INET6, want.c_str(), bin) == 1)
    want = ::inet_ntop(AF_INET6, bin, norm, sizeof norm);
  for (auto it = socks_.begin(); it != socks_.end(); ++it) {
    if (it->udp != udp || it->port != port || it->ip != want) continue;
    if (!udp && !it->listening) continue;
    int fd = it->fd;
    socks_.erase(it);
    return fd;
  }
  return -1;
}

int InheritedSockets::take_tcp_listener(const std::string& ip, uint16_t port) {
  return take(false, ip, port);
}

int InheritedSockets::take_udp(const std::string& ip, uint16_t port) {
  return take(true, ip, port);
}

std::size_t InheritedSockets::close_rest() {
  std::size_t n = socks_.size();
  for (const auto& s : socks_) ::close(s.fd);
  socks_.clear();
  return n;
}

}  // namespace herd::app
