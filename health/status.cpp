// health/status.cpp — names and descriptions of check statuses (see status.h).
#include "health/status.h"

#include <array>

namespace herd::health {

namespace {

struct Names {
  CheckStatus status;
  std::string_view name, desc;
};

constexpr std::array<Names, 14> kNames{{
    {CheckStatus::Unknown, "UNK", "Unknown"},
    {CheckStatus::Init, "INI", "Initializing"},
    {CheckStatus::SockErr, "SOCKERR", "Socket error"},
    {CheckStatus::L4Ok, "L4OK", "Layer4 check passed"},
    {CheckStatus::L4Tout, "L4TOUT", "Layer4 timeout"},
    {CheckStatus::L4Con, "L4CON", "Layer4 connection problem"},
    {CheckStatus::L6Ok, "L6OK", "Layer6 check passed"},
    {CheckStatus::L6Tout, "L6TOUT", "Layer6 timeout"},
    {CheckStatus::L6Rsp, "L6RSP", "Layer6 invalid response"},
    {CheckStatus::L7Tout, "L7TOUT", "Layer7 timeout"},
    {CheckStatus::L7Rsp, "L7RSP", "Layer7 invalid response"},
    {CheckStatus::L7Ok, "L7OK", "Layer7 check passed"},
    {CheckStatus::L7OkC, "L7OKC", "Layer7 check conditionally passed"},
    {CheckStatus::L7Sts, "L7STS", "Layer7 wrong status"},
}};

const Names& names_of(CheckStatus s) {
  for (const auto& n : kNames)
    if (n.status == s) return n;
  return kNames[0];
}

}  // namespace

std::string_view status_name(CheckStatus s) { return names_of(s).name; }
std::string_view status_desc(CheckStatus s) { return names_of(s).desc; }

bool status_has_code(CheckStatus s) {
  return s == CheckStatus::L7Ok || s == CheckStatus::L7OkC || s == CheckStatus::L7Sts;
}

}  // namespace herd::health
