// docker/webapp/webapp.cpp — herd-webapp, the demo web application shipped
// in herd's container image (the lab's Node.js/Express webapp, and
// examples/demo/webapp.py, in C++ with POSIX sockets only).
//
//   herd-webapp [--port 3000] [--bind 0.0.0.0] [--tag TAG] [--grace-ms 2000]
//
// Every GET/HEAD answers 200 with
//   {"hello":"world!","ip":"<local ip>:<port>","host":"<hostname>",
//    "tag":"<tag>","sessionViews":<n>,"id":"<node id>"}
// and keeps a per-node view counter in a NODESESSID cookie (a new cookie is
// set when the request carries none, or one this node does not know).
// TAG defaults to $TAG, else "demo".
//
// Stopping: SIGTERM/SIGINT/SIGUSR1 starts a grace period (--grace-ms, $GRACE_MS):
// the app keeps answering (with `Connection: close`, so the balancer does
// not reuse those connections) while the balancer drains it, then closes the
// listener, waits for requests in progress and exits 0.
//
// One thread per connection: a demo, not a benchmark target.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

namespace {

std::atomic<bool> g_stopping{false};
std::atomic<int> g_active{0};
std::mutex g_mu;
std::unordered_map<std::string, long> g_sessions;  // NODESESSID -> views
std::string g_host, g_tag, g_id;

std::string random_hex(std::size_t n) {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::lock_guard lock(mu);
  std::string s(n, '0');
  for (auto& c : s) c = digits[rng() & 15];
  return s;
}

std::string json_escape(std::string_view in) {
  std::string out;
  for (char c : in) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view part = trim(header.substr(0, semi));
    auto eq = part.find('=');
    if (eq != std::string_view::npos && trim(part.substr(0, eq)) == name)
      return std::string(trim(part.substr(eq + 1)));
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return "";
}

std::string local_ip(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "0.0.0.0";
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  } else {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
      inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], buf, sizeof buf);
    else
      inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

bool send_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

void send_error(int fd, int code, const char* reason) {
  std::string body = std::string("{\"error\":\"") + reason + "\"}";
  send_all(fd, "HTTP/1.1 " + std::to_string(code) + " " + reason +
                   "\r\nContent-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

// Serves one connection: HTTP/1.1 keep-alive, request bodies
// (Content-Length) are read and ignored; chunked requests are refused.
void serve(int fd, int port) {
  struct Guard {
    int fd;
    ~Guard() {
      ::close(fd);
      g_active.fetch_sub(1);
    }
  } guard{fd};
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string ip = local_ip(fd) + ":" + std::to_string(port);
  std::string buf;
  char chunk[8192];
  for (;;) {
    std::size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (buf.size() > 64 * 1024) return send_error(fd, 431, "Request Header Fields Too Large");
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, 200);
      if (r < 0 && errno != EINTR) return;
      if (r <= 0) {
        // Idle between requests: close idle keep-alive connections once the
        // grace period is over (main() then stops waiting for us).
        if (buf.empty() && g_stopping.load() && g_active.load() < 0) return;
        continue;
      }
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      buf.append(chunk, static_cast<std::size_t>(n));
    }
    std::string_view head(buf.data(), end);
    auto line_end = head.find("\r\n");
    std::string_view request_line = head.substr(0, line_end);
    auto sp1 = request_line.find(' ');
    auto sp2 = request_line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1) return send_error(fd, 400, "Bad Request");
    const std::string method(request_line.substr(0, sp1));
    std::string_view version = request_line.substr(sp2 + 1);
    bool keep_alive = version == "HTTP/1.1";
    std::string cookie;
    std::size_t body_len = 0;
    std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto e = head.find("\r\n", pos);
      if (e == std::string_view::npos) e = head.size();
      std::string_view h = head.substr(pos, e - pos);
      pos = e + 2;
      auto colon = h.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view name = trim(h.substr(0, colon));
      std::string_view value = trim(h.substr(colon + 1));
      if (iequals(name, "Cookie")) {
        if (!cookie.empty()) cookie += "; ";
        cookie += value;
      } else if (iequals(name, "Connection")) {
        if (iequals(value, "close")) keep_alive = false;
        else if (iequals(value, "keep-alive")) keep_alive = true;
      } else if (iequals(name, "Content-Length")) {
        body_len = std::strtoul(std::string(value).c_str(), nullptr, 10);
      } else if (iequals(name, "Transfer-Encoding")) {
        return send_error(fd, 411, "Length Required");
      }
    }
    buf.erase(0, end + 4);
    while (buf.size() < body_len) {
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      buf.append(chunk, static_cast<std::size_t>(n));
    }
    buf.erase(0, body_len);

    if (method != "GET" && method != "HEAD") {
      send_error(fd, 405, "Method Not Allowed");
      return;
    }
    std::string sid = cookie_value(cookie, "NODESESSID");
    bool fresh = false;
    long views;
    {
      std::lock_guard lock(g_mu);
      auto it = sid.empty() ? g_sessions.end() : g_sessions.find(sid);
      if (it == g_sessions.end()) {
        fresh = true;
        sid = random_hex(32);
        it = g_sessions.emplace(sid, 0).first;
      }
      views = ++it->second;
    }
    std::string body = "{\"hello\":\"world!\",\"ip\":\"" + json_escape(ip) + "\",\"host\":\"" +
                       json_escape(g_host) + "\",\"tag\":\"" + json_escape(g_tag) +
                       "\",\"sessionViews\":" + std::to_string(views) + ",\"id\":\"" + g_id +
                       "\"}";
    if (g_stopping.load()) keep_alive = false;
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n";
    resp += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    if (fresh) resp += "Set-Cookie: NODESESSID=" + sid + "; Path=/\r\n";
    resp += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    if (method == "GET") resp += body;
    if (!send_all(fd, resp) || !keep_alive) return;
  }
}

void on_signal(int) { g_stopping.store(true); }

void usage() {
  std::fprintf(stderr,
               "usage: herd-webapp [--port 3000] [--bind 0.0.0.0] [--tag TAG] [--grace-ms 2000]\n");
}

}  // namespace

int main(int argc, char** argv) {
  int port = 3000;
  std::string bind_ip = "0.0.0.0";
  g_tag = std::getenv("TAG") != nullptr ? std::getenv("TAG") : "demo";
  long grace_ms = std::getenv("GRACE_MS") != nullptr ? std::atol(std::getenv("GRACE_MS")) : 2000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      auto eq = a.find('=');
      if (eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    auto is = [&](const char* name) { return a == name || a.rfind(std::string(name) + "=", 0) == 0; };
    if (is("--port") || is("-p")) port = std::atoi(value().c_str());
    else if (is("--bind")) bind_ip = value();
    else if (is("--tag")) g_tag = value();
    else if (is("--grace-ms")) grace_ms = std::atol(value().c_str());
    else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else {
      usage();
      return 2;
    }
  }
  if (port < 1 || port > 65535) {
    std::fprintf(stderr, "herd-webapp: bad port\n");
    return 2;
  }
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  g_host = host;
  g_id = random_hex(8);

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);  // the image's STOPSIGNAL (herd's soft stop)
  std::signal(SIGPIPE, SIG_IGN);

  int lfd = -1;
  in6_addr a6{};
  in_addr a4{};
  if (inet_pton(AF_INET, bind_ip.c_str(), &a4) == 1) {
    lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(port));
    sin.sin_addr = a4;
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) lfd = -2;
  } else if (inet_pton(AF_INET6, bind_ip.c_str(), &a6) == 1) {
    lfd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(static_cast<uint16_t>(port));
    sin6.sin6_addr = a6;
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&sin6), sizeof sin6) != 0) lfd = -2;
  } else {
    std::fprintf(stderr, "herd-webapp: --bind needs a numeric address, got '%s'\n",
                 bind_ip.c_str());
    return 2;
  }
  if (lfd < 0 || ::listen(lfd, 1024) != 0) {
    std::fprintf(stderr, "herd-webapp: cannot listen on %s:%d: %s\n", bind_ip.c_str(), port,
                 std::strerror(errno));
    return 1;
  }
  std::fprintf(stderr, "herd-webapp: listening on %s:%d (host %s, tag %s, id %s)\n",
               bind_ip.c_str(), port, g_host.c_str(), g_tag.c_str(), g_id.c_str());

  using clock = std::chrono::steady_clock;
  clock::time_point stop_at{};
  for (;;) {
    if (g_stopping.load()) {
      if (stop_at == clock::time_point{}) {
        stop_at = clock::now() + std::chrono::milliseconds(grace_ms);
        std::fprintf(stderr, "herd-webapp: stopping in %ld ms\n", grace_ms);
      }
      if (clock::now() >= stop_at) break;
    }
    pollfd p{lfd, POLLIN, 0};
    int r = ::poll(&p, 1, 100);
    if (r <= 0) continue;
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    g_active.fetch_add(1);
    std::thread(serve, fd, port).detach();
  }
  ::close(lfd);
  // Tell idle keep-alive connections to close (g_active < 0 is the signal the
  // connection threads poll for), then wait up to 5 s for requests in
  // progress.
  int n = g_active.fetch_sub(1 << 20);
  auto deadline = clock::now() + std::chrono::seconds(5);
  while (g_active.load() + (1 << 20) > 0 && clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::fprintf(stderr, "herd-webapp: stopped (%d connections open at stop)\n", n);
  return 0;
}
