// bench/swim_sim.cpp — herd_swim_sim: the SWIM/Lifeguard member
// (membership/swim.h) at scale, on the simulated network of
// membership/swim_sim.h. For each cluster size and loss rate it measures, in
// simulated time: bytes and packets per member per second and the false
// suspicions and false deaths per member-hour of a steady cluster; then, in
// a few trials, how long a new member's join (push/pull with one random
// seed) takes to reach 99.99 % of the members and all of them, and how long
// a random member's crash takes to be declared dead by 99.99 % and by all.
// Results as a table (median and worst trial), and as JSON with --json.
// docs/membership.md has the figures and the command.
//
// Thread rules: single-threaded.
#include "membership/swim_sim.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

using herd::membership::swim::Duration;
using herd::membership::swim::SimOptions;
using herd::membership::swim::Simulation;
using herd::membership::swim::State;
using herd::membership::swim::TimePoint;

double secs(Duration d) { return std::chrono::duration<double>(d).count(); }

// Seconds from a join or crash until the first, 99.99 % and all of the
// other live members had it in their tables, one entry per trial (-1: not
// within the limit).
struct Spread {
  std::vector<double> first, p9999, all;
};

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}
double worst(const std::vector<double>& v) {
  if (v.empty() || std::find(v.begin(), v.end(), -1.0) != v.end()) return -1;
  return *std::max_element(v.begin(), v.end());
}

struct Row {
  std::size_t n = 0;
  double loss = 0;
  bool tcp_pings = true;
  double steady_s = 0;
  double udp_bytes = 0, udp_packets = 0, push_pull_bytes = 0;  // per member per second
  double suspicions = 0, deaths = 0, false_dead_seen = 0;      // per member-hour
  uint64_t suspicions_total = 0, deaths_total = 0;
  Spread join, kill;
  double wall_s = 0;
  long rss_mb = 0;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Row run(SimOptions opt, double steady_s, int trials) {
  const auto wall0 = std::chrono::steady_clock::now();
  Row r;
  r.n = opt.members;
  r.loss = opt.loss;
  r.tcp_pings = opt.tcp_pings;
  r.steady_s = steady_s;
  Simulation sim(opt);
  const std::size_t n = opt.members;
  std::mt19937_64 pick(opt.seed + 1);

  // What the members see, reported by Simulation::on_change.
  std::size_t watched = SIZE_MAX;  // the member being joined or killed
  State watched_state = State::kAlive;
  std::vector<bool> seen;
  std::size_t seen_count = 0;
  TimePoint first_seen{};
  uint64_t false_dead = 0;
  sim.on_change([&](const Simulation::Change& c) {
    const bool dead = c.subject.state == State::kDead || c.subject.state == State::kLeft;
    const bool about_watched = watched < sim.size() && c.subject.name == sim.name(watched);
    if (dead && !about_watched) ++false_dead;
    if (about_watched && c.subject.state == watched_state && c.observer != watched &&
        !seen[c.observer]) {
      seen[c.observer] = true;
      if (seen_count++ == 0) first_seen = c.at;
    }
  });
  // Does `event` (the join or the crash of `subject`), then runs until
  // every other live member has seen `subject` reach `st` (or `limit`
  // passed); one sample into `out`.
  auto spread = [&](std::size_t subject, State st, const std::function<void()>& event,
                    Duration limit, Spread& out) {
    seen.assign(sim.size(), false);
    seen_count = 0;
    watched = subject;
    watched_state = st;
    event();
    std::size_t observers = 0;
    for (std::size_t i = 0; i < sim.size(); ++i) observers += i != subject && !sim.killed(i);
    const std::size_t target = observers - observers / 10000;  // 99.99 %, rounded up
    const TimePoint at = sim.now();
    const bool reached = sim.run_until(at + limit, [&] { return seen_count >= target; });
    out.first.push_back(seen_count ? secs(first_seen - at) : -1);
    out.p9999.push_back(reached ? secs(sim.now() - at) : -1);
    const bool all = sim.run_until(at + limit, [&] { return seen_count >= observers; });
    out.all.push_back(all ? secs(sim.now() - at) : -1);
  };
  auto random_live = [&](std::size_t except) {
    for (;;) {
      const std::size_t i = std::uniform_int_distribution<std::size_t>(0, sim.size() - 1)(pick);
      if (i != except && !sim.killed(i)) return i;
    }
  };

  sim.run_for(std::chrono::seconds(5));  // every member has started and probed

  // Steady state: traffic and false positives.
  const auto t0 = sim.totals();
  const uint64_t false_dead0 = false_dead;
  sim.run_for(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(steady_s)));
  const auto t1 = sim.totals();
  const double member_s = static_cast<double>(n) * steady_s;
  const double member_h = member_s / 3600.0;
  r.udp_bytes = static_cast<double>(t1.udp_bytes - t0.udp_bytes) / member_s;
  r.udp_packets = static_cast<double>(t1.udp_packets - t0.udp_packets) / member_s;
  r.push_pull_bytes = static_cast<double>(t1.push_pull_bytes - t0.push_pull_bytes) / member_s;
  r.suspicions_total = t1.suspicions - t0.suspicions;
  r.deaths_total = t1.deaths_declared - t0.deaths_declared;
  r.suspicions = static_cast<double>(r.suspicions_total) / member_h;
  r.deaths = static_cast<double>(r.deaths_total) / member_h;
  r.false_dead_seen = static_cast<double>(false_dead - false_dead0) / member_h;

  for (int t = 0; t < trials; ++t) {
    // A new member joins through a random live one.
    const std::size_t joiner = sim.add_member();
    spread(
        joiner, State::kAlive, [&] { sim.join(joiner, random_live(joiner)); },
        std::chrono::seconds(120), r.join);
    // A random live member other than the new one crashes.
    const std::size_t victim = random_live(joiner);
    spread(
        victim, State::kDead, [&] { sim.kill(victim); }, std::chrono::seconds(300), r.kill);
  }

  r.wall_s = secs(std::chrono::steady_clock::now() - wall0);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  r.rss_mb = ru.ru_maxrss / 1024;
  return r;
}

std::string json_list(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.3f", i ? ", " : "", v[i]);
    s += buf;
  }
  return s + "]";
}

void usage() {
  std::fprintf(stderr,
               "usage: herd_swim_sim [--members N[,N...]] [--loss P[,P...]] [--steady SECONDS]\n"
               "                     [--seed S] [--latency-us MIN,MAX] [--no-tcp-pings]\n"
               "                     [--scale-push-pull] [--trials K] [--json FILE]\n"
               "defaults: --members 1000 --loss 0,0.01,0.05 --steady 300 --seed 1 "
               "--latency-us 500,2000 --trials 5\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes{1000};
  std::vector<double> losses{0, 0.01, 0.05};
  double steady = 300;
  int trials = 5;
  SimOptions base;
  std::string json;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--members" && has_value) {
      sizes.clear();
      for (const auto& s : split(argv[++i])) sizes.push_back(std::stoul(s));
    } else if (a == "--loss" && has_value) {
      losses.clear();
      for (const auto& s : split(argv[++i])) losses.push_back(std::stod(s));
    } else if (a == "--steady" && has_value) {
      steady = std::stod(argv[++i]);
    } else if (a == "--trials" && has_value) {
      trials = std::max(1, std::stoi(argv[++i]));
    } else if (a == "--seed" && has_value) {
      base.seed = std::stoull(argv[++i]);
    } else if (a == "--latency-us" && has_value) {
      const auto v = split(argv[++i]);
      if (v.size() != 2) {
        usage();
        return 2;
      }
      base.min_latency = std::chrono::microseconds(std::stol(v[0]));
      base.max_latency = std::chrono::microseconds(std::stol(v[1]));
    } else if (a == "--no-tcp-pings") {
      base.tcp_pings = false;
    } else if (a == "--scale-push-pull") {
      base.scale_push_pull = true;
    } else if (a == "--json" && has_value) {
      json = argv[++i];
    } else {
      usage();
      return 2;
    }
  }
  std::printf(
      "SWIM/Lifeguard (membership/swim.h), memberlist LAN timing, latency %.1f-%.1f ms, "
      "TCP fallback pings %s, push/pull %s, seed %llu, steady window %.0f s, %d join and %d "
      "crash trials (median/worst)\n",
      secs(base.min_latency) * 1e3, secs(base.max_latency) * 1e3, base.tcp_pings ? "on" : "off",
      base.scale_push_pull ? "memberlist-scaled" : "every 30 s (agent)",
      static_cast<unsigned long long>(base.seed), steady, trials, trials);
  std::printf("%6s %5s | %13s %8s | %8s %13s %8s | %9s %9s | %8s %7s %8s | %7s %6s\n", "N", "loss",
              "join99.99", "join-all", "kill-1st", "kill99.99", "kill-all", "susp/m-h", "dead/m-h",
              "udpB/m-s", "pkt/m-s", "ppB/m-s", "wall-s", "rssMB");
  std::vector<Row> rows;
  for (std::size_t n : sizes) {
    for (double loss : losses) {
      SimOptions opt = base;
      opt.members = n;
      opt.loss = loss;
      const Row r = run(opt, steady, trials);
      rows.push_back(r);
      std::printf(
          "%6zu %4.0f%% | %6.2f/%5.2fs %7.2fs | %7.2fs %6.2f/%5.2fs %7.2fs | %9.3f %9.3f | %8.0f "
          "%7.2f %8.0f | %7.1f %6ld\n",
          r.n, r.loss * 100, median(r.join.p9999), worst(r.join.p9999), worst(r.join.all),
          median(r.kill.first), median(r.kill.p9999), worst(r.kill.p9999), worst(r.kill.all),
          r.suspicions, r.deaths, r.udp_bytes, r.udp_packets, r.push_pull_bytes, r.wall_s,
          r.rss_mb);
      std::fflush(stdout);
    }
  }
  if (!json.empty()) {
    FILE* f = std::fopen(json.c_str(), "w");
    if (!f) {
      std::perror(json.c_str());
      return 1;
    }
    std::fprintf(f, "[\n");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::fprintf(
          f,
          "  {\"members\": %zu, \"loss\": %g, \"tcp_pings\": %s, \"seed\": %llu, "
          "\"steady_s\": %g, \"join_9999_s\": %s, \"join_all_s\": %s, "
          "\"kill_first_dead_s\": %s, \"kill_9999_s\": %s, \"kill_all_s\": %s, "
          "\"suspicions_total\": %llu, \"suspicions_per_member_hour\": %g, "
          "\"deaths_total\": %llu, \"deaths_per_member_hour\": %g, "
          "\"false_dead_seen_per_member_hour\": %g, \"udp_bytes_per_member_s\": %g, "
          "\"udp_packets_per_member_s\": %g, \"push_pull_bytes_per_member_s\": %g, "
          "\"wall_s\": %g, \"max_rss_mb\": %ld}%s\n",
          r.n, r.loss, r.tcp_pings ? "true" : "false", static_cast<unsigned long long>(base.seed),
          r.steady_s, json_list(r.join.p9999).c_str(), json_list(r.join.all).c_str(),
          json_list(r.kill.first).c_str(), json_list(r.kill.p9999).c_str(),
          json_list(r.kill.all).c_str(), static_cast<unsigned long long>(r.suspicions_total),
          r.suspicions, static_cast<unsigned long long>(r.deaths_total), r.deaths,
          r.false_dead_seen, r.udp_bytes, r.udp_packets, r.push_pull_bytes, r.wall_s, r.rss_mb,
          i + 1 < rows.size() ? "," : "");
    }
    std::fprintf(f, "]\n");
    std::fclose(f);
  }
  return 0;
}
