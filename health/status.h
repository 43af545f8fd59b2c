// health/status.h — the result of one health check as HAProxy 2.6 names it
// (check_status "L7OK", its description "Layer7 check passed", the numeric
// code `show servers state` prints) and the request/response helpers' types.
//
// Thread rules: plain values and pure functions; any thread.
#pragma once

#include <string>
#include <string_view>

namespace herd::health {

// HAProxy's check statuses that herd produces (numeric values are the
// srv_check_status codes of `show servers state`).
enum class CheckStatus : int {
  Unknown = 0,  // UNK
  Init = 1,     // INI: no check finished yet
  SockErr = 4,  // SOCKERR: the connection broke after it was established
  L4Ok = 6,     // TCP check connected
  L4Tout = 7,   // no connection before the deadline
  L4Con = 8,    // connection refused/unreachable
  L6Ok = 9,     // TLS handshake done (a TCP check of an `ssl`/`check-ssl` server)
  L6Tout = 10,  // connected, no TLS handshake before the deadline
  L6Rsp = 11,   // the TLS handshake failed
  L7Tout = 12,  // connected, no complete response before the deadline
  L7Rsp = 13,   // not an HTTP response, or the body did not match
  L7Ok = 15,    // expected status
  L7OkC = 16,   // conditional pass (disable-on-404 and a 404)
  L7Sts = 17,   // unexpected status
};

// "L7OK", "L4CON", ...
std::string_view status_name(CheckStatus s);
// "Layer7 check passed", "Layer4 connection problem", ...
std::string_view status_desc(CheckStatus s);
// Whether HAProxy prints ", code: N" for this status (L7OK, L7OKC, L7STS).
bool status_has_code(CheckStatus s);

// What one check attempt found.
struct CheckResult {
  enum class Outcome { Pass, CondPass, Fail };
  Outcome outcome = Outcome::Fail;
  CheckStatus status = CheckStatus::Unknown;
  int code = 0;      // HTTP status, 0 when none
  std::string info;  // "Service Unavailable", "Connection refused", ... ("" when none)
  bool report_info = false;  // shown on a pass too (tcp-check's "(tcp-check)")
  int duration_ms = 0;
};

}  // namespace herd::health
