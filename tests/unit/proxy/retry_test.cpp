// Unit tests of the retry policy (proxy/retry.h): retries, retry-on,
// redispatch and the idle-connection replay, decided over outcome values.
#include "proxy/retry.h"

#include <gtest/gtest.h>

#include "proxy/exchange_outcome.h"
#include "proxy/termination.h"

namespace herd::proxy {
namespace {

config::Proxy backend(bool redispatch = false) {
  config::Proxy px;
  px.kind = config::Proxy::Kind::Backend;
  px.redispatch = redispatch;
  return px;
}

AttemptFacts facts(AttemptOutcome o, int left = 3, bool replayable = true) {
  AttemptFacts f;
  f.outcome = o;
  f.retries_left = left;
  f.replayable = replayable;
  return f;
}

TEST(RetryPolicy, ConnectionFailuresAreRetriedOnTheSameServerAfterAWait) {
  auto px = backend();
  auto d = decide_retry(px, facts(AttemptOutcome::ConnectFailed));
  EXPECT_EQ(d, (RetryDecision{RetryAction::Retry, false, true}));
  EXPECT_EQ(decide_retry(px, facts(AttemptOutcome::ConnectFailed, 0)).action, RetryAction::GiveUp);
}

TEST(RetryPolicy, RedispatchPicksAnotherServerWithoutWaiting) {
  auto px = backend(true);
  EXPECT_EQ(decide_retry(px, facts(AttemptOutcome::ConnectFailed)),
            (RetryDecision{RetryAction::Retry, true, false}));
}

TEST(RetryPolicy, RetryOnWithoutConnFailureGivesUpOnConnectionFailures) {
  auto px = backend();
  px.retry_on.set = true;
  px.retry_on.conn_failure = false;
  px.retry_on.empty_response = true;
  EXPECT_EQ(decide_retry(px, facts(AttemptOutcome::ConnectFailed)).action, RetryAction::GiveUp);
  EXPECT_EQ(decide_retry(px, facts(AttemptOutcome::EmptyResponse)).action, RetryAction::Retry);
  EXPECT_EQ(decide_retry(px, facts(AttemptOutcome::EmptyResponse, 3, false)).action,
            RetryAction::GiveUp);  // the body is still coming: never twice
}

TEST(RetryPolicy, ResponsesAreRetriedOnlyWhenRetryOnSaysSo) {
  auto px = backend();
  for (auto o : {AttemptOutcome::ResponseTimeout, AttemptOutcome::JunkResponse,
                 AttemptOutcome::EmptyResponse})
    EXPECT_EQ(decide_retry(px, facts(o)).action, RetryAction::GiveUp);
  px.retry_on.set = true;
  px.retry_on.response_timeout = true;
  px.retry_on.junk_response = true;
  EXPECT_EQ(decide_retry(px, facts(AttemptOutcome::ResponseTimeout)).action, RetryAction::Retry);
  EXPECT_EQ(decide_retry(px, facts(AttemptOutcome::JunkResponse)).action, RetryAction::Retry);
  EXPECT_EQ(decide_retry(px, facts(AttemptOutcome::JunkResponse, 0)).action, RetryAction::GiveUp);
  EXPECT_EQ(decide_retry(px, facts(AttemptOutcome::RetryStatus)).action, RetryAction::Retry);
}

TEST(RetryPolicy, AnIdempotentRequestOnAClosedIdleConnectionIsReplayedOnce) {
  auto px = backend();
  auto f = facts(AttemptOutcome::EmptyResponse, 0);
  f.reused = true;
  f.idempotent = true;
  EXPECT_EQ(decide_retry(px, f).action, RetryAction::ReplayFresh);  // not counted: 0 left is fine
  f.replayed_idle = true;
  EXPECT_EQ(decide_retry(px, f).action, RetryAction::GiveUp);
  f.replayed_idle = false;
  f.idempotent = false;  // a POST is never sent twice
  EXPECT_EQ(decide_retry(px, f).action, RetryAction::GiveUp);
}

TEST(RetryPolicy, AStaleIdleConnectionGoesFreshWhenTheRequestIsBuffered) {
  auto px = backend();
  EXPECT_EQ(decide_retry(px, facts(AttemptOutcome::StaleConnection)).action,
            RetryAction::ReplayFresh);
  EXPECT_EQ(decide_retry(px, facts(AttemptOutcome::StaleConnection, 3, false)).action,
            RetryAction::Retry);  // counted as a connection failure
}

TEST(RetryPolicy, NothingIsRetriedWhileAbortingOrOnceAnswered) {
  auto px = backend(true);
  auto f = facts(AttemptOutcome::ConnectFailed);
  f.aborting = true;
  EXPECT_EQ(decide_retry(px, f).action, RetryAction::GiveUp);
  EXPECT_EQ(decide_retry(px, facts(AttemptOutcome::Answered)).action, RetryAction::GiveUp);
}

TEST(Termination, WritesHaproxysTwoLetters) {
  char out[3] = {0, 0, 0};
  Termination{}.write(out);
  EXPECT_STREQ(out, "--");
  Termination{TermCause::ServerTimeout, TermPhase::Queue}.write(out);
  EXPECT_STREQ(out, "sQ");
  Termination{TermCause::ClientAbort, TermPhase::Data}.write(out);
  EXPECT_STREQ(out, "CD");
}

}  // namespace
}  // namespace herd::proxy

namespace herd::proxy {
namespace {

RelayResult relay(RelayEnd end, ClientSaw saw = ClientSaw::Nothing, bool silent = false) {
  RelayResult r;
  r.end = end;
  r.client_saw = saw;
  r.server_silent = silent;
  return r;
}

// The relay's termination state, as the retry policy and the log see it.
TEST(ExchangeOutcome, OnlyAnAttemptTheClientSawNothingOfMayGoAgain) {
  EXPECT_EQ(attempt_outcome(relay(RelayEnd::ServerFailed, ClientSaw::Nothing, true)),
            AttemptOutcome::EmptyResponse);
  EXPECT_EQ(attempt_outcome(relay(RelayEnd::ServerFailed, ClientSaw::Nothing, false)),
            AttemptOutcome::Answered);  // part of a head came: not empty
  EXPECT_EQ(attempt_outcome(relay(RelayEnd::ServerTimeout, ClientSaw::Nothing, true)),
            AttemptOutcome::ResponseTimeout);
  EXPECT_EQ(attempt_outcome(relay(RelayEnd::ProtocolError)), AttemptOutcome::JunkResponse);
  EXPECT_EQ(attempt_outcome(relay(RelayEnd::RetryStatus)), AttemptOutcome::RetryStatus);
  EXPECT_EQ(attempt_outcome(relay(RelayEnd::ServerFailed, ClientSaw::Interim, true)),
            AttemptOutcome::Answered);  // a 100 was forwarded: no second try
  EXPECT_EQ(attempt_outcome(relay(RelayEnd::ClientFailed)), AttemptOutcome::Answered);
  EXPECT_EQ(attempt_outcome(relay(RelayEnd::Done, ClientSaw::Response)), AttemptOutcome::Answered);
}

TEST(ExchangeOutcome, HttplogTerminationStates) {
  EXPECT_STREQ(relay_log_term(relay(RelayEnd::Done, ClientSaw::Response)), "----");
  EXPECT_STREQ(relay_log_term(relay(RelayEnd::ClientFailed, ClientSaw::Response)), "CD--");
  EXPECT_STREQ(relay_log_term(relay(RelayEnd::ServerFailed, ClientSaw::Response)), "SD--");
  EXPECT_STREQ(relay_log_term(relay(RelayEnd::ServerTimeout, ClientSaw::Response)), "SD--");
}

}  // namespace
}  // namespace herd::proxy
