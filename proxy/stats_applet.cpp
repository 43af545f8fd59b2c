// proxy/stats_applet.cpp — see stats_applet.h.
#include "proxy/stats_applet.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>

namespace herd::proxy {
inline namespace HERD_IO_NS {

namespace asio = boost::asio;

bool is_stats_request(const Worker& w, const config::Proxy& px, std::string_view target) {
  if (!px.stats.enabled || !w.shared.hooks.stats) return false;
  // The applet answers any request whose target starts with `stats uri`.
  if (w.shared.hooks.stats_matches) return w.shared.hooks.stats_matches(px, target);
  return target.starts_with(px.stats.uri);
}

const config::HttpRequestRule* stats_rule_verdict(const config::Proxy& px, const RequestView& rv) {
  for (const auto& rule : px.stats.http_request) {
    if (rule.cond && !eval_condition(*rule.cond, px, rv)) continue;
    if (rule.action == config::HttpRequestRule::Action::Allow) return nullptr;
    return &rule;
  }
  return nullptr;
}

StatsRequest make_stats_request(const config::Proxy& px, const RequestView& rv, bool head_only) {
  StatsRequest sr;
  sr.proxy = &px;
  sr.method.assign(rv.head->method);
  sr.target.assign(rv.head->target);
  sr.head_only = head_only;
  sr.authorization.assign(header_value(rv, "authorization"));
  sr.admin_allowed = px.stats.admin && eval_condition(*px.stats.admin, px, rv);
  return sr;
}

asio::awaitable<std::string> answer_stats(Worker& w, StatsRequest sr) {
  if (sr.method != "POST" || !w.shared.hooks.stats_post) co_return w.shared.hooks.stats(sr);
  // Runs on the control thread (it mutates the pool); wait for the answer here.
  auto result = std::make_shared<std::string>();
  auto ready =
      std::make_shared<asio::steady_timer>(w.ioc, std::chrono::steady_clock::time_point::max());
  auto& ioc = w.ioc;
  w.shared.hooks.stats_post(std::move(sr), [result, ready, &ioc](std::string r) {
    asio::post(ioc, [result, ready, r = std::move(r)]() mutable {
      *result = std::move(r);
      ready->cancel();
    });
  });
  co_await ready->async_wait(asio::as_tuple(asio::use_awaitable));
  co_return std::move(*result);
}

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
