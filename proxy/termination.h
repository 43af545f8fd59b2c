// proxy/termination.h — how a session or an exchange ended, as HAProxy's
// two-letter termination state (the `%ts` of tcplog, the first two of
// httplog's four): who or what ended it, and in which phase.
//
// Thread rules: plain values; any thread.
#pragma once

namespace herd::proxy {

// The first letter: the cause.
enum class TermCause : char {
  None = '-',           // a normal end
  ClientAbort = 'C',    // the client aborted (or closed before the answer)
  ServerAbort = 'S',    // the server aborted, refused, or sent nothing valid
  Proxy = 'P',          // herd refused it (an invalid request or response)
  Resource = 'R',       // out of a resource
  Local = 'L',          // answered locally (stats page)
  ClientTimeout = 'c',  // `timeout client` (or http-request) expired
  ServerTimeout = 's',  // `timeout server`, `connect` or `queue` expired
  Killed = 'K',         // stopped by herd (hard stop)
  ServerDown = 'D',     // cut when its server went DOWN (on-marked-down)
  ServerUp = 'U',       // cut when a primary came UP (on-marked-up, backups)
};

// The second letter: the phase the session was in.
enum class TermPhase : char {
  None = '-',
  Request = 'R',  // waiting for the request (or its head)
  Queue = 'Q',    // waiting in a server queue
  Connect = 'C',  // connecting to the server
  Headers = 'H',  // waiting for the response head
  Data = 'D',     // transferring data
  Last = 'L',     // sending the last bytes
};

struct Termination {
  TermCause cause = TermCause::None;
  TermPhase phase = TermPhase::None;
  bool operator==(const Termination&) const = default;
  // Writes the two letters to out[0], out[1].
  void write(char* out) const {
    out[0] = static_cast<char>(cause);
    out[1] = static_cast<char>(phase);
  }
};

}  // namespace herd::proxy
