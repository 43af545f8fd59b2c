// proxy/tcp_session.h — `mode tcp`: one client connection relayed to one
// server connection. The exchange's phases for TCP: route (use_backend on
// layer-4 samples: src, dst, dst_port), pick and queue (server_slot.h),
// connect with retries and redispatch (retry.h), relay both ways with
// half-close (tunnel.h), log (option tcplog). A TCP frontend whose rule
// picks an HTTP backend hands the connection to the HTTP exchange, as
// haproxy upgrades such a stream.
//
// Part of an I/O variant (compiled once per backend, see io_engine.h).
// Thread rules: a TCP session lives on the worker thread that accepted it.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include "proxy/worker.h"

namespace herd::proxy {
inline namespace HERD_IO_NS {

// An accepted connection of `fe`: a TCP session, or an HTTP one (HTTP
// frontends; TCP frontends that route to an HTTP backend).
void start_connection(Worker& w, const FrontendRt& fe, boost::asio::ip::tcp::socket sock,
                      const tls::ServerContext* tls = nullptr);

// Hard stop (hard-stop-after): every TCP session of the worker is cut.
void abort_tcp_sessions(Worker& w);
// Cuts the TCP sessions relaying to the server of `server_live` (its
// ServerLive), their termination state `<cause>-` ('D' down, 'U' up).
void kill_tcp_sessions(Worker& w, const void* server_live, char cause);

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
