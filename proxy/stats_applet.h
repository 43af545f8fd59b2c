// proxy/stats_applet.h — the stats page served by a proxy with `stats
// enable` (a frontend, or a backend that a request was routed to, as
// haproxy): which requests are for it, the applet's request built from a
// parsed head (Authorization, `stats admin` condition), and its answer: a
// GET/HEAD rendered on the worker thread, a POST (admin actions change the
// pool) run on the control thread while the request's coroutine waits on
// its own worker. The session reads the request and writes the answer.
//
// Part of an I/O variant (compiled once per backend, see io_engine.h).
// Thread rules: the request's worker thread; the POST hook runs on the
// control thread and posts its answer back.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "proxy/rules.h"
#include "proxy/worker.h"

namespace herd::proxy {
inline namespace HERD_IO_NS {

// Whether the parsed request `target` is for the stats page of `px`.
bool is_stats_request(const Worker& w, const config::Proxy& px, std::string_view target);

// The proxy's `stats http-request` rule that answers `rv` instead of the
// page (deny or auth), or null: none matched, or `allow` did first.
const config::HttpRequestRule* stats_rule_verdict(const config::Proxy& px, const RequestView& rv);

// The applet's request (without the body) for the request `rv` to `px`.
StatsRequest make_stats_request(const config::Proxy& px, const RequestView& rv, bool head_only);

// The complete response bytes for `sr`.
boost::asio::awaitable<std::string> answer_stats(Worker& w, StatsRequest sr);

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
