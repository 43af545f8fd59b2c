// proxy/source_connect.h — how a connection to a server is opened, past
// the plain connect: under `source` / `usesrc` (balancing/conn_source.h)
// the socket is opened and bound before the caller's async_connect (which
// keeps an open socket as it is); with `socks4 <addr>:<port>` the caller
// connects to the proxy and runs socks4_connect() before anything else
// (the PROXY protocol header and TLS come after it, as haproxy's).
//
// Part of an I/O variant (a template over the variant's socket types).
// Thread rules: the worker thread owning the socket.
#pragma once

#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <cstring>
#include <string>

#include "balancing/conn_source.h"

namespace herd::proxy {

// Opens `sock` for `server` and binds it as `src` says (no-op when `src` is
// null); `client`: the client's endpoint (null: none, as for checks).
template <class Socket, class Endpoint>
boost::system::error_code open_with_source(Socket& sock, const Endpoint& server,
                                           const config::ConnSource* src, const Endpoint* client) {
  boost::system::error_code ec;
  if (!src) return ec;
  sock.open(server.protocol(), ec);
  if (ec) return ec;
  sockaddr_storage cs{};
  if (client) std::memcpy(&cs, client->data(), client->size());
  const int err = balancing::bind_source(sock.native_handle(), server.protocol().family(), *src,
                                         client ? &cs : nullptr);
  if (err != 0) ec.assign(err, boost::system::system_category());
  return ec;
}

// The endpoint to connect to for `srv`'s connections: its SOCKS4 proxy when
// it has one, else `server` itself.
template <class Endpoint>
Endpoint connect_endpoint(const balancing::Server& srv, const Endpoint& server) {
  if (srv.socks4_host.empty()) return server;
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(srv.socks4_host, ec);
  return ec ? server : Endpoint(addr, srv.socks4_port);
}

// SOCKS4 CONNECT to `dest` on `sock`, connected to the proxy: haproxy's
// 16-byte request (version 4, command 1, port, IPv4 address, user id
// "HAProxy"), then the 8-byte answer, which must grant (0x5A).
template <class Socket, class Endpoint>
boost::asio::awaitable<boost::system::error_code> socks4_connect(Socket& sock,
                                                                 const Endpoint& dest) {
  namespace asio = boost::asio;
  namespace errc = boost::system::errc;
  if (!dest.address().is_v4()) co_return errc::make_error_code(errc::address_family_not_supported);
  std::array<unsigned char, 16> req{4, 1};
  req[2] = static_cast<unsigned char>(dest.port() >> 8);
  req[3] = static_cast<unsigned char>(dest.port() & 0xff);
  const auto ip = dest.address().to_v4().to_bytes();
  std::memcpy(&req[4], ip.data(), 4);
  std::memcpy(&req[8], "HAProxy", 8);  // with its NUL
  auto [wec, wn] =
      co_await asio::async_write(sock, asio::buffer(req), asio::as_tuple(asio::use_awaitable));
  if (wec) co_return wec;
  std::array<unsigned char, 8> rsp{};
  auto [rec, rn] =
      co_await asio::async_read(sock, asio::buffer(rsp), asio::as_tuple(asio::use_awaitable));
  if (rec) co_return rec;
  if (rsp[1] != 0x5A) co_return errc::make_error_code(errc::connection_refused);
  co_return boost::system::error_code();
}

}  // namespace herd::proxy
