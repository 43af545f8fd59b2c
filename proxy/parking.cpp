// proxy/parking.cpp — see parking.h.
#include "proxy/parking.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <vector>

namespace herd::proxy {
inline namespace HERD_IO_NS {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// ---- parking ------------------------------------------------------------
// A parked connection is a file descriptor in the worker's parking lot: an
// epoll set of its own, watched by one readiness wait, with a 48-byte record
// per connection. Asio lets go of the socket (release(): no per-socket state,
// no pending operation, no timer is left), so an idle connection costs its
// record and the kernel's epoll entry. It ends in one of three ways: bytes
// (or a close) arrive and a new Session resumes it (during a soft stop too:
// its request is answered with `connection: close`); its idle deadline
// passes (a soft stop may bring it closer, see Worker::soft_stop); a hard
// stop. The last two close it without an answer, as an idle session would
// be closed.
struct ParkedConn : IdleHook {
  int fd = -1;
  bool first = false;  // no request yet: resumed under http-request
  bool v6 = false;
  const FrontendRt* fe = nullptr;
  Clock::time_point deadline{};
};
static_assert(sizeof(ParkedConn) == 48, "the record size the comments and docs give");

class ParkingLot {
 public:
  explicit ParkingLot(Worker& w) : w_(w), watch_(w.ioc), timer_(w.ioc) {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return;  // no lot: sessions stay (ok() is false)
    boost::system::error_code ec;
    watch_.assign(ep, ec);
    if (ec) ::close(ep);
  }
  ParkingLot(const ParkingLot&) = delete;
  ParkingLot& operator=(const ParkingLot&) = delete;
  // Teardown (the worker's thread has ended): closes what is left.
  ~ParkingLot() {
    for (auto& [t, list] : lists_) {
      list.for_each([](IdleHook* h) { ::close(static_cast<ParkedConn*>(h)->fd); });
      list.detach_all();
    }
    while (ParkedConn* c = spare_) {
      spare_ = static_cast<ParkedConn*>(c->next);
      c->next = nullptr;
    }
  }
  bool ok() const { return watch_.is_open(); }

  // Records come from slabs of kSlab, never freed before the lot: they
  // outlive the sessions they replace, and taken from malloc one by one they
  // would pin the pages those sessions leave behind (RSS could not shrink).
  ParkedConn* new_record() {
    if (!spare_) {
      slabs_.push_back(std::make_unique<ParkedConn[]>(kSlab));
      for (size_t i = 0; i < kSlab; ++i) free_record(&slabs_.back()[i]);
    }
    ParkedConn* c = spare_;
    spare_ = static_cast<ParkedConn*>(c->next);
    c->next = nullptr;
    return c;
  }
  void free_record(ParkedConn* c) {
    c->unlink();
    c->next = spare_;  // unlinked: next is free for the spare list
    spare_ = c;
  }

  // Takes `sock` (an idle connection of `fe`, nothing pending on it) until
  // it becomes readable or `deadline`; `timeout_ms` is the idle timeout
  // that deadline came from, 0 for none (connections are kept in FIFO lists
  // per timeout, so each list is in deadline order). False: not parked, `sock` untouched.
  bool park(tcp::socket& sock, const FrontendRt& fe, bool first, bool v6,
            Clock::time_point deadline, int64_t timeout_ms, Clock::time_point since) {
    if (!ok()) return false;
    boost::system::error_code ec;
    int fd = sock.release(ec);
    if (ec) return false;
    ParkedConn* c = new_record();
    c->fd = fd;
    c->first = first;
    c->v6 = v6;
    c->fe = &fe;
    c->deadline = deadline;
    c->since = since;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = c;
    if (::epoll_ctl(watch_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(c);
      return true;  // the socket is gone either way
    }
    lists_[timeout_ms].push_back(c);
    if (!watching_) watch();
    if (!timer_armed_ || deadline < timer_.expiry()) arm_timer(deadline);
    return true;
  }

  // Soft stop: each deadline moves to Worker::stop_idle_deadline(); the
  // lists are no longer in deadline order then, expire() scans them whole.
  void stop_deadlines() {
    auto next = Clock::time_point::max();
    for (auto& [t, list] : lists_)
      list.for_each([&](IdleHook* h) {
        auto* c = static_cast<ParkedConn*>(h);
        c->deadline = w_.stop_idle_deadline(c->deadline);
        next = std::min(next, c->deadline);
      });
    unordered_ = true;
    if (next != Clock::time_point::max() && (!timer_armed_ || next < timer_.expiry()))
      arm_timer(next);
  }
  bool empty() const {
    for (const auto& [t, list] : lists_)
      if (!list.empty()) return false;
    return true;
  }

  // Hard stop: every parked connection is closed.
  void close_all() {
    for (auto& [t, list] : lists_)
      list.for_each([this](IdleHook* h) { close(static_cast<ParkedConn*>(h)); });
    boost::system::error_code ec;
    watch_.cancel(ec);
    timer_.cancel();
  }

 private:
  void close(ParkedConn* c) {
    ::shutdown(c->fd, SHUT_WR);
    ::close(c->fd);
    count_connection_close(w_, *c->fe);
    free_record(c);
  }

  // Its deadline passed: a connection that never sent a request is counted
  // and logged as haproxy does (not during a stop: that is no client's fault).
  void time_out(ParkedConn* c) {
    if (c->first && !w_.stopping) empty_first_request(w_, *c->fe, c->fd, true, c->since);
    close(c);
  }

  void watch() {
    watching_ = true;
    watch_.async_wait(asio::posix::stream_descriptor::wait_read,
                      [this](boost::system::error_code ec) {
                        watching_ = false;
                        if (ec) return;
                        resume_ready();
                        if (!empty()) watch();
                      });
  }

  // Resumes every connection with something to read (a request, a close).
  void resume_ready() {
    epoll_event evs[64];
    for (;;) {
      int n = ::epoll_wait(watch_.native_handle(), evs, 64, 0);
      for (int i = 0; i < n; ++i) {
        auto* c = static_cast<ParkedConn*>(evs[i].data.ptr);
        ::epoll_ctl(watch_.native_handle(), EPOLL_CTL_DEL, c->fd, nullptr);
        c->unlink();
        tcp::socket sock(w_.ioc);
        boost::system::error_code ec;
        sock.assign(c->v6 ? tcp::v6() : tcp::v4(), c->fd, ec);
        if (ec) {
          close(c);
          continue;
        }
        const FrontendRt* fe = c->fe;
        bool first = c->first;
        auto since = c->since;
        free_record(c);
        resume_session(w_, *fe, std::move(sock), first, since);
      }
      if (n < 64) return;
    }
  }

  void arm_timer(Clock::time_point at) {
    timer_armed_ = true;
    timer_.expires_at(at);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;  // re-armed for an earlier deadline (expires_at cancels), or stopped
      timer_armed_ = false;
      expire();
    });
  }

  // Closes the connections past their deadline (each list is in deadline
  // order) and waits for the next one.
  void expire() {
    auto now = Clock::now();
    Clock::time_point next = Clock::time_point::max();
    for (auto& [t, list] : lists_) {
      if (unordered_) {
        list.for_each([&](IdleHook* h) {
          auto* c = static_cast<ParkedConn*>(h);
          if (c->deadline > now)
            next = std::min(next, c->deadline);
          else
            time_out(c);
        });
        continue;
      }
      while (auto* c = static_cast<ParkedConn*>(list.front())) {
        if (c->deadline > now) {
          next = std::min(next, c->deadline);
          break;
        }
        time_out(c);
      }
    }
    if (next != Clock::time_point::max()) arm_timer(next);
  }

  Worker& w_;
  asio::posix::stream_descriptor watch_;  // the epoll set
  asio::steady_timer timer_;
  bool watching_ = false;
  bool timer_armed_ = false;
  bool unordered_ = false;             // stop_deadlines() ran
  std::map<int64_t, IdleList> lists_;  // by idle timeout (ms)
  static constexpr size_t kSlab = 256;
  std::vector<std::unique_ptr<ParkedConn[]>> slabs_;
  ParkedConn* spare_ = nullptr;  // free records, chained through next
};

ParkingLot& parking_lot(Worker& w) {
  if (!w.parking) w.parking = new ParkingLot(w);
  return *w.parking;
}

bool park_connection(Worker& w, tcp::socket& sock, const FrontendRt& fe, bool first, bool v6,
                     Clock::time_point deadline, int64_t timeout_ms, Clock::time_point since) {
  return parking_lot(w).park(sock, fe, first, v6, deadline, timeout_ms, since);
}

namespace {
void idle_tick(Worker& w);

void arm_idle_tick(Worker& w, Clock::time_point at) {
  if (!w.park_timer) w.park_timer = std::make_unique<asio::steady_timer>(w.ioc);
  w.park_timer_armed = true;
  w.park_timer->expires_at(at);
  w.park_timer->async_wait([&w](boost::system::error_code ec) {
    w.park_timer_armed = false;
    if (!ec) idle_tick(w);
  });
}

// Parks the sessions idle for kParkAfter (oldest first), then waits for
// the next one to come of age.
void idle_tick(Worker& w) {
  auto limit = Clock::now() - kParkAfter;
  while (IdleHook* h = w.idle.front()) {
    if (h->since > limit) {
      arm_idle_tick(w, h->since + kParkAfter);
      return;
    }
    h->unlink();
    if (!w.aborting) request_park(h);
  }
}
}  // namespace

void idle_enter(Worker& w, IdleHook* h) {
  h->since = Clock::now();
  w.idle.push_back(h);
  if (!w.park_timer_armed) arm_idle_tick(w, h->since + kParkAfter);
}

void close_parked(Worker& w) {
  if (w.parking) w.parking->close_all();
}

void stop_parked(Worker& w) { parking_lot(w).stop_deadlines(); }

bool parking_empty(const Worker& w) { return !w.parking || w.parking->empty(); }

void free_parked(Worker& w) {
  delete w.parking;
  w.parking = nullptr;
}

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
