// membership/coordinate.cpp — see coordinate.h.
#include "membership/coordinate.h"

#include <algorithm>
#include <cmath>

namespace herd::membership {

namespace {

constexpr double kZeroThreshold = 1.0e-6;
constexpr auto kMaxRtt = std::chrono::seconds(10);

double magnitude(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x * x;
  return std::sqrt(sum);
}

std::vector<double> diff(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> out(a.size());
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) out[i] = a[i] - b[i];
  return out;
}

double raw_distance(const serf::Coordinate& a, const serf::Coordinate& b) {
  return magnitude(diff(a.vec, b.vec)) + a.height + b.height;
}

}  // namespace

double coordinate_distance(const serf::Coordinate& a, const serf::Coordinate& b) {
  const double dist = raw_distance(a, b);
  const double adjusted = dist + a.adjustment + b.adjustment;
  return adjusted > 0.0 ? adjusted : dist;
}

bool coordinate_valid(const serf::Coordinate& c, std::size_t dimensionality) {
  if (c.vec.size() != dimensionality) return false;
  for (double x : c.vec)
    if (!std::isfinite(x)) return false;
  return std::isfinite(c.error) && std::isfinite(c.adjustment) && std::isfinite(c.height);
}

Coordinates::Coordinates(std::string self, uint64_t seed, VivaldiConfig cfg)
    : self_name_(std::move(self)),
      cfg_(cfg),
      rng_(seed),
      adjustment_samples_(cfg.adjustment_window_size, 0.0) {
  coord_ = fresh();
  origin_ = fresh();
}

bool Coordinates::restore(const serf::Coordinate& c) {
  if (!coordinate_valid(c, cfg_.dimensionality) || c.error <= 0 || c.height < cfg_.height_min)
    return false;
  coord_ = c;
  cache_[self_name_] = c;  // RPC get-coordinate answers it, as the predecessor did
  return true;
}

serf::Coordinate Coordinates::fresh() const {
  serf::Coordinate c;
  c.vec.assign(cfg_.dimensionality, 0.0);
  c.error = cfg_.vivaldi_error_max;
  c.adjustment = 0.0;
  c.height = cfg_.height_min;
  return c;
}

serf::Coordinate Coordinates::apply_force(const serf::Coordinate& c, double force,
                                          const serf::Coordinate& other) {
  serf::Coordinate ret = c;
  std::vector<double> unit = diff(c.vec, other.vec);
  double mag = magnitude(unit);
  if (mag > kZeroThreshold) {
    for (double& x : unit) x /= mag;
  } else {
    // On top of each other: a random direction (serf's unitVectorAt).
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (double& x : unit) x = u(rng_) - 0.5;
    const double m = magnitude(unit);
    if (m > kZeroThreshold) {
      for (double& x : unit) x /= m;
    } else {
      std::fill(unit.begin(), unit.end(), 0.0);
      if (!unit.empty()) unit[0] = 1.0;
    }
    mag = 0.0;
  }
  for (std::size_t i = 0; i < ret.vec.size() && i < unit.size(); ++i) ret.vec[i] += unit[i] * force;
  if (mag > kZeroThreshold) {
    ret.height = (ret.height + other.height) * force / mag + ret.height;
    ret.height = std::max(ret.height, cfg_.height_min);
  }
  return ret;
}

double Coordinates::latency_filter(const std::string& node, double rtt) {
  auto& samples = latency_samples_[node];
  samples.push_back(rtt);
  if (samples.size() > cfg_.latency_filter_size) samples.erase(samples.begin());
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  return sorted[sorted.size() / 2];
}

std::string Coordinates::ping_complete(const std::string& node, std::chrono::nanoseconds rtt,
                                       ByteView payload) {
  if (payload.empty()) return "no coordinate in the ack";
  if (payload[0] != serf::kPingVersion) return "unsupported ping version";
  auto other = serf::decode_ping_payload(payload);
  if (!other) return "undecodable coordinate: " + other.error().detail;
  if (!coordinate_valid(*other, cfg_.dimensionality)) return "invalid coordinate";
  if (rtt.count() < 0 || rtt > kMaxRtt) return "round trip time out of range";

  const double rtt_s = latency_filter(node, std::chrono::duration<double>(rtt).count());
  // Vivaldi step.
  {
    const double dist = coordinate_distance(coord_, *other);
    const double r = std::max(rtt_s, kZeroThreshold);
    const double wrongness = std::abs(dist - r) / r;
    const double total_error = std::max(coord_.error + other->error, kZeroThreshold);
    const double weight = coord_.error / total_error;
    coord_.error =
        cfg_.vivaldi_ce * weight * wrongness + coord_.error * (1.0 - cfg_.vivaldi_ce * weight);
    coord_.error = std::min(coord_.error, cfg_.vivaldi_error_max);
    const double force = cfg_.vivaldi_cc * weight * (r - dist);
    coord_ = apply_force(coord_, force, *other);
  }
  // Adjustment: the mean error of the raw distance over the last samples.
  if (cfg_.adjustment_window_size > 0) {
    adjustment_samples_[adjustment_index_] = rtt_s - raw_distance(coord_, *other);
    adjustment_index_ = (adjustment_index_ + 1) % cfg_.adjustment_window_size;
    double sum = 0;
    for (double s : adjustment_samples_) sum += s;
    coord_.adjustment = sum / (2.0 * static_cast<double>(cfg_.adjustment_window_size));
  }
  // Gravity towards the origin.
  {
    const double dist = coordinate_distance(origin_, coord_);
    const double force = -1.0 * std::pow(dist / cfg_.gravity_rho, 2.0);
    coord_ = apply_force(coord_, force, origin_);
  }
  if (!coordinate_valid(coord_, cfg_.dimensionality)) {
    ++resets_;
    coord_ = fresh();
  }
  ++updates_;
  cache_[node] = *other;
  cache_[self_name_] = coord_;
  return "";
}

std::optional<serf::Coordinate> Coordinates::cached(const std::string& node) const {
  auto it = cache_.find(node);
  if (it == cache_.end()) return std::nullopt;
  return it->second;
}

void Coordinates::forget(const std::string& node) {
  latency_samples_.erase(node);
  cache_.erase(node);
}

}  // namespace herd::membership
