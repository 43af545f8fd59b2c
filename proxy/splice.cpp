// proxy/splice.cpp — see splice.h.
#include "proxy/splice.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

namespace herd::proxy {
inline namespace HERD_IO_NS {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Without an option either way, herd splices what is larger than a buffer
// (splice-auto), in both directions on both backends: with 1 MiB bodies it
// took 3 to 4 times less CPU per request than copying in every run
// (bench/compare.py, docs/benchmarks.md), and more req/s in 5 of the 6
// same-binary comparisons (the other: io_uring uploads, within the noise of
// the shared 2-core machine).
constexpr bool kAutoByDefault = true;

// One splice asks for at most this much (a pipe holds what its size allows).
constexpr size_t kSpliceMax = size_t{1} << 20;

void close_pipe(Pipe& p) {
  if (p.r >= 0) ::close(p.r);
  if (p.w >= 0) ::close(p.w);
  p = Pipe{};
}

// splice(2) needs non-blocking sockets on both ends; Asio sets O_NONBLOCK on
// a socket it has waited on, this covers one it has not.
void ensure_non_blocking(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0 && !(fl & O_NONBLOCK)) ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

boost::system::error_code errno_code() { return {errno, asio::error::get_system_category()}; }

// Waits until `s` is ready for `what`; false, with `r` saying how it ended
// (`fail`, or Aborted when cancelled), when the wait failed.
asio::awaitable<bool> wait_ready(tcp::socket& s, tcp::socket::wait_type what,
                                 SpliceResult::End fail, SpliceResult& r) {
  auto [ec] = co_await s.async_wait(what, nothrow);
  if (!ec) co_return true;
  r.end = ec == asio::error::operation_aborted ? SpliceResult::End::Aborted : fail;
  r.ec = ec;
  co_return false;
}

}  // namespace

PipePool::~PipePool() {
  for (auto& p : free_) close_pipe(p);
}

Pipe PipePool::take() {
  Pipe p;
  if (in_use_ >= max_) return p;
  if (!free_.empty()) {
    p = free_.back();
    free_.pop_back();
  } else {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return p;
    p.r = fds[0];
    p.w = fds[1];
    if (size_ > 0) ::fcntl(p.w, F_SETPIPE_SZ, size_);
  }
  ++in_use_;
  return p;
}

void PipePool::give(Pipe& p) {
  if (!p) return;
  --in_use_;
  if (p.held > 0)
    close_pipe(p);  // bytes nobody will send: the pipe goes with them
  else
    free_.push_back(p);
  p = Pipe{};
}

SplicePolicy splice_policy(const config::Proxy& fe, const config::Proxy& be) {
  auto on = [](int8_t a, int8_t b) { return a == 1 || b == 1; };
  SplicePolicy p;
  p.request = on(fe.splice_request, be.splice_request);
  p.response = on(fe.splice_response, be.splice_response);
  const bool set = on(fe.splice_auto, be.splice_auto);
  const bool unset = fe.splice_auto < 0 && be.splice_auto < 0;
  p.auto_request = p.auto_response = set || (unset && kAutoByDefault);
  return p;
}

asio::awaitable<SpliceResult> splice_relay(tcp::socket& from, tcp::socket& to, Pipe& pipe,
                                           int64_t limit,
                                           const std::function<void(SpliceWait)>& before_wait,
                                           uint64_t* moved_out) {
  SpliceResult r;
  const int in = from.native_handle(), out = to.native_handle();
  ensure_non_blocking(in);
  ensure_non_blocking(out);
  int64_t left = limit;
  for (;;) {
    if (pipe.held == 0) {
      if (left == 0) co_return r;  // Done
      size_t want =
          left < 0 ? kSpliceMax : static_cast<size_t>(std::min<int64_t>(left, kSpliceMax));
      ssize_t n = ::splice(in, nullptr, pipe.w, nullptr, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n == 0) {
        r.end = SpliceResult::End::Eof;
        co_return r;
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) {
          r.end = SpliceResult::End::FromError;
          r.ec = errno_code();
          co_return r;
        }
        before_wait(SpliceWait::Source);
        if (!co_await wait_ready(from, tcp::socket::wait_read, SpliceResult::End::FromError, r))
          co_return r;
        continue;
      }
      pipe.held = static_cast<size_t>(n);
      if (left > 0) left -= n;
    }
    while (pipe.held > 0) {
      ssize_t m =
          ::splice(pipe.r, nullptr, out, nullptr, pipe.held, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (m > 0) {
        pipe.held -= static_cast<size_t>(m);
        r.moved += static_cast<uint64_t>(m);
        if (moved_out) *moved_out += static_cast<uint64_t>(m);
        continue;
      }
      if (m < 0 && errno == EINTR) continue;
      if (m < 0 && errno == EAGAIN) {
        before_wait(SpliceWait::Sink);
        if (!co_await wait_ready(to, tcp::socket::wait_write, SpliceResult::End::ToError, r))
          co_return r;
        continue;
      }
      r.end = SpliceResult::End::ToError;
      r.ec = m == 0 ? make_error_code(asio::error::broken_pipe) : errno_code();
      co_return r;
    }
  }
}

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
