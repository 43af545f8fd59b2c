// proxy/rules.h — request-time evaluation of the config: ACLs and
// conditions (use_backend, http-request), log-format strings (%[src]...),
// cookie parsing, and the `option forwardfor except <net>` match.
//
// Thread rules: pure functions over a parsed request; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/model.h"
#include "proxy/http1.h"

namespace herd::tls {
class Conn;
}

namespace herd::proxy {

// haproxy's variables (`http-request set-var(txn.x)`, the `var()` fetch):
// the session's sess.* ones and the request's txn.*, req.* and res.* ones
// (proc.* live in one process-wide table, proc_var/set_proc_var).
struct Vars {
  std::vector<std::pair<std::string, std::string>> values;  // "txn.x" -> value
  const std::string* get(std::string_view name) const;
  void set(std::string_view name, std::string value);
  void unset(std::string_view name);
  void end_request();  // drops txn.*, req.* and res.*
};

// What ACLs and formats may look at.
struct RequestView {
  const char* base = nullptr;  // the buffer the head was parsed from
  // Null for a TCP connection (layer-4 samples only), and in http-response
  // rules, where HAProxy's request fetches do not match either.
  const http1::Head* head = nullptr;
  std::string_view src_ip;
  uint16_t src_port = 0;
  std::string_view dst_ip;
  uint16_t dst_port = 0;
  const tls::Conn* tls = nullptr;  // the client connection's TLS layer (ssl_fc*, ssl_c_*)
  // The response (http-response rules): `status`, `res.hdr`, `shdr`.
  const char* resp_base = nullptr;
  const http1::Head* resp = nullptr;
  // What a TCP client sent first (tcp-request content rules, use_backend in
  // a TCP frontend): `req.len`, `req.ssl_hello_type`, `req.ssl_sni`, `HTTP`.
  // `content_final`: no more bytes will be waited for (inspect-delay over,
  // the client closed, the buffer full). A sample that more bytes could
  // still give sets *may_change (when not null) and does not match.
  std::string_view content{};
  bool content_final = true;
  bool* may_change = nullptr;
  Vars* vars = nullptr;  // the session's variables (null: none set, var() is empty)
};

// The value of `var(<name>)`: empty when unset.
std::string var_value(const RequestView& r, std::string_view name);
// set-var / unset-var: into r.vars, or the process-wide table (proc.*).
void set_var(const RequestView& r, std::string_view name, std::string value);
void unset_var(const RequestView& r, std::string_view name);
// Runs a set-var, set-var-fmt or unset-var rule (its condition held).
void apply_var_rule(const config::HttpRequestRule& rule, const RequestView& r);
// The values of the %[...] samples of `f`, in order (LogRecord::samples);
// the ones the log record itself answers (fe_name...) are left empty.
void log_samples(const config::LogFormat& f, const RequestView& r, std::vector<std::string>& out);

// The path of a request target: origin-form up to '?', or the path of an
// absolute-form target ("http://h/p?q" -> "/p").
std::string_view request_path(std::string_view target);

// First value of header `name` (case-insensitive), empty when absent.
std::string_view header_value(const RequestView& r, std::string_view name);
// HAProxy's `hdr(<name>)` sample value: the last occurrence, split at commas
// ("a, b" -> "b"); empty when absent.
std::string_view last_header_value(const char* base, const http1::Head& h, std::string_view name);

bool eval_condition(const config::Condition& cond, const config::Proxy& px, const RequestView& r);

// tcp-request rules of `px` (`content` or connection ones) on `r`, in
// order: Accept or Reject at the first whose condition holds, Accept when
// none does, Wait when a condition needs more bytes (not final yet).
enum class TcpVerdict { Accept, Reject, Wait };
TcpVerdict tcp_request_verdict(const config::Proxy& px, bool content, const RequestView& r);

// The request's final rule in `px`, if any: the first `http-request deny`
// or `redirect` whose condition holds (an `allow` that holds ends the
// http-request rules), else the first `redirect` keyword rule that holds
// (they run after the http-request rules, as in haproxy). Null: the request
// goes on. The stats applet comes between the two (haproxy serves a stats
// URI before its `redirect` rules): `redirects` false stops before them,
// and redirect_rule() is the second half.
const config::HttpRequestRule* request_final_rule(const config::Proxy& px, const RequestView& r,
                                                  bool redirects = true);
const config::HttpRequestRule* redirect_rule(const config::Proxy& px, const RequestView& r);

std::string expand_format(const config::FormatString& f, const RequestView& r);
// The same, appended to `out` (keeps out's capacity: no allocation per request).
void append_format(std::string& out, const config::FormatString& f, const RequestView& r);

// The value of cookie `name` in the request's Cookie headers; `found` tells
// whether it was present at all.
std::string_view find_cookie(const RequestView& r, std::string_view name, bool& found);

// `value` (one Cookie header) without the `name=...` pair; empty when
// nothing else remains.
std::string strip_cookie(std::string_view value, std::string_view name);

// Whether `ip` (numeric IPv4/IPv6 text) lies in `cidr` ("10.0.0.0/8", "::1/128", or a bare
// address).
bool ip_in_network(std::string_view ip, std::string_view cidr);

}  // namespace herd::proxy
