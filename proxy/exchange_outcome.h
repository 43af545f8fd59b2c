// proxy/exchange_outcome.h — how the relay of one HTTP response ended, as a
// value (an enum for the termination state, not a set of flags), and what
// that means for the retry policy (retry.h). The relay fills a RelayResult;
// the exchange reads it to answer, retry, log and count.
//
// Thread rules: plain values and pure functions; any thread.
#pragma once

#include <cstdint>

#include "proxy/retry.h"

namespace herd::proxy {

enum class RelayEnd {
  Done,           // the response (or the tunnel) went through
  ClientFailed,   // the client went away (or its upload failed)
  ServerFailed,   // the server closed or reset the connection
  ServerTimeout,  // `timeout server` expired
  ProtocolError,  // the response head (or a chunk) was invalid
  RetryStatus,    // a `retry-on` status, not forwarded
  Denied,         // an `http-response deny` rule refused it (`status`: the answer's)
};

// What reached the client of this response so far.
enum class ClientSaw {
  Nothing,
  Interim,   // a 1xx was forwarded: a final answer is still owed
  Response,  // bytes of the final response
};

struct RelayResult {
  RelayEnd end = RelayEnd::Done;
  ClientSaw client_saw = ClientSaw::Nothing;
  bool server_silent = false;     // the server failed before sending a byte
  bool reuse_after_pump = false;  // response done, upload still running: reuse after it
  bool keep_client = false;       // the client connection goes on
  int status = 0;
  long t_response = -1;
  uint64_t bytes_out = 0;

  bool server_side_failure() const {
    return end == RelayEnd::ServerFailed || end == RelayEnd::ServerTimeout;
  }
};

// The attempt's outcome for the retry policy: only an attempt of which the
// client saw nothing may go again.
inline AttemptOutcome attempt_outcome(const RelayResult& r) {
  if (r.client_saw != ClientSaw::Nothing) return AttemptOutcome::Answered;
  switch (r.end) {
    case RelayEnd::RetryStatus:
      return AttemptOutcome::RetryStatus;
    case RelayEnd::ServerTimeout:
      return r.server_silent ? AttemptOutcome::ResponseTimeout : AttemptOutcome::Answered;
    case RelayEnd::ServerFailed:
      return r.server_silent ? AttemptOutcome::EmptyResponse : AttemptOutcome::Answered;
    case RelayEnd::ProtocolError:
      return AttemptOutcome::JunkResponse;
    case RelayEnd::ClientFailed:
    case RelayEnd::Done:
    case RelayEnd::Denied:
      break;
  }
  return AttemptOutcome::Answered;
}

// httplog's termination state for a relayed response ("CD--", "SD--", "----").
inline const char* relay_log_term(const RelayResult& r) {
  if (r.end == RelayEnd::ClientFailed) return "CD--";
  if (r.server_side_failure()) return "SD--";
  return "----";
}

}  // namespace herd::proxy
