// app/lifecycle.cpp — see lifecycle.h.
#include "app/lifecycle.h"

#include <csignal>

namespace herd::app {

void Lifecycle::started() {
  if (state_ == State::Starting) state_ = State::Serving;
}

Lifecycle::Action Lifecycle::signal(Signal s) {
  if (state_ == State::Stopped) return Action::None;
  switch (s) {
    case Signal::Interrupt:
      state_ = State::Stopped;
      return Action::StopNow;
    case Signal::Reload:
      if (state_ != State::Serving && state_ != State::Reloading) return Action::None;
      state_ = State::Reloading;
      ++reloads_;
      return Action::Reload;
    case Signal::SoftStop:
      if (state_ == State::Draining) return Action::None;
      if (state_ == State::Starting) {
        state_ = State::Stopped;
        return Action::StopNow;
      }
      if (state_ == State::Leaving) {
        state_ = State::Draining;
        return Action::Drain;
      }
      state_ = State::Draining;
      return Action::DrainAndLeave;
    case Signal::Terminate:
      if (state_ == State::Serving || state_ == State::Reloading) {
        state_ = State::Leaving;
        leave_ends_process_ = true;
        return Action::Leave;
      }
      state_ = State::Stopped;
      return Action::StopNow;
  }
  return Action::None;
}

void Lifecycle::reloaded() {
  if (state_ == State::Reloading) state_ = State::Serving;
}

Lifecycle::Action Lifecycle::stop_if_done() {
  if (state_ != State::Draining || !drained_) return Action::None;
  if (!left_ && !hard_stopping_ && !leave_ends_process_) return Action::None;
  state_ = State::Stopped;
  return Action::StopNow;
}

Lifecycle::Action Lifecycle::drained() {
  drained_ = true;
  return stop_if_done();
}

Lifecycle::Action Lifecycle::left() {
  left_ = true;
  if (state_ == State::Leaving || (state_ == State::Draining && leave_ends_process_)) {
    state_ = State::Stopped;
    return Action::StopNow;
  }
  return stop_if_done();
}

Lifecycle::Action Lifecycle::hard_stop_expired() {
  if (state_ != State::Draining) return Action::None;
  hard_stopping_ = true;
  if (drained_) {
    state_ = State::Stopped;
    return Action::StopNow;
  }
  return Action::AbortSessions;
}

const char* Lifecycle::name(State s) {
  switch (s) {
    case State::Starting:
      return "starting";
    case State::Serving:
      return "serving";
    case State::Reloading:
      return "reloading";
    case State::Draining:
      return "draining";
    case State::Leaving:
      return "leaving";
    case State::Stopped:
      return "stopped";
  }
  return "?";
}

Lifecycle::Signal lifecycle_signal(int signo) {
  switch (signo) {
    case SIGUSR1:
      return Lifecycle::Signal::SoftStop;
    case SIGTERM:
      return Lifecycle::Signal::Terminate;
    case SIGUSR2:
      return Lifecycle::Signal::Reload;
    default:
      return Lifecycle::Signal::Interrupt;
  }
}

}  // namespace herd::app
