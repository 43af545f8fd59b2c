// health/check_request.h — the bytes of an HTTP health-check request and the
// evaluation of the server's answer, exactly as HAProxy 2.6 does them
// (docs/health.md, tests/data/haproxy-captures/healthcheck-requests.txt).
//
// Thread rules: pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/model.h"
#include "health/status.h"

namespace herd::health {

// The request HAProxy sends for `option httpchk` (+ `http-check send`):
//   "<meth> <uri> <ver>\r\n" + lower-cased headers + content-length when a
//   body is set + "connection: close" unless the version is HTTP/1.0 +
//   "\r\n" + body.
// `state_header`: the value of x-haproxy-server-state (`http-check
// send-state`), after the configured headers; empty: none.
std::string build_check_request(const config::HttpCheck& hc, std::string_view state_header = {});

// What `http-check send-state` reports of a server (haproxy 2.6's
// httpchk_build_status_header()): "<status>; address=<ip>; port=<port>;
// name=<backend>/<server>; node=<node>; weight=<w>/<backend total>;
// scur=<server conns>/<backend conns>; qcur=<server queue>".
struct ServerStateFields {
  std::string status;  // "UP", "UP 1/3", "DOWN 1/2", "NOLB", "no check" (state.h's status_text)
  std::string addr;
  uint16_t port = 0;
  std::string backend, server, node;
  int weight = 0, total_weight = 0;
  int scur = 0, backend_conns = 0, qcur = 0;
};
std::string server_state_header(const ServerStateFields& f);

// Parsed head of an HTTP response (status line and content-length).
struct ResponseHead {
  int code = 0;
  std::string reason;
  size_t header_len = 0;                 // bytes up to and including the blank line
  std::optional<size_t> content_length;  // from the content-length header
};

// Parses the response head in `data`. Returns std::nullopt while the head is
// incomplete; sets `invalid` when the bytes cannot be an HTTP response.
std::optional<ResponseHead> parse_response_head(std::string_view data, bool& invalid);

// Whether `data` holds enough of the response to evaluate it under `hc`
// (status-only rules need the head, string rules need the whole body).
bool response_complete(const config::HttpCheck& hc, std::string_view data);

// Evaluates a response (everything read so far; `eof` when the server
// closed) under `hc`: L7OK / L7OKC / L7STS / L7RSP with code and info.
CheckResult evaluate_response(const config::HttpCheck& hc, std::string_view data);

// `http-check expect status <list>`: "200", "200,204", "200-399".
bool status_matches_list(std::string_view list, int code);

}  // namespace herd::health
