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

// HAProxy's built-in page for `status` (400, 401, 403, 408, 500, 502, 503, 504).
// `close` adds the `connection: close` line HAProxy sends to HTTP/1.0 clients
// (400 and 408 always carry their own `Connection: close`). `head_only`
// drops the body (HEAD requests).
std::string builtin_response(int status, bool close, bool head_only);

// The response for `status`: the errorfile contents when one is configured,
// otherwise the built-in page.
std::string error_response(const std::map<int, std::string>& errorfiles, int status, bool close,
                           bool head_only);

}  // namespace herd::proxy
