// proxy/responses.h — the responses herd generates itself, byte for byte as
// HAProxy 2.6 sends them (captured in tests/data/haproxy-captures/*.bin),
// unless an `errorfile` replaces them.
//
// Thread rules: pure functions over immutable data; any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace herd::proxy {

// HAProxy's built-in page for `status` (200, 400, 401, 403, 404, 405, 407, 408, 410, 413,
// 422, 425, 429, 500, 501, 502, 503, 504).
// `close` adds the `connection: close` line HAProxy sends to HTTP/1.0 clients
// (400 and 408 always carry their own `Connection: close`). `head_only`
// drops the body (HEAD requests).
std::string builtin_response(int status, bool close, bool head_only);

// `http-request auth`'s answer: haproxy 2.6's fixed 401 page (never an
// errorfile) with `www-authenticate: Basic realm="<realm>"` after its
// content-type line; `close` and `head_only` as for builtin_response.
std::string unauthorized_response(std::string_view realm, bool close, bool head_only);

struct ErrorReply {
  std::string bytes;
  bool closes = false;  // the client connection must close after it
};

// The response for `status`: the errorfile when one is configured, otherwise
// the built-in page. `close`: the exchange closes the client connection
// (HTTP/1.0 client without keep-alive, an error that ends it);
// `http10_close`: the built-in page's `connection: close` line for an
// HTTP/1.0 client (see builtin_response). An errorfile
// goes out as haproxy 2.6 re-emits it: its status line as written, field
// names lower-cased, its own Connection field replaced by the one the
// connection's fate calls for, the body dropped for HEAD; a file with
// `Connection: close` or without Content-Length closes the connection.
ErrorReply error_response(const std::map<int, std::string>& errorfiles, int status, bool close,
                          bool http10_close, bool req_is_10, bool head_only);

}  // namespace herd::proxy
