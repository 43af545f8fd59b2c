// health/state.h — HAProxy 2.6's rise/fall state machine for one server,
// as a pure function (docs/health.md, observed on 2.6.12).
//
// The health counter h runs from 0 to rise+fall-1 ("full"):
//   * start: UP with h = rise ("UP 1/3", check_status INI), so a single
//     failure marks the server DOWN;
//   * UP (or NOLB) and a failure: h > rise → h-1 ("UP 2/3", "UP 1/3");
//     otherwise h = 0 and DOWN. Each such failure counts chkfail, the
//     transition counts chkdown;
//   * DOWN and a failure: h = 0;
//   * a success: DOWN → h+1 ("DOWN 1/2") and UP with h = full once h reaches
//     rise; UP/NOLB → h = full, RUNNING;
//   * a conditional pass (disable-on-404 and a 404): UP → NOLB (Stopping)
//     with h = full; DOWN → treated as a failure (L7STS), as 2.6 does.
//
// Thread rules: pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>

#include "balancing/server.h"
#include "health/status.h"

namespace herd::health {

struct HealthState {
  balancing::OpState op = balancing::OpState::Running;
  int health = 0;
  bool operator==(const HealthState&) const = default;
};

struct Step {
  HealthState next;
  enum class Event { None, WentDown, WentUp, WentStopping };
  Event event = Event::None;
  bool count_failed = false;  // chkfail
  bool count_down = false;    // chkdown
  bool was_stopping = false;  // the server was NOLB before (DOWN is logged at notice)
};

// Applies one check outcome. `rise` >= 1, `fall` >= 1.
Step step(HealthState cur, int rise, int fall, CheckResult::Outcome outcome);

// The status text HAProxy shows for a checked, non-MAINT, non-DRAIN server:
// "UP", "UP 2/3", "DOWN", "DOWN 1/2", "NOLB", "NOLB 1/3".
std::string status_text(HealthState s, int rise, int fall);

// Check timing parameters of one server (from its `server` line or the
// runtime API).
struct CheckTiming {
  int64_t inter_ms = 2000;
  int64_t fastinter_ms = 0;  // 0: inter
  int64_t downinter_ms = 0;  // 0: inter
};

// The delay before the next check: inter when fully UP (h = full), downinter
// when DOWN with h = 0, fastinter in between (each defaulting to inter).
int64_t next_interval(HealthState s, int rise, int fall, const CheckTiming& t);

}  // namespace herd::health
