// proxy/relay_io.h — writes for the relay loops (session.cpp) that cost no
// trip through Asio's scheduler when the kernel takes the bytes at once.
//
// Why: on the epoll backend Asio performs a write speculatively but posts its
// completion; the coroutine resumes only after the scheduler's next pass,
// which starts with epoll_wait(0). That is one system call and a handler hop
// per write (bench/profile.py: 3 epoll_wait per small keep-alive request,
// where haproxy has 2). write_all() sends with MSG_DONTWAIT first and awaits
// Asio only for what the socket did not take. On io_uring the write stays an
// SQE (submitted in the batch with the others, no extra system call).
//
// Part of an I/O variant (compiled once per backend, see io_engine.h).
// Thread rules: the worker thread that owns the socket.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <span>
#include <tuple>

#include "proxy/stream.h"

#ifndef HERD_IO_NS
#error "relay_io.h belongs to an I/O variant: compile with HERD_IO_NS (proxy/CMakeLists.txt)"
#endif

namespace herd::proxy {
inline namespace HERD_IO_NS {

// Sends what the kernel takes now from up to 4 buffers, never waiting:
// returns the bytes sent; `ec` would_block when none could be. `more`:
// MSG_MORE (see write_all).
template <class Buffers>
size_t send_now(boost::asio::ip::tcp::socket& s, const Buffers& bufs, boost::system::error_code& ec,
                bool more = false) {
  std::array<iovec, 4> iov{};
  size_t n = 0;
  for (auto it = boost::asio::buffer_sequence_begin(bufs);
       it != boost::asio::buffer_sequence_end(bufs) && n < iov.size(); ++it) {
    boost::asio::const_buffer b(*it);
    if (b.size() > 0) iov[n++] = {const_cast<void*>(b.data()), b.size()};
  }
  if (n == 0) return 0;
  msghdr m{};
  m.msg_iov = iov.data();
  m.msg_iovlen = n;
  ssize_t r = ::sendmsg(s.native_handle(), &m, MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0));
  if (r >= 0) return static_cast<size_t>(r);
  ec = (errno == EAGAIN || errno == EWOULDBLOCK)
           ? make_error_code(boost::asio::error::would_block)
           : boost::system::error_code(errno, boost::asio::error::get_system_category());
  return 0;
}

// What is left of `bufs` (up to 4 buffers) after its first `skip` bytes.
template <class Buffers>
std::array<boost::asio::const_buffer, 4> rest_of(const Buffers& bufs, size_t skip, size_t& k) {
  std::array<boost::asio::const_buffer, 4> rest{};
  k = 0;
  for (auto it = boost::asio::buffer_sequence_begin(bufs);
       it != boost::asio::buffer_sequence_end(bufs) && k < rest.size(); ++it) {
    boost::asio::const_buffer b(*it);
    if (skip >= b.size()) {
      skip -= b.size();
      continue;
    }
    rest[k++] = b + skip;
    skip = 0;
  }
  return rest;
}

// Writes all of `bufs` (up to 4 buffers), as asio::async_write would:
// returns the error and the bytes written. `more`: the caller has more bytes
// for this socket at once (its last read filled its buffer), so the first
// send carries MSG_MORE, as HAProxy's does: the kernel holds a partial
// segment for the next write instead of sending two (with TCP_NODELAY, a
// 16 KiB response read in two parts went as two segments, and on loopback
// the receiver's work is charged to the sender). The next write without it,
// or the kernel's own timers, push what is held. Callers do not pass it
// before a splice: there it doubled the kernel's time per 1 MiB response.
template <class Buffers>
boost::asio::awaitable<std::tuple<boost::system::error_code, size_t>> write_all(
    boost::asio::ip::tcp::socket& s, const Buffers& bufs, bool more = false) {
  namespace asio = boost::asio;
  constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
  const size_t total = asio::buffer_size(bufs);
  size_t sent = 0;
#if HERD_IO_URING
  if (!more) co_return co_await asio::async_write(s, bufs, nothrow);
  auto [sec, sn] = co_await s.async_send(bufs, MSG_MORE, nothrow);
  if (sec || sn == total) co_return std::tuple{sec, sn};
  sent = sn;
#else
  boost::system::error_code ec;
  sent = send_now(s, bufs, ec, more);
  if (sent == total && !ec) co_return std::tuple{ec, sent};
  if (ec && ec != asio::error::would_block) co_return std::tuple{ec, sent};
#endif
  // The rest, from where the kernel stopped.
  size_t k = 0;
  const auto rest = rest_of(bufs, sent, k);
  auto [wec, wn] =
      co_await asio::async_write(s, std::span<const asio::const_buffer>(rest.data(), k), nothrow);
  co_return std::tuple{wec, sent + wn};
}

// A connection's transport (stream.h): a plain one is its socket; TLS
// records are encrypted at once and sent at once when the socket takes them
// (stream.h's fast paths), else flushed asynchronously.
template <class Buffers>
boost::asio::awaitable<std::tuple<boost::system::error_code, size_t>> write_all(Stream& s,
                                                                                const Buffers& bufs,
                                                                                bool more = false) {
  namespace asio = boost::asio;
  if (!s.tls()) co_return co_await write_all(s.socket(), bufs, more);
  boost::system::error_code ec;
  s.tls_encrypt(bufs, ec);
  if (ec) co_return std::tuple{ec, size_t{0}};
  const size_t total = asio::buffer_size(bufs);
  if (s.tls_send_now()) co_return std::tuple{ec, total};
  ec = co_await s.tls_flush_all();
  co_return std::tuple{ec, ec ? size_t{0} : total};
}

// Reads what is there, as async_read_some would (eof when the peer closed).
// For the rest of a body, whose bytes usually arrived with the first ones:
// on epoll a recv with MSG_DONTWAIT first, so that bytes already there cost
// no handler hop (Asio's speculative read would post its completion); only
// when none are there does Asio wait.
inline boost::asio::awaitable<std::tuple<boost::system::error_code, size_t>> read_more(
    boost::asio::ip::tcp::socket& s, boost::asio::mutable_buffer b) {
  namespace asio = boost::asio;
  constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
#if !HERD_IO_URING
  ssize_t r = ::recv(s.native_handle(), b.data(), b.size(), MSG_DONTWAIT);
  if (r > 0) co_return std::tuple{boost::system::error_code{}, static_cast<size_t>(r)};
  if (r == 0) co_return std::tuple{make_error_code(asio::error::eof), size_t{0}};
  if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
    co_return std::tuple{boost::system::error_code(errno, asio::error::get_system_category()),
                         size_t{0}};
#endif
  co_return co_await s.async_read_some(b, nothrow);
}

// The same for a stream (stream.h): a plain one is its socket; TLS records
// are read and decrypted by the stream, at once when they are there.
inline boost::asio::awaitable<std::tuple<boost::system::error_code, size_t>> read_more(
    Stream& s, boost::asio::mutable_buffer b) {
  if (!s.tls()) co_return co_await read_more(s.socket(), b);
  co_return co_await s.read_async(b);
}

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
