// proxy/rewrite.h — the exchange's two rewrite phases for HTTP: the request
// head sent to the server (http-request rules, option forwardfor, hop-by-hop
// fields, Content-Length normalisation, the connection mode towards the
// server) and the response head sent to the client (framing fields, cookie
// insertion, the client connection's persistence). Pure functions over a
// parsed head and the config: no socket, no Asio, compiled once, unit-tested
// without I/O (tests/unit/proxy/rewrite_test.cpp).
//
// Thread rules: pure functions; any thread (a caller's scratch objects are
// its own).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/model.h"
#include "proxy/http1.h"
#include "proxy/rules.h"

namespace herd::proxy {

// Header fields added by http-request rules: the first `n` of `fields`.
// Names point into the config; value strings keep their capacity from one
// request to the next, so a request does not allocate (test_allocations).
struct AddedFields {
  std::vector<std::pair<std::string_view, std::string>> fields;
  size_t n = 0;
};

struct UpstreamHeadIn {
  const RequestView& rv;  // the request (base, head) and the connection's addresses
  const config::Proxy& fe;
  const config::Proxy& be;
  bool upgrade = false;  // the request switches protocols (Connection: upgrade, no body)
  int64_t body_len = 0;  // -2: chunked; otherwise its Content-Length (0: none)
  std::string_view method;
  // `unique-id-header` (the frontend's): sent with the request's unique ID
  // after the http-request additions, before X-Forwarded-For (haproxy's order).
  std::string_view unique_id_header{};
  std::string_view unique_id{};
};

// Writes the request head for the server into `out` (replacing it).
// Returns whether the server connection closes after this exchange
// (option http-server-close / httpclose on either side).
bool build_upstream_head(std::string& out, AddedFields& added, const UpstreamHeadIn& in);

// The edits the http-response rules make to one response (computed by
// apply_response_rules, written by build_client_head). Value strings keep
// their capacity from one response to the next.
struct ResponseEdits {
  std::array<bool, http1::kMaxHeaders> drop{};
  std::array<bool, http1::kMaxHeaders> replaced{};  // value[i] holds the new value
  std::array<std::string, http1::kMaxHeaders> value;
  AddedFields added;
  int status = 0;  // set-status: the new status (0: unchanged)
  std::string_view reason;
  bool any = false;  // some rule applied
};

// Runs the http-response rules of `be` then `fe` (once for a listen) on a
// response, in order, as HAProxy: `allow` ends a proxy's rules, `deny` ends
// all of them. Returns the deny status (0: not denied). Conditions and
// formats see the response as the server sent it (`rv.resp`), and the
// connection's samples; request samples never match, as in HAProxy.
int apply_response_rules(ResponseEdits& ed, const RequestView& rv, const config::Proxy& fe,
                         const config::Proxy& be);

struct ClientHeadIn {
  const char* base;  // the buffer the response head was parsed from
  const http1::Head& resp;
  const config::Proxy& be;
  bool chunked = false;            // the body is relayed chunked (Content-Length goes)
  bool keep = false;               // the client connection stays open after it
  bool req_is_10 = false;          // the request was HTTP/1.0
  bool cookie_valid = false;       // the request's persistence cookie named the server
  std::string_view server_cookie;  // the server's `cookie` value
  std::string_view method;         // the request's
  const ResponseEdits* edits = nullptr;  // http-response rules' edits, when any applied
};

// Writes the response head for the client into `out` (replacing it).
void build_client_head(std::string& out, const ClientHeadIn& in);

// An interim (1xx) head for the client: no body, so Content-Length and
// Transfer-Encoding go (as haproxy drops them), names lower-cased.
void build_interim_head(std::string& out, const char* base, const http1::Head& resp);

// Whether a response may be cached by a shared cache (HAProxy's test for
// `cookie ... nocache`): method, status and explicit freshness.
bool response_cacheable(std::string_view method, int status, const char* base,
                        const http1::Head& h);

// HAProxy's answer to a `redirect` rule: "HTTP/1.1 <code> <reason>",
// content-length 0, the location (`location` expanded, or the request's
// path and query after a `prefix`, or after `scheme://<host>`), a
// `cache-control: no-cache` for 302/303/307, `connection: close` when
// `close`.
std::string redirect_response(const config::HttpRequestRule& rule, const RequestView& rv,
                              bool close);

// Appends `s` lower-cased.
void lower_append(std::string& out, std::string_view s);

}  // namespace herd::proxy
