// health/state.cpp — the rise/fall state machine (see state.h).
#include "health/state.h"

namespace herd::health {

using balancing::OpState;
using Outcome = CheckResult::Outcome;

Step step(HealthState cur, int rise, int fall, Outcome outcome) {
  const int full = rise + fall - 1;
  Step st;
  st.next = cur;
  const bool up = cur.op != OpState::Stopped;
  st.was_stopping = cur.op == OpState::Stopping;
  if (outcome == Outcome::CondPass && !up) outcome = Outcome::Fail;
  switch (outcome) {
    case Outcome::Fail:
      if (!up) {
        st.next.health = 0;
        break;
      }
      st.count_failed = true;
      if (cur.health > rise) {
        st.next.health = cur.health - 1;
      } else {
        st.next.health = 0;
        st.next.op = OpState::Stopped;
        st.event = Step::Event::WentDown;
        st.count_down = true;
      }
      break;
    case Outcome::Pass:
      if (up) {
        st.next.health = full;
        st.next.op = OpState::Running;
        if (cur.op == OpState::Stopping) st.event = Step::Event::WentUp;
        break;
      }
      st.next.health = cur.health + 1;
      if (st.next.health >= rise) {
        st.next.health = full;
        st.next.op = OpState::Running;
        st.event = Step::Event::WentUp;
      }
      break;
    case Outcome::CondPass:
      st.next.health = full;
      if (cur.op != OpState::Stopping) {
        st.next.op = OpState::Stopping;
        st.event = Step::Event::WentStopping;
      }
      break;
  }
  return st;
}

std::string status_text(HealthState s, int rise, int fall) {
  const int full = rise + fall - 1;
  if (s.op == OpState::Stopped) {
    if (s.health > 0 && s.health < rise)
      return "DOWN " + std::to_string(s.health) + "/" + std::to_string(rise);
    return "DOWN";
  }
  std::string base = s.op == OpState::Stopping ? "NOLB" : "UP";
  if (s.health >= rise && s.health < full)
    base += " " + std::to_string(s.health - rise + 1) + "/" + std::to_string(fall);
  return base;
}

int64_t next_interval(HealthState s, int rise, int fall, const CheckTiming& t) {
  const int full = rise + fall - 1;
  if (s.health >= full && s.op != OpState::Stopped) return t.inter_ms;
  if (s.op == OpState::Stopped && s.health == 0)
    return t.downinter_ms > 0 ? t.downinter_ms : t.inter_ms;
  return t.fastinter_ms > 0 ? t.fastinter_ms : t.inter_ms;
}

}  // namespace herd::health
