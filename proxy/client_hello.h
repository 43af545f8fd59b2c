// proxy/client_hello.h — what a TCP client's first bytes say, for `mode tcp`
// content rules: the TLS ClientHello samples `req.ssl_hello_type` and
// `req.ssl_sni` (no OpenSSL: the record is only parsed, never decrypted),
// with HAProxy 2.6's exact acceptance rules (payload.c), including "not
// enough bytes yet" (a rule waits for more within `tcp-request
// inspect-delay`).
//
// Thread rules: pure functions over a byte range; any thread.
#pragma once

#include <string_view>

namespace herd::proxy {

enum class Sample { Found, Absent, MayChange };  // MayChange: more bytes may give one

// req.ssl_hello_type: the handshake type of a complete SSLv3+ hello (1: ClientHello).
Sample ssl_hello_type(std::string_view data, int* type);

// req.ssl_sni: the host_name of the server_name extension of a complete ClientHello.
Sample ssl_sni(std::string_view data, std::string_view* name);

}  // namespace herd::proxy
