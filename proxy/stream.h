// proxy/stream.h — a connection's transport: a TCP socket, with a TLS layer
// (tls/conn.h) when it was accepted on a `bind ... ssl` or goes to a
// `server ... ssl`. It
// offers the socket operations the HTTP exchange uses (session.cpp):
// non-blocking read_some, async_wait(wait_read), async_read_some,
// async_write_some (so asio::async_write works), shutdown, cancel, close.
// A plain connection costs one predictable branch per operation (no
// virtual call, no allocation): each call goes straight to the socket.
// For TLS the operations move ciphertext between the socket and the engine,
// and the asynchronous ones run as coroutines on the socket's executor;
// cancel() cancels the socket operation they wait on.
//
// TLS connections do not park (proxy/parking.h keeps only an fd): they stay
// sessions while idle. Server connections use it too (`server ... ssl`);
// idle ones go to the worker's pool with their engine (upstream.h).
//
// Part of an I/O variant (compiled once per backend, see io_engine.h).
// Thread rules: the worker thread that owns the socket.
#pragma once

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <memory>
#include <string>
#include <tuple>

#include "tls/conn.h"

#ifndef HERD_IO_NS
#error "stream.h belongs to an I/O variant: compile with HERD_IO_NS (proxy/CMakeLists.txt)"
#endif

namespace herd::proxy {
inline namespace HERD_IO_NS {

// The error a TLS protocol failure completes with.
inline boost::system::error_code tls_failure() {
  return boost::system::errc::make_error_code(boost::system::errc::protocol_error);
}

class Stream {
 public:
  using socket_type = boost::asio::ip::tcp::socket;
  using executor_type = socket_type::executor_type;
  using error_code = boost::system::error_code;

  explicit Stream(socket_type s) : sock_(std::move(s)) {}
  Stream(socket_type s, std::unique_ptr<tls::Conn> t) : sock_(std::move(s)), tls_(std::move(t)) {}

  // A connection to a `server ... ssl`: TLS from now on (the handshake is
  // async_handshake()).
  void start_tls(std::unique_ptr<tls::Conn> t) { tls_ = std::move(t); }
  // Takes the TLS engine out (a server connection going idle to the pool,
  // with its socket: upstream.h).
  std::unique_ptr<tls::Conn> release_tls() { return std::move(tls_); }
  // Nothing is queued or under way on the TLS side: no ciphertext waiting to
  // be sent, no flush in flight, no plaintext or ciphertext received and
  // not read (a connection with any of these is not reused).
  bool tls_quiet() const {
    return !tls_ || (!flushing_ && !broken_ && tls_->out_size() == 0 && !tls_->has_buffered());
  }
  // Runs the handshake of a client-side TLS connection (no-op without TLS).
  boost::asio::awaitable<error_code> async_handshake() {
    if (!tls_) co_return error_code{};
    for (;;) {
      auto r = tls_->handshake();
      if (error_code fec = co_await tls_flush()) co_return fec;
      if (r == tls::Conn::Result::Ok) co_return error_code{};
      if (r != tls::Conn::Result::WantRead) co_return tls_failure();
      auto [ec, got] =
          co_await sock_.async_read_some(boost::asio::buffer(scratch(), kCipherChunk), nothrow_);
      if (ec == boost::asio::error::eof) tls_->peer_closed();
      if (ec) co_return ec;
      tls_->feed(scratch(), got);
    }
  }

  executor_type get_executor() { return sock_.get_executor(); }
  socket_type& socket() { return sock_; }
  const tls::Conn* tls() const { return tls_.get(); }

  // Reads what is there now (the socket is non-blocking): would_block when
  // nothing is.
  template <class MutableBuffer>
  size_t read_some(const MutableBuffer& b, error_code& ec) {
    if (!tls_) [[likely]]
      return sock_.read_some(b, ec);
    return tls_read_dontwait(boost::asio::mutable_buffer(b), ec);
  }

  template <class Token>
  auto async_wait(socket_type::wait_type w, Token&& token) {
    if (!tls_) [[likely]]
      return sock_.async_wait(w, std::forward<Token>(token));
    return boost::asio::async_initiate<Token, void(error_code)>(
        [this](auto handler) {
          boost::asio::co_spawn(
              sock_.get_executor(), tls_wait(),
              [h = std::move(handler)](std::exception_ptr, error_code ec) mutable {
                std::move(h)(ec);
              });
        },
        token);
  }

  // async_read_some for a coroutine (as_tuple(use_awaitable)): the socket's
  // own operation, or for TLS tls_read_some() awaited directly, without the
  // co_spawn a completion token needs.
  boost::asio::awaitable<std::tuple<error_code, size_t>> read_async(boost::asio::mutable_buffer b) {
    if (!tls_) [[likely]]
      return sock_.async_read_some(b, nothrow_);
    return tls_read_some(b);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& b, Token&& token) {
    if (!tls_) [[likely]]
      return sock_.async_read_some(b, std::forward<Token>(token));
    boost::asio::mutable_buffer first = *boost::asio::buffer_sequence_begin(b);
    return boost::asio::async_initiate<Token, void(error_code, size_t)>(
        [this, first](auto handler) {
          boost::asio::co_spawn(sock_.get_executor(), tls_read_some(first),
                                [h = std::move(handler)](std::exception_ptr,
                                                         std::tuple<error_code, size_t> r) mutable {
                                  std::move(h)(std::get<0>(r), std::get<1>(r));
                                });
        },
        token);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& b, Token&& token) {
    if (!tls_) [[likely]]
      return sock_.async_write_some(b, std::forward<Token>(token));
    // Encrypt what the buffers hold (up to 64 KiB), then send it all.
    size_t used = 0;
    error_code ec;
    for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b);
         ++it) {
      boost::asio::const_buffer one = *it;
      if (one.size() == 0) continue;
      size_t n = 0;
      if (tls_->write(static_cast<const char*>(one.data()), one.size(), &n) !=
          tls::Conn::Result::Ok) {
        if (used == 0) ec = tls_failure();
        break;
      }
      used += n;
      if (n < one.size() || used >= 65536) break;
    }
    return boost::asio::async_initiate<Token, void(error_code, size_t)>(
        [this, used, ec](auto handler) {
          boost::asio::co_spawn(sock_.get_executor(), tls_flush_n(used, ec),
                                [h = std::move(handler)](std::exception_ptr,
                                                         std::tuple<error_code, size_t> r) mutable {
                                  std::move(h)(std::get<0>(r), std::get<1>(r));
                                });
        },
        token);
  }

  void shutdown(socket_type::shutdown_type what, error_code& ec) {
    if (tls_ && what != socket_type::shutdown_receive) {
      tls_->close_notify();
      tls_send_now();
    }
    sock_.shutdown(what, ec);
  }
  void cancel(error_code& ec) { sock_.cancel(ec); }
  void close(error_code& ec) { sock_.close(ec); }
  // Idle between requests (session.cpp): a TLS stream gives back its
  // buffers (the ciphertext scratch, the last flush's buffer, the engine's:
  // tls::Conn::trim). Not while a flush is under way.
  void trim() {
    if (!tls_ || flushing_) return;
    scratch_.reset();
    std::string().swap(wbuf_);
    tls_->trim();
  }
  bool is_open() const { return sock_.is_open(); }
  auto remote_endpoint(error_code& ec) const { return sock_.remote_endpoint(ec); }
  auto local_endpoint(error_code& ec) const { return sock_.local_endpoint(ec); }
  template <class Option>
  void set_option(const Option& o, error_code& ec) {
    sock_.set_option(o, ec);
  }
  void non_blocking(bool on, error_code& ec) { sock_.non_blocking(on, ec); }

  // ---- TLS fast paths of the relay (relay_io.h): no coroutine and no trip
  // through the scheduler when the kernel has the bytes or takes them at
  // once (each asynchronous TLS operation above is a co_spawn). They use
  // MSG_DONTWAIT themselves: a server socket is not in non-blocking mode.

  // Encrypts all of `b` into the engine (a failure: tls_failure()).
  template <class ConstBuffers>
  void tls_encrypt(const ConstBuffers& b, error_code& ec) {
    for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b);
         ++it) {
      boost::asio::const_buffer one = *it;
      size_t n = 0;
      if (one.size() > 0 && tls_->write(static_cast<const char*>(one.data()), one.size(), &n) !=
                                tls::Conn::Result::Ok) {
        ec = tls_failure();
        return;
      }
    }
  }
  // Sends the engine's ciphertext without waiting: true when none is left
  // (false also while another flush is under way, or after a socket error,
  // which tls_flush_all() then returns).
  bool tls_send_now() {
    if (flushing_ || broken_) return false;
    while (tls_->out_size() > 0) {
      ssize_t n = ::send(sock_.native_handle(), tls_->out_data(), tls_->out_size(),
                         MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        tls_->out_consume(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        broken_ = error_code(errno, boost::asio::error::get_system_category());
      return false;
    }
    return true;
  }
  // Sends all of the engine's ciphertext (waiting as needed).
  boost::asio::awaitable<error_code> tls_flush_all() { return tls_flush(); }
  // Plaintext from what the engine already holds (no socket read):
  // would_block when it needs more ciphertext. What the engine answered
  // waits in it for the caller's send.
  size_t tls_read_engine(boost::asio::mutable_buffer b, error_code& ec) {
    ec = {};
    size_t n = 0;
    auto r = tls_->read(static_cast<char*>(b.data()), b.size(), &n);
    if (r == tls::Conn::Result::Ok) return n;
    ec = r == tls::Conn::Result::Closed   ? error_code(boost::asio::error::eof)
         : r == tls::Conn::Result::Failed ? tls_failure()
                                          : make_error_code(boost::asio::error::would_block);
    return 0;
  }
  // Where ciphertext for a read into `b` goes: `b` itself when it is large
  // enough (the engine copies it out), else the scratch buffer.
  boost::asio::mutable_buffer cipher_buffer(boost::asio::mutable_buffer b) {
    if (b.size() >= 4096) return b;
    return boost::asio::buffer(scratch(), kCipherChunk);
  }
  // Ciphertext read from the socket (`n` 0: the peer closed it).
  void tls_feed(const void* p, size_t n) {
    if (n == 0) tls_->peer_closed();
    tls_->feed(static_cast<const char*>(p), n);
  }
  // Plaintext now: from what the engine holds, else from what the socket
  // has (recv MSG_DONTWAIT); would_block when neither has any.
  size_t tls_read_dontwait(boost::asio::mutable_buffer b, error_code& ec) {
    ec = {};
    if (b.size() == 0) return 0;
    for (;;) {
      size_t n = tls_read_engine(b, ec);
      tls_send_now();  // what the engine answered (the rest goes with the next flush)
      if (n > 0 || ec != boost::asio::error::would_block) return n;
      const boost::asio::mutable_buffer into = cipher_buffer(b);
      ssize_t got = ::recv(sock_.native_handle(), into.data(), into.size(), MSG_DONTWAIT);
      if (got < 0) {
        ec = errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                 ? make_error_code(boost::asio::error::would_block)
                 : error_code(errno, boost::asio::error::get_system_category());
        return 0;
      }
      tls_feed(into.data(), static_cast<size_t>(got));
      if (got == 0) {
        ec = boost::asio::error::eof;
        return 0;
      }
    }
  }
  // Plaintext, reading and waiting as needed; what the engine answered is
  // sent before it returns (at once when the socket takes it). The
  // ciphertext is read with the socket's own asynchronous read (Asio reads
  // speculatively, and its wait costs no epoll_ctl, where an async_wait
  // re-arms the descriptor each time). cancel() ends it.
  boost::asio::awaitable<std::tuple<error_code, size_t>> tls_read_some(
      boost::asio::mutable_buffer b) {
    using R = std::tuple<error_code, size_t>;
    if (b.size() == 0) co_return R{error_code{}, 0};
    for (;;) {
      error_code ec;
      size_t n = tls_read_engine(b, ec);
      if (!tls_send_now())
        if (error_code fec = co_await tls_flush()) co_return R{fec, 0};
      if (n > 0 || ec != boost::asio::error::would_block) co_return R{ec, n};
      const boost::asio::mutable_buffer into = cipher_buffer(b);
      auto [rec, got] = co_await sock_.async_read_some(into, nothrow_);
      if (rec && rec != boost::asio::error::eof) co_return R{rec, 0};
      tls_feed(into.data(), rec ? 0 : got);
      if (rec) co_return R{rec, 0};
    }
  }

 private:
  static constexpr size_t kCipherChunk = 16384 + 512;  // one TLS record and its overhead
  static constexpr auto nothrow_ = boost::asio::as_tuple(boost::asio::use_awaitable);

  char* scratch() {
    if (!scratch_) scratch_.reset(new char[kCipherChunk]);
    return scratch_.get();
  }

  // Sends everything the engine has for the peer. One flush at a time (the
  // request-body pump reads while the response is written): the bytes in
  // flight are moved out of the engine first, so its buffer may grow.
  boost::asio::awaitable<error_code> tls_flush() {
    while (flushing_) {
      if (!flush_done_)
        flush_done_ = std::make_unique<boost::asio::steady_timer>(sock_.get_executor());
      flush_done_->expires_at(boost::asio::steady_timer::time_point::max());
      co_await flush_done_->async_wait(nothrow_);
    }
    if (broken_) co_return broken_;
    flushing_ = true;
    error_code ec;
    while (tls_->out_size() > 0) {
      tls_->take_out(wbuf_);
      auto [wec, n] =
          co_await boost::asio::async_write(sock_, boost::asio::buffer(wbuf_), nothrow_);
      (void)n;
      if (wec) {
        ec = broken_ = wec;
        break;
      }
    }
    flushing_ = false;
    if (flush_done_) flush_done_->cancel();
    co_return ec;
  }

  boost::asio::awaitable<std::tuple<error_code, size_t>> tls_flush_n(size_t used, error_code ec) {
    error_code fec = co_await tls_flush();
    if (ec) co_return std::tuple<error_code, size_t>{ec, 0};
    if (fec) co_return std::tuple<error_code, size_t>{fec, 0};
    co_return std::tuple<error_code, size_t>{error_code{}, used};
  }

  boost::asio::awaitable<error_code> tls_wait() {
    if (tls_->has_buffered()) co_return error_code{};
    if (error_code ec = co_await tls_flush()) co_return ec;
    auto [ec] = co_await sock_.async_wait(socket_type::wait_read, nothrow_);
    co_return ec;
  }

  socket_type sock_;
  std::unique_ptr<tls::Conn> tls_;
  std::unique_ptr<char[]> scratch_;  // ciphertext in, when no larger buffer is at hand
  std::string wbuf_;                 // ciphertext being sent
  bool flushing_ = false;
  error_code broken_;                                      // a flush failed: the connection is done
  std::unique_ptr<boost::asio::steady_timer> flush_done_;  // wakes flushes that waited
};

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
