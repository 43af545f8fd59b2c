// proxy/tunnel.h — the passthrough framing: bytes copied both ways between
// a client and a server connection until both directions are closed, with
// half-close (a FIN from one side is passed on as shutdown(SHUT_WR) to the
// other, which may go on sending) and one inactivity deadline (shortened by
// `timeout client-fin`/`server-fin` once half-closed). Used by
// `mode tcp` (tcp_session.cpp); the HTTP exchange's 101 upgrade has the
// same shape.
//
// Part of an I/O variant (compiled once per backend, see io_engine.h).
// Thread rules: the coroutine runs on the worker thread that owns both
// sockets; nothing else may use them while it runs.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>

#include "proxy/splice.h"

#ifndef HERD_IO_NS
#error "tunnel.h belongs to an I/O variant: compile with HERD_IO_NS (proxy/CMakeLists.txt)"
#endif

namespace herd::proxy {
inline namespace HERD_IO_NS {

class Stream;

struct TunnelResult {
  enum class End {
    Closed,       // both sides closed (FIN both ways)
    ClientError,  // the client connection failed (reset...)
    ServerError,  // the server connection failed
    Timeout,      // nothing moved for the idle time
    Stopped,      // cancelled from outside (hard stop)
  };
  End end = End::Closed;
  bool client_closed_first = false;  // the client sent its FIN before the server
  uint64_t to_server = 0;            // bytes client -> server
  uint64_t to_client = 0;            // bytes server -> client
};

struct TunnelBuffers {
  char* client;  // receives from the client
  char* server;  // receives from the server
  size_t size;
  // Splicing (splice.h): with a pool, a direction the policy allows moves
  // through a pipe; splice-auto switches once a read fills its buffer.
  PipePool* pipes = nullptr;
  SplicePolicy splice{};
  // `option contstats`: called with the totals so far (to the server, to
  // the client) each time bytes move, so the owner counts them as they go.
  std::function<void(uint64_t, uint64_t)> progress;
};

// The inactivity timeouts (ms, <= 0: none) of a tunnel: `idle` while both
// directions are open; once one side's FIN was passed on, the side that
// received it gets `client_fin` (`timeout client-fin`) or `server_fin`
// (`timeout server-fin`) instead, when set, as haproxy's half-closed
// timeouts (they win over `timeout tunnel` too).
struct TunnelTimeouts {
  int64_t idle = 0;
  int64_t client_fin = 0;
  int64_t server_fin = 0;
};

// Copies until both directions ended, an error, or the inactivity timeout
// without a byte moving in either direction. `stop` set (and the sockets
// cancelled) by the owner ends it as Stopped. Neither socket is closed.
boost::asio::awaitable<TunnelResult> run_tunnel(boost::asio::ip::tcp::socket& client,
                                                boost::asio::ip::tcp::socket& server,
                                                TunnelBuffers bufs, TunnelTimeouts timeouts,
                                                const bool* stop);
// The same over transports (TLS or not, stream.h).
boost::asio::awaitable<TunnelResult> run_tunnel(Stream& client, Stream& server, TunnelBuffers bufs,
                                                TunnelTimeouts timeouts, const bool* stop);

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
