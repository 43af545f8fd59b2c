// membership/handlers.h — Serf-compatible event handler scripts
// (`serf agent -event-handler`), so existing member-join.sh/member-leave.sh
// scripts run unchanged.
//
// Syntax of one handler (serf's): "/path/script" (every event),
// "member-join=/path", "member-join,member-leave=/path", "user:deploy=/path",
// "query:name=/path", "user=/path", "*=/path". Each script runs as
// `/bin/sh -c <script>` with the process environment plus SERF_EVENT,
// SERF_SELF_NAME, SERF_SELF_ROLE, SERF_TAG_<NAME> for each of our own tags
// (name upper-cased, characters outside [A-Z0-9_] replaced by '_'),
// SERF_USER_EVENT/SERF_USER_LTIME (user events) or
// SERF_QUERY_NAME/SERF_QUERY_LTIME (queries). Stdin: for member events one
// line per member, "name\taddress\trole\ttags\n" with tags "k=v,k=v" (tabs
// and newlines in name, role and tags escaped as "\t" and "\n"); for user
// events and queries the payload, with a '\n' appended when it does not end
// with one. Output (stdout and stderr, last 8 KiB) is logged; a query's
// output is its response. Scripts run one at a time in event order, as in
// serf (observed with serf 0.8.2, see tests/unit/membership/handlers_test.cpp).
//
// Thread rules: parse_* and build_invocation are pure (any thread).
// Handlers::dispatch() is called on the control thread and never blocks:
// scripts run on the Handlers' own worker thread (posix_spawn + waitpid of
// that child only, so other children of the process are never reaped).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "membership/member_types.h"

namespace herd::membership {

// One element of an event filter ("member-join", "user:deploy", "*").
struct EventFilter {
  std::string event;  // member-join ... member-reap, user, query, *
  std::string name;   // user/query name, "" = any
  bool valid() const;
  bool matches(const MemberEvent& ev) const;
  bool operator==(const EventFilter&) const = default;
};

// serf's ParseEventFilter: comma separated, "" means "*".
std::vector<EventFilter> parse_event_filter(std::string_view text);

struct HandlerSpec {
  std::vector<EventFilter> filters;
  std::string script;
  bool matches(const MemberEvent& ev) const;
};

// Parses one handler; nullopt with `error` set on an invalid filter or an
// empty script.
std::optional<HandlerSpec> parse_handler(std::string_view text, std::string* error = nullptr);
// Parses every `event_handlers` entry; each bad one adds
// "event handler '<text>': <why>" to `errors`.
std::vector<HandlerSpec> parse_handlers(const std::vector<std::string>& texts,
                                        std::vector<std::string>& errors);

// What serf would run for one event and one script.
struct Invocation {
  std::string script;
  std::string event;                   // SERF_EVENT value
  std::vector<std::string> env_extra;  // "K=V", added to (and overriding) the environment
  std::string stdin_data;
  uint64_t query_id = 0;  // queries: where the output goes
  bool is_query = false;
};

// `self` supplies SERF_SELF_NAME, SERF_SELF_ROLE and SERF_TAG_*.
Invocation build_invocation(const std::string& script, const MemberInfo& self,
                            const MemberEvent& ev);
// The stdin lines of a member event (exposed for tests).
std::string member_event_stdin(const std::vector<MemberInfo>& members);
// "SERF_TAG_" + upper-cased, sanitized name.
std::string tag_env_name(std::string_view tag);

// Result of one run, reported to the completion hook (worker thread).
struct InvocationResult {
  std::string script;
  std::string event;
  int exit_code = -1;  // -1: could not start or killed by a signal
  std::string output;  // stdout+stderr, last 8 KiB
  uint64_t query_id = 0;
  bool is_query = false;
};

class Handlers {
 public:
  // Called on the worker thread after each run (logging is done already).
  // app/ posts query responses back to the control thread from here.
  using Done = std::function<void(const InvocationResult&)>;

  explicit Handlers(std::vector<HandlerSpec> specs, Done done = {});
  ~Handlers();  // finishes the running script, drops queued ones, joins
  Handlers(const Handlers&) = delete;
  Handlers& operator=(const Handlers&) = delete;

  // Control thread. Queues one invocation per matching script; returns how
  // many were queued. `self` is our member (name and tags) at event time.
  int dispatch(const MemberEvent& ev, const MemberInfo& self);
  bool empty() const { return specs_.empty(); }
  // Blocks until every queued invocation finished (tests, shutdown).
  void wait_idle();

  // Runs one invocation synchronously on the calling thread (the worker
  // uses it; tests may too).
  static InvocationResult run(const Invocation& inv);

 private:
  void worker();
  std::vector<HandlerSpec> specs_;
  Done done_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Invocation> queue_;  // GUARDED_BY(mu_)
  bool busy_ = false;             // GUARDED_BY(mu_)
  bool stop_ = false;             // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace herd::membership
