// balancing/conn_source.h — `source` (and `usesrc`) for connections to a
// server, as haproxy 2.6's tcp_connect_server()/tcp_bind_socket(): which
// setting applies (the server's, else its backend's) and binding a freshly
// opened socket before connect.
//
// Plain `source <addr>[:<port>]` binds the socket to that address (port 0:
// the kernel picks one at connect, IP_BIND_ADDRESS_NO_PORT, so a port is
// not taken per address at bind time). With `usesrc` and a client address
// the socket binds, with IP_TRANSPARENT, to a foreign address: the fixed
// `usesrc` one, the client's address and port (`client`) or address
// (`clientip`). Health checks pass no client: they bind to the `source`
// address only, as haproxy's.
//
// Thread rules: pure functions on a socket the caller owns; any thread.
#pragma once

#include <netinet/in.h>

#include <string>

#include "balancing/server.h"
#include "config/model.h"

namespace herd::balancing {

// The `source` that applies to connections to `srv` of backend `be`, or
// null when none does.
const config::ConnSource* conn_source(const Server& srv, const config::Proxy& be);

// Whether connections under `src` carry the client's address (not to be
// shared between clients: never pooled).
bool source_is_per_client(const config::ConnSource* src);

// Binds the open socket `fd` (of family `family`, AF_INET or AF_INET6) as
// `src` says. `client`: the client's address, or null (health checks).
// Returns 0 or an errno value.
int bind_source(int fd, int family, const config::ConnSource& src,
                const struct sockaddr_storage* client);

}  // namespace herd::balancing
