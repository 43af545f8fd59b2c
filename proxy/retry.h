// proxy/retry.h — whether an attempt to reach a server is made again, and
// how: the decision of `retries`, `retry-on` and `option redispatch` over
// the outcome of one attempt, kept out of the connection code (the model is
// Envoy's RetryState::shouldRetry). A pure function: the exchange describes
// what happened, the policy answers, the exchange acts.
//
// Thread rules: pure functions over values; any thread.
#pragma once

#include "config/model.h"

namespace herd::proxy {

// What one attempt ended with, before anything reached the client.
enum class AttemptOutcome {
  ConnectFailed,    // connect (or the first write) failed on a fresh connection
  StaleConnection,  // the first write failed on a reused idle connection
  EmptyResponse,    // the server closed or failed before sending a byte
  ResponseTimeout,  // `timeout server` expired before the response head
  JunkResponse,     // an invalid response head
  RetryStatus,      // a status listed by `retry-on` (not forwarded)
  Answered,         // a response reached the client (or it went away)
};

struct AttemptFacts {
  AttemptOutcome outcome = AttemptOutcome::Answered;
  bool replayable = false;     // the whole request is buffered (may go again)
  bool reused = false;         // the attempt went on a reused idle connection
  bool idempotent = false;     // the request's method is idempotent
  bool replayed_idle = false;  // the one uncounted idle-connection replay was spent
  bool aborting = false;       // hard-stop-after: no more attempts
  int retries_left = 0;        // what `retries` still allows
};

enum class RetryAction {
  GiveUp,       // answer with an error (or, in TCP mode, close)
  Retry,        // a counted retry (`retries` - 1, wretr + 1)
  ReplayFresh,  // not counted: the same request once more on a fresh connection
};

struct RetryDecision {
  RetryAction action = RetryAction::GiveUp;
  bool redispatch = false;  // pick another server (wredis + 1) instead of the same
  bool wait = false;        // a retry on the same server after a connection failure
                            // waits a moment first (min(timeout connect, 1 s))
  bool operator==(const RetryDecision&) const = default;
};

// `px` gives retry-on and `option redispatch`.
RetryDecision decide_retry(const config::Proxy& px, const AttemptFacts& f);

}  // namespace herd::proxy
