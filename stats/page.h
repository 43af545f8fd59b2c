// stats/page.h — the HTTP stats page of a `stats enable` proxy: the HTML
// report, `;csv`, `;json`, `;typed`, `;up`, `;no-maint`, `;norefresh`,
// `;scope=`, basic auth (401 with HAProxy's exact bytes), the `stats admin`
// POST (303 to `;st=DONE|DENY|...`) and Prometheus `/metrics`.
//
// The page builds complete HTTP/1.1 responses (status line, lower-case
// header names as HAProxy sends them, body). Bodies of 200 responses are
// sent chunked in one chunk, like HAProxy's `transfer-encoding: chunked`
// (HEAD: headers only); 401/303 carry `content-length`.
//
// Thread rules: StatsPage is immutable after construction. handle_get() may
// run on any thread (it reads Pool::current() and the live counters).
// handle_post() mutates the pool through the PoolWriter and must run on the
// control thread that owns it (the proxy posts the request there).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "balancing/frontend.h"
#include "balancing/pool.h"
#include "config/model.h"
#include "stats/csv.h"

namespace herd::stats {

struct HttpResponse {
  int status = 200;
  std::string reason = "OK";
  std::vector<std::pair<std::string, std::string>> headers;  // in send order
  std::string body;
  bool chunked = false;  // body framed as one chunk + last chunk
  bool head = false;     // HEAD: no body bytes (and no transfer-encoding)
  // The bytes to write on the client connection.
  std::string serialize() const;
};

struct PageRequest {
  std::string_view method;         // "GET", "HEAD", "POST"
  std::string_view target;         // request target as received: "/;csv;norefresh"
  std::string_view authorization;  // value of the Authorization header, "" if none
  std::string_view body;           // POST body (application/x-www-form-urlencoded)
};

// Options parsed from the part of the target after the stats URI.
struct PageOptions {
  enum class Format { Html, Csv, Json, Typed, JsonSchema } format = Format::Html;
  bool norefresh = false;
  bool up = false;
  bool no_maint = false;
  std::string scope;
  std::string st;  // ";st=DONE" banner after an admin POST
};
PageOptions parse_page_options(std::string_view rest);

class StatsPage {
 public:
  // `px` is the proxy carrying `stats enable`/`stats uri` (its StatsConfig).
  StatsPage(const config::Config& cfg, const config::Proxy& px, const balancing::Pool& pool,
            const balancing::ProcessLive& proc, const ProcessInfo& info);

  // True when the request path belongs to the stats page: it starts with
  // `stats uri` (prefix match, as HAProxy), or is exactly "/metrics".
  bool matches(std::string_view target) const;

  // GET/HEAD (and the 401 for any method without valid credentials). Any thread.
  HttpResponse handle_get(const PageRequest& req) const;
  // POST with `stats admin`: `admin_allowed` is the value of the
  // `stats admin if <cond>` condition for this request, evaluated by the
  // proxy (false when the proxy has no `stats admin`). Control thread.
  HttpResponse handle_post(const PageRequest& req, balancing::PoolWriter& writer,
                           bool admin_allowed) const;

  // Hook for other modules (membership): extra HTML appended after the proxy
  // tables, e.g. a "members" table. Called on the thread rendering the page.
  using ExtraHtml = std::function<std::string(const Sources&)>;
  void set_extra_html(ExtraHtml fn) { extra_html_ = std::move(fn); }
  // Hook for other modules (membership): Prometheus families appended to
  // /metrics after HAProxy's. Called on the thread rendering the page.
  using ExtraMetrics = std::function<std::string()>;
  void set_extra_metrics(ExtraMetrics fn) { extra_metrics_ = std::move(fn); }

  // Validates `Authorization: Basic ...` against `stats auth` lines
  // (true when the proxy has none).
  bool authorized(std::string_view authorization) const;

 private:
  std::string render_html(const Sources& src, const PageOptions& o, bool admin) const;

  const config::Config& cfg_;
  const config::Proxy& px_;
  const balancing::Pool& pool_;
  const balancing::ProcessLive& proc_;
  const ProcessInfo& info_;
  ExtraHtml extra_html_;
  ExtraMetrics extra_metrics_;
};

// Escapes <, >, & and " for HTML text and attribute values.
std::string html_escape(std::string_view s);

// HAProxy's 401 for the stats page (exact bytes; realm from `stats realm`).
HttpResponse stats_unauthorized(std::string_view realm);

// Prometheus text exposition with prometheus-haproxy-exporter 0.14's metric
// names (haproxy_frontend_*, haproxy_backend_*, haproxy_server_*,
// haproxy_up, haproxy_version_info), built from the same rows as the CSV
// (`filter`: the page's `stats scope`).
std::string render_metrics(const Sources& src, const Filter& filter = {});

}  // namespace herd::stats
