// A tiny blocking TCP server on 127.0.0.1 for health-check tests: answers
// each request with a canned response, or holds connections silently, and
// records what it received and when.
//
// Thread rules: the server answers on its own thread; every public method
// may be called from the test thread (state is under a mutex or atomic).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace herd::health::testing {

// A port nothing listens on (bound once, then closed).
inline uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class TestServer {
 public:
  using Clock = std::chrono::steady_clock;
  explicit TestServer(std::string response, uint16_t port = 0) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 64);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~TestServer() {
    stop_ = true;
    thread_.join();
    for (int h : held_) ::close(h);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  void set_response(std::string r) {
    std::lock_guard<std::mutex> l(mu_);
    response_ = std::move(r);
  }
  void set_silent(bool s) { silent_ = s; }
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  std::vector<Clock::time_point> accepts() const {
    std::lock_guard<std::mutex> l(mu_);
    return accepts_;
  }
  size_t count() const {
    std::lock_guard<std::mutex> l(mu_);
    return accepts_.size();
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      {
        std::lock_guard<std::mutex> l(mu_);
        accepts_.push_back(Clock::now());
      }
      if (silent_) {
        held_.push_back(c);
        continue;
      }
      std::string req = read_request(c);
      std::string resp;
      {
        std::lock_guard<std::mutex> l(mu_);
        requests_.push_back(req);
        resp = response_;
      }
      if (!resp.empty()) (void)!::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  static std::string read_request(int c) {
    std::string req;
    char buf[4096];
    auto deadline = Clock::now() + std::chrono::milliseconds(300);
    while (Clock::now() < deadline) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
      size_t end = req.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      size_t cl = req.find("content-length: ");
      size_t want = end + 4;
      if (cl != std::string::npos && cl < end) want += std::stoul(req.substr(cl + 16));
      if (req.size() >= want) break;
    }
    return req;
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false}, silent_{false};
  mutable std::mutex mu_;
  std::string response_;
  std::vector<std::string> requests_;
  std::vector<Clock::time_point> accepts_;
  std::vector<int> held_;
  std::thread thread_;
};

}  // namespace herd::health::testing
