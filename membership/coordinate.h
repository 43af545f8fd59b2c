// membership/coordinate.h — Serf's Vivaldi network coordinates (serf's
// coordinate package, default config): our own coordinate, updated from the
// RTT of each direct probe and the coordinate the probed member put in its
// ack, plus the cache of members' last coordinates that RPC
// `get-coordinate` (`serf rtt`) reads. No sockets, no clock: the RTT is
// passed in; randomness (a random direction when two coordinates coincide)
// comes from a seeded generator.
//
// Wire: a Serf ack payload is 0x01 (ping version) + msgpack {Adjustment,
// Error, Height, Vec[8]} (serf_msgs.h encode_ping_payload). See
// docs/serf-protocol.md §9.8.
//
// Thread rules: not thread-safe; the gossip/control thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "membership/serf_msgs.h"

namespace herd::membership {

// serf/coordinate DefaultConfig.
struct VivaldiConfig {
  std::size_t dimensionality = 8;
  double vivaldi_error_max = 1.5;
  double vivaldi_ce = 0.25;
  double vivaldi_cc = 0.25;
  std::size_t adjustment_window_size = 20;
  double height_min = 10.0e-6;
  std::size_t latency_filter_size = 3;
  double gravity_rho = 150.0;
};

// Estimated RTT between two coordinates in seconds (serf's DistanceTo):
// Euclidean distance plus both heights, plus both adjustments when that
// stays positive.
double coordinate_distance(const serf::Coordinate& a, const serf::Coordinate& b);
// Every component finite and the dimensions as configured.
bool coordinate_valid(const serf::Coordinate& c, std::size_t dimensionality);

class Coordinates {
 public:
  Coordinates(std::string self, uint64_t seed, VivaldiConfig cfg = {});

  // Our coordinate now.
  const serf::Coordinate& self() const { return coord_; }
  // What we put in our acks: 0x01 + our coordinate.
  Bytes ack_payload() const { return serf::encode_ping_payload(coord_); }
  // A direct probe of `node` was acked after `rtt` with `payload`: update
  // our coordinate and cache both. Returns "" or why the sample was ignored
  // (no payload, other version, undecodable, invalid, RTT out of range).
  std::string ping_complete(const std::string& node, std::chrono::nanoseconds rtt,
                            ByteView payload);
  // The last coordinate cached for `node` (ourselves after our first
  // sample), as RPC get-coordinate answers.
  std::optional<serf::Coordinate> cached(const std::string& node) const;
  // A member was reaped: forget its samples and coordinate.
  void forget(const std::string& node);
  // A reload (app/handover.h): carry on from the predecessor's coordinate.
  // False (nothing changed) when `c` has another dimensionality or is not
  // valid.
  bool restore(const serf::Coordinate& c);

  uint64_t updates() const { return updates_; }
  uint64_t resets() const { return resets_; }

 private:
  serf::Coordinate fresh() const;
  serf::Coordinate apply_force(const serf::Coordinate& c, double force,
                               const serf::Coordinate& other);
  double latency_filter(const std::string& node, double rtt);

  std::string self_name_;
  VivaldiConfig cfg_;
  std::mt19937_64 rng_;
  serf::Coordinate coord_, origin_;
  std::vector<double> adjustment_samples_;
  std::size_t adjustment_index_ = 0;
  std::map<std::string, std::vector<double>> latency_samples_;
  std::map<std::string, serf::Coordinate> cache_;
  uint64_t updates_ = 0, resets_ = 0;
};

}  // namespace herd::membership
