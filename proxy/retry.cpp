// proxy/retry.cpp — see retry.h.
#include "proxy/retry.h"

namespace herd::proxy {

RetryDecision decide_retry(const config::Proxy& px, const AttemptFacts& f) {
  const auto& ro = px.retry_on;
  RetryDecision give_up;
  if (f.aborting || f.outcome == AttemptOutcome::Answered) return give_up;
  auto counted = [&](bool allowed) {
    RetryDecision d;
    if (!allowed || f.retries_left <= 0) return d;
    d.action = RetryAction::Retry;
    d.redispatch = px.redispatch;
    return d;
  };
  switch (f.outcome) {
    case AttemptOutcome::StaleConnection:
      // The server closed an idle connection as the request arrived: the
      // request goes on a fresh connection (never sent: not a retry).
      if (f.replayable) return {RetryAction::ReplayFresh, false, false};
      [[fallthrough]];
    case AttemptOutcome::ConnectFailed: {
      RetryDecision d = counted(!ro.set || ro.conn_failure);
      d.wait = d.action == RetryAction::Retry && !d.redispatch;
      return d;
    }
    case AttemptOutcome::RetryStatus:
      return counted(f.replayable);
    case AttemptOutcome::ResponseTimeout:
      return counted(f.replayable && ro.set && ro.response_timeout);
    case AttemptOutcome::EmptyResponse:
      if (!f.replayable) return give_up;
      if (ro.set) return counted(ro.empty_response);
      // Without retry-on: an idempotent request on a reused idle connection
      // the server closed before answering goes once more (RFC 9112 §9.3.1.1).
      if (f.reused && !f.replayed_idle && f.idempotent)
        return {RetryAction::ReplayFresh, false, false};
      return give_up;
    case AttemptOutcome::JunkResponse:
      return counted(f.replayable && ro.set && ro.junk_response);
    case AttemptOutcome::Answered:
      break;
  }
  return give_up;
}

}  // namespace herd::proxy
