// proxy/tunnel.cpp — see tunnel.h.
#include "proxy/tunnel.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <type_traits>

#include "proxy/stream.h"

namespace herd::proxy {
inline namespace HERD_IO_NS {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

template <class C, class S>
struct TunnelState {
  TunnelState(C& c, S& s, TunnelTimeouts t, const bool* st)
      : client(c),
        server(s),
        idle_ms(t.idle),
        timeouts(t),
        stop(st),
        timer(c.get_executor()),
        up_wake(c.get_executor(), Clock::time_point::max()) {}
  C& client;
  S& server;
  int64_t idle_ms;  // the one in force
  TunnelTimeouts timeouts;
  const bool* stop;
  asio::steady_timer timer;
  bool armed = false;
  bool finished = false;  // run_tunnel returned: the sockets may be gone
  bool timed_out = false;
  Clock::time_point deadline{};
  bool up_done = false;
  asio::steady_timer up_wake;  // cancelled when client -> server ends
  bool client_fin = false, server_fin = false;
  bool client_err = false, server_err = false;
  int fins = 0;
  bool client_first = false;
  TunnelResult r;
  std::function<void(uint64_t, uint64_t)> progress;  // TunnelBuffers::progress
  void moved() {
    if (progress) progress(r.to_server, r.to_client);
  }

  bool outside_cancel() const { return timed_out || (stop && *stop); }
  void cancel_both() {
    boost::system::error_code ign;
    client.cancel(ign);
    server.cancel(ign);
  }
  void touch(const std::shared_ptr<TunnelState>& self) {
    if (idle_ms <= 0) return;
    deadline = Clock::now() + std::chrono::milliseconds(idle_ms);
    if (!armed) arm(self);
  }
  void arm(const std::shared_ptr<TunnelState>& self) {
    armed = true;
    timer.expires_at(deadline);
    timer.async_wait([self](boost::system::error_code ec) {
      self->armed = false;
      if (ec || self->finished) return;
      if (Clock::now() >= self->deadline) {
        self->timed_out = true;
        self->cancel_both();
      } else {
        self->arm(self);
      }
    });
  }
};

// The source's FIN: passed on as a half-close.
template <class St, class To>
void pass_fin(const std::shared_ptr<St>& self, To& to, bool& fin) {
  St& st = *self;
  fin = true;
  if (st.fins++ == 0 && &fin == &st.client_fin) st.client_first = true;
  boost::system::error_code ign;
  to.shutdown(tcp::socket::shutdown_send, ign);  // half-close: pass the FIN on
  // The side that got the FIN is half-closed: its fin timeout, if any.
  const int64_t fin_ms = &fin == &st.client_fin ? st.timeouts.server_fin : st.timeouts.client_fin;
  if (fin_ms > 0 && st.fins == 1) {
    st.idle_ms = fin_ms;
    st.deadline = Clock::now() + std::chrono::milliseconds(fin_ms);
    st.arm(self);  // at the new deadline, which may come before the old one
  }
}

// The rest of one direction through a pipe (splice.h). Returns false when
// no pipe was free (the caller copies).
template <class St>
asio::awaitable<bool> splice_rest(std::shared_ptr<St> st, tcp::socket& from, tcp::socket& to,
                                  PipePool& pool, bool& fin, bool& from_err, bool& to_err,
                                  uint64_t& count) {
  Pipe pipe = pool.take();
  if (!pipe) co_return false;
  auto res = co_await splice_relay(
      from, to, pipe, -1,
      [&](SpliceWait) {
        st->touch(st);
        st->moved();
      },
      &count);
  pool.give(pipe);
  using E = SpliceResult::End;
  if (res.end == E::Eof) {
    pass_fin(st, to, fin);
  } else if (res.end == E::FromError || res.end == E::ToError) {
    (res.end == E::FromError ? from_err : to_err) = true;
    st->cancel_both();
  } else if (res.end == E::Aborted && !st->outside_cancel()) {
    st->cancel_both();
  }
  co_return true;
}

// One direction: `from` to `to` until FIN or an error. Splicing needs a
// plain socket on both sides (a TLS client stream copies).
template <class St, class F, class T>
asio::awaitable<void> copy(std::shared_ptr<St> st, F& from, T& to, char* buf, size_t size,
                           bool& fin, bool& from_err, bool& to_err, uint64_t& count,
                           PipePool* pipes, bool splice, bool automatic) {
  constexpr bool plain = std::is_same_v<F, tcp::socket> && std::is_same_v<T, tcp::socket>;
  if constexpr (!plain) pipes = nullptr;
  if constexpr (plain) {
    if (pipes && splice && co_await splice_rest(st, from, to, *pipes, fin, from_err, to_err, count))
      co_return;
  }
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buf, size), nothrow);
    if (ec == asio::error::eof) {
      pass_fin(st, to, fin);
      co_return;
    }
    if (ec) {
      if (ec != asio::error::operation_aborted || !st->outside_cancel()) {
        if (ec != asio::error::operation_aborted) from_err = true;
        st->cancel_both();
      }
      co_return;
    }
    st->touch(st);
    auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buf, n), nothrow);
    count += wn;
    st->moved();
    if (wec) {
      if (wec != asio::error::operation_aborted) to_err = true;
      st->cancel_both();
      co_return;
    }
    st->touch(st);
    // splice-auto: a read that filled the buffer says more is coming.
    if constexpr (plain) {
      if (pipes && automatic && n == size) {
        if (co_await splice_rest(st, from, to, *pipes, fin, from_err, to_err, count)) co_return;
        pipes = nullptr;  // no pipe free: copy to the end
      }
    }
  }
}

template <class C, class S>
asio::awaitable<TunnelResult> tunnel(C& client, S& server, TunnelBuffers bufs, TunnelTimeouts tmo,
                                     const bool* stop) {
  auto st = std::make_shared<TunnelState<C, S>>(client, server, tmo, stop);
  st->progress = std::move(bufs.progress);
  st->touch(st);
  asio::co_spawn(client.get_executor(),
                 copy(st, client, server, bufs.client, bufs.size, st->client_fin, st->client_err,
                      st->server_err, st->r.to_server, bufs.pipes, bufs.splice.request,
                      bufs.splice.auto_request),
                 [st](std::exception_ptr) {
                   st->up_done = true;
                   st->up_wake.cancel();
                 });
  co_await copy(st, server, client, bufs.server, bufs.size, st->server_fin, st->server_err,
                st->client_err, st->r.to_client, bufs.pipes, bufs.splice.response,
                bufs.splice.auto_response);
  if (!st->up_done) {
    if (!st->server_fin) st->cancel_both();  // the download failed: the upload goes too
    co_await st->up_wake.async_wait(nothrow);
  }
  st->finished = true;
  st->timer.cancel();
  TunnelResult r = st->r;
  r.client_closed_first = st->client_first;
  if (st->client_err)
    r.end = TunnelResult::End::ClientError;
  else if (st->server_err)
    r.end = TunnelResult::End::ServerError;
  else if (st->timed_out)
    r.end = TunnelResult::End::Timeout;
  else if (stop && *stop)
    r.end = TunnelResult::End::Stopped;
  else
    r.end = TunnelResult::End::Closed;
  co_return r;
}

}  // namespace

asio::awaitable<TunnelResult> run_tunnel(tcp::socket& client, tcp::socket& server,
                                         TunnelBuffers bufs, TunnelTimeouts tmo, const bool* stop) {
  return tunnel(client, server, bufs, tmo, stop);
}

asio::awaitable<TunnelResult> run_tunnel(Stream& client, Stream& server, TunnelBuffers bufs,
                                         TunnelTimeouts tmo, const bool* stop) {
  // A plain stream is its socket: it may splice.
  if (!client.tls()) return tunnel(client.socket(), server, bufs, tmo, stop);
  return tunnel(client, server, bufs, tmo, stop);
}

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
