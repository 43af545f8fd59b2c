// app/lifecycle.h — the lifecycle of a herd process: one state machine for
// the native engine, reference mode (`--engine haproxy`) and the master of
// master-worker mode, replacing the flags each kept before.
//
// States and transitions (event: from -> to, and the action returned):
//
//   Starting   started()                      -> Serving
//   Serving,   signal(Reload)     (SIGUSR2)   -> Reloading     Reload (again
//   Reloading                                      while one is under way: the
//                                                  configuration may have changed)
//   Reloading  reloaded()                     -> Serving
//   Serving,   signal(SoftStop)   (SIGUSR1)   -> Draining      DrainAndLeave
//   Reloading
//   Leaving    signal(SoftStop)               -> Draining      Drain (the leave
//                                                  already under way ends the
//                                                  process when it is done)
//   Serving,   signal(Terminate)  (SIGTERM)   -> Leaving       Leave
//   Reloading
//   Draining,  signal(Terminate)              -> Stopped       StopNow
//   Leaving
//   any        signal(Interrupt)  (SIGINT)    -> Stopped       StopNow
//   Draining   drained(), left()              -> Stopped       StopNow, once the
//                                                  drain ended and the leave did
//                                                  (or hard-stop-after expired)
//   Draining   hard_stop_expired()            -> Stopped       StopNow when drained,
//                                                  else AbortSessions (the drain
//                                                  then ends within 500 ms)
//   Leaving    left()                         -> Stopped       StopNow
//   Draining   signal(SoftStop), signal(Reload): ignored (None), as a second
//   SIGUSR1 by haproxy; Stopped ignores everything.
//
// Draining: the listeners are closed, in-flight requests finish, the
// gossip member leaves beside it. Leaving: the member leaves while the
// process still serves, then it stops (HAProxy's SIGTERM is a hard stop;
// herd leaves the cluster first). Reloading: a reload is under way and the
// process serves as in Serving: the master's new worker is starting, the
// supervised haproxy's new worker has not answered yet (reference mode), or
// a native process handed its sockets to a successor (`_getsocks`), whose
// SIGUSR1 comes next; reloaded() ends it.
//
// The actions are the caller's to perform (close listeners, start the leave,
// stop the io_context): this class only decides, so that the transitions are
// unit-tested (tests/unit/app/lifecycle_test.cpp).
//
// Thread rules: not thread-safe. It is driven by the control thread of a
// native or reference-mode process (main() running the control io_context:
// signal handlers, and completions posted there by the drain waiter) and by
// the master's main thread in master-worker mode.
#pragma once

#include <cstdint>

namespace herd::app {

class Lifecycle {
 public:
  enum class State { Starting, Serving, Reloading, Draining, Leaving, Stopped };
  enum class Signal { SoftStop, Terminate, Interrupt, Reload };  // USR1, TERM, INT, USR2
  enum class Action {
    None,           // nothing to do (ignored event)
    Reload,         // start a reload
    DrainAndLeave,  // soft stop: close the listeners, drain the connections, leave
    Drain,          // the same without a new leave (a SIGTERM's is under way)
    Leave,          // leave the gossip cluster, then stop (left())
    StopNow,        // stop now: cut what still runs, end the process
    AbortSessions,  // hard-stop-after while draining: cut the sessions
  };

  State state() const { return state_; }
  // Draining, Leaving or Stopped: no new reload, no new connection.
  bool stopping() const {
    return state_ == State::Draining || state_ == State::Leaving || state_ == State::Stopped;
  }
  // Reloads begun since started() (the master's `show proc`).
  uint32_t reloads() const { return reloads_; }

  void started();
  Action signal(Signal s);
  void reloaded();
  Action drained();
  Action left();
  Action hard_stop_expired();

  static const char* name(State s);

 private:
  Action stop_if_done();

  State state_ = State::Starting;
  bool drained_ = false, left_ = false, hard_stopping_ = false;
  bool leave_ends_process_ = false;  // a SIGTERM's leave: its end stops the process
  uint32_t reloads_ = 0;
};

// SIGUSR1, SIGTERM, SIGINT, SIGUSR2 as a Lifecycle::Signal (SIGINT for any other).
Lifecycle::Signal lifecycle_signal(int signo);

}  // namespace herd::app
