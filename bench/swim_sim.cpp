// bench/swim_sim.cpp — herd_swim_sim: the SWIM/Lifeguard member
// (membership/swim.h) at scale, on the simulated network of
// membership/swim_sim.h. For each cluster size and loss rate it measures, in
// simulated time: bytes and packets per member per second and the false
// suspicions and false deaths per member-hour of a steady cluster; how long
// a new member's join (push/pull with one seed) takes to reach 99.99 % of
// the members and all of them; how long a crash takes to be declared dead
// by 99.99 % and by all. Results as a table, and as JSON with --json.
// docs/membership.md has the figures and the command.
//
// Thread rules: single-threaded.
#include "membership/swim_sim.h"

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using herd::membership::swim::Duration;
using herd::membership::swim::SimOptions;
using herd::membership::swim::Simulation;
using herd::membership::swim::State;
using herd::membership::swim::TimePoint;

double secs(Duration d) { return std::chrono::duration<double>(d).count(); }

struct Row {
  std::size_t n = 0;
  double loss = 0;
  bool tcp_pings = true;
  double steady_s = 0;
  double udp_bytes = 0, udp_packets = 0, push_pull_bytes = 0;  // per member per second
  double suspicions = 0, deaths = 0, false_dead_seen = 0;      // per member-hour
  uint64_t suspicions_total = 0, deaths_total = 0;
  double join_9999 = -1, join_all = -1;  // seconds after the join (-1: not within the limit)
  double kill_first = -1, kill_9999 = -1, kill_all = -1;
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

Row run(SimOptions opt, double steady_s) {
  const auto wall0 = std::chrono::steady_clock::now();
  Row r;
  r.n = opt.members;
  r.loss = opt.loss;
  r.tcp_pings = opt.tcp_pings;
  r.steady_s = steady_s;
  Simulation sim(opt);
  const std::size_t n = opt.members;
  const std::size_t target = n - n / 10000;  // 99.99 % of n, rounded up

  // What the members see, reported by Simulation::on_change.
  std::size_t watched = SIZE_MAX;  // the member being joined or killed
  State watched_state = State::kAlive;
  std::vector<bool> seen;
  std::size_t seen_count = 0;
  TimePoint first_seen{};
  uint64_t false_dead = 0;
  sim.on_change([&](const Simulation::Change& c) {
    const bool dead = c.subject.state == State::kDead || c.subject.state == State::kLeft;
    if (dead && c.subject.name != (watched < sim.size() ? sim.name(watched) : "")) ++false_dead;
    if (watched < sim.size() && c.subject.name == sim.name(watched) &&
        (c.subject.state == watched_state) && c.observer != watched && !seen[c.observer]) {
      seen[c.observer] = true;
      if (seen_count++ == 0) first_seen = c.at;
    }
  });

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

  // A join through member 0.
  const std::size_t joiner = sim.add_member();
  seen.assign(sim.size(), false);
  seen_count = 0;
  watched = joiner;
  watched_state = State::kAlive;
  const TimePoint join_at = sim.now();
  sim.join(joiner, 0);
  if (sim.run_until(join_at + std::chrono::seconds(120), [&] { return seen_count >= target; }))
    r.join_9999 = secs(sim.now() - join_at);
  if (sim.run_until(join_at + std::chrono::seconds(120), [&] { return seen_count >= n; }))
    r.join_all = secs(sim.now() - join_at);

  // A crash of a member other than the seed and the joiner.
  const std::size_t victim = n / 2;
  seen.assign(sim.size(), false);
  seen_count = 0;
  watched = victim;
  watched_state = State::kDead;
  sim.kill(victim);
  const TimePoint kill_at = sim.now();
  // n + 1 members, the victim aside: n observers.
  if (sim.run_until(kill_at + std::chrono::seconds(300), [&] { return seen_count >= target; })) {
    r.kill_9999 = secs(sim.now() - kill_at);
    r.kill_first = secs(first_seen - kill_at);
  }
  if (sim.run_until(kill_at + std::chrono::seconds(300), [&] { return seen_count >= n; }))
    r.kill_all = secs(sim.now() - kill_at);

  r.wall_s = secs(std::chrono::steady_clock::now() - wall0);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  r.rss_mb = ru.ru_maxrss / 1024;
  return r;
}

void usage() {
  std::fprintf(stderr,
               "usage: herd_swim_sim [--members N[,N...]] [--loss P[,P...]] [--steady SECONDS]\n"
               "                     [--seed S] [--latency-us MIN,MAX] [--no-tcp-pings]\n"
               "                     [--scale-push-pull] [--json FILE]\n"
               "defaults: --members 1000 --loss 0,0.01,0.05 --steady 300 --seed 1 "
               "--latency-us 500,2000\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes{1000};
  std::vector<double> losses{0, 0.01, 0.05};
  double steady = 300;
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
      "TCP fallback pings %s, push/pull %s, seed %llu, steady window %.0f s\n",
      secs(base.min_latency) * 1e3, secs(base.max_latency) * 1e3, base.tcp_pings ? "on" : "off",
      base.scale_push_pull ? "memberlist-scaled" : "every 30 s (agent)",
      static_cast<unsigned long long>(base.seed), steady);
  std::printf("%6s %5s | %9s %9s | %8s %9s %9s | %10s %10s | %8s %7s %9s | %7s %6s\n", "N", "loss",
              "join99.99", "join-all", "kill-1st", "kill99.99", "kill-all", "susp/m-h", "dead/m-h",
              "udpB/m-s", "pkt/m-s", "ppB/m-s", "wall-s", "rssMB");
  std::vector<Row> rows;
  for (std::size_t n : sizes) {
    for (double loss : losses) {
      SimOptions opt = base;
      opt.members = n;
      opt.loss = loss;
      const Row r = run(opt, steady);
      rows.push_back(r);
      std::printf(
          "%6zu %4.0f%% | %8.2fs %8.2fs | %7.2fs %8.2fs %8.2fs | %10.4f %10.4f | %8.0f %7.2f "
          "%9.0f | %7.1f %6ld\n",
          r.n, r.loss * 100, r.join_9999, r.join_all, r.kill_first, r.kill_9999, r.kill_all,
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
          "\"steady_s\": %g, \"join_9999_s\": %g, \"join_all_s\": %g, \"kill_first_dead_s\": %g, "
          "\"kill_9999_s\": %g, \"kill_all_s\": %g, \"suspicions_total\": %llu, "
          "\"suspicions_per_member_hour\": %g, \"deaths_total\": %llu, "
          "\"deaths_per_member_hour\": %g, \"false_dead_seen_per_member_hour\": %g, "
          "\"udp_bytes_per_member_s\": %g, \"udp_packets_per_member_s\": %g, "
          "\"push_pull_bytes_per_member_s\": %g, \"wall_s\": %g, \"max_rss_mb\": %ld}%s\n",
          r.n, r.loss, r.tcp_pings ? "true" : "false", static_cast<unsigned long long>(base.seed),
          r.steady_s, r.join_9999, r.join_all, r.kill_first, r.kill_9999, r.kill_all,
          static_cast<unsigned long long>(r.suspicions_total), r.suspicions,
          static_cast<unsigned long long>(r.deaths_total), r.deaths, r.false_dead_seen, r.udp_bytes,
          r.udp_packets, r.push_pull_bytes, r.wall_s, r.rss_mb, i + 1 < rows.size() ? "," : "");
    }
    std::fprintf(f, "]\n");
    std::fclose(f);
  }
  return 0;
}
