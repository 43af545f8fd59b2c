// membership/settings.cpp — YAML and flag parsing for MembershipSettings.
#include "membership/settings.h"

#include <arpa/inet.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <fstream>
#include <regex>
#include <sstream>

#include "config/units.h"
#include "membership/handlers.h"
#include "membership/keyring.h"
#include "membership/snapshot.h"

namespace herd::membership {
namespace {

bool parse_uint(std::string_view s, long long lo, long long hi, long long& out) {
  if (s.empty()) return false;
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

bool is_numeric_ip(const std::string& s) {
  in_addr a4{};
  in6_addr a6{};
  return inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

std::string validate_tag_size(const std::map<std::string, std::string>& tags) {
  // memberlist's Meta limit is 512 bytes: 0xff + a msgpack map (the
  // per-entry overhead is at most 3+3 bytes for these lengths).
  std::size_t n = 2;
  for (const auto& [k, v] : tags) n += k.size() + v.size() + 6;
  if (n > 512) return "tags are too large: the encoded set must fit in 512 bytes";
  return "";
}

std::string check_regex(const std::string& re) {
  try {
    std::regex r("^" + re + "$");
  } catch (const std::regex_error& e) {
    return "invalid regular expression '" + re + "'";
  }
  return "";
}

std::string check_encrypt(const std::string& key) {
  auto raw = base64_decode(key);
  if (!raw) return "not valid base64";
  if (raw->size() != 16 && raw->size() != 24 && raw->size() != 32)
    return "key must be 16, 24 or 32 bytes once decoded (got " + std::to_string(raw->size()) + ")";
  return "";
}

// ---- YAML -------------------------------------------------------------------

struct Yaml {
  const std::string& file;
  std::vector<std::string>& errors;
  bool ok = true;

  void error(const YAML::Node& n, const std::string& key, const std::string& msg) {
    ok = false;
    std::string where = file;
    if (n.IsDefined() && n.Mark().line >= 0) where += ":" + std::to_string(n.Mark().line + 1);
    errors.push_back(where + ": " + key + ": " + msg);
  }
  bool scalar(const YAML::Node& n, const std::string& key, std::string& out) {
    if (!n.IsScalar()) {
      error(n, key, "expected a single value");
      return false;
    }
    out = n.Scalar();
    return true;
  }
  bool string_list(const YAML::Node& n, const std::string& key, std::vector<std::string>& out) {
    if (n.IsScalar()) {
      out.push_back(n.Scalar());
      return true;
    }
    if (!n.IsSequence()) {
      error(n, key, "expected a list of strings");
      return false;
    }
    std::size_t i = 0;
    for (const auto& e : n) {
      std::string v;
      if (!scalar(e, key + "[" + std::to_string(i) + "]", v)) return false;
      out.push_back(v);
      ++i;
    }
    return true;
  }
  bool string_map(const YAML::Node& n, const std::string& key,
                  std::map<std::string, std::string>& out) {
    if (n.IsNull()) return true;
    if (!n.IsMap()) {
      error(n, key, "expected a map of key: value");
      return false;
    }
    for (const auto& kv : n) {
      std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (k.empty()) {
        error(kv.first, key, "keys must be non-empty strings");
        return false;
      }
      std::string v;
      if (kv.second.IsNull())
        v = "";
      else if (!scalar(kv.second, key + "." + k, v))
        return false;
      out[k] = v;
    }
    return true;
  }
};

bool apply_address(Yaml& y, const YAML::Node& n, const std::string& key, uint16_t default_port,
                   bool numeric, std::string& ip, uint16_t& port) {
  std::string text;
  if (!y.scalar(n, key, text)) return false;
  std::string host;
  uint16_t p = 0;
  if (!split_host_port(text, default_port, host, p)) {
    y.error(n, key, "expected ip:port, got '" + text + "'");
    return false;
  }
  if (numeric && !is_numeric_ip(host)) {
    y.error(n, key, "expected a numeric IP address, got '" + host + "'");
    return false;
  }
  ip = host;
  port = p;
  return true;
}

void parse_pool(Yaml& y, const YAML::Node& n, const std::string& key, PoolRule& rule) {
  if (!n.IsMap()) {
    y.error(n, key, "expected a map with backend, match, port or port_tag, server");
    return;
  }
  rule.where = {y.file, n.Mark().line + 1};
  bool have_port = false;
  for (const auto& kv : n) {
    std::string k = kv.first.Scalar();
    std::string sub = key + "." + k;
    const YAML::Node& v = kv.second;
    if (k == "backend") {
      y.scalar(v, sub, rule.backend);
    } else if (k == "match") {
      if (y.string_map(v, sub, rule.match))
        for (const auto& [tk, tv] : rule.match)
          if (auto e = check_regex(tv); !e.empty()) y.error(v, sub + "." + tk, e);
    } else if (k == "port") {
      std::string s;
      long long p = 0;
      if (y.scalar(v, sub, s)) {
        if (!parse_uint(s, 1, 65535, p))
          y.error(v, sub, "expected a port 1..65535, got '" + s + "'");
        else
          rule.port = static_cast<uint16_t>(p);
      }
      have_port = true;
    } else if (k == "port_tag") {
      if (y.scalar(v, sub, rule.port_tag) && rule.port_tag.empty())
        y.error(v, sub, "must name a tag");
      have_port = true;
    } else if (k == "server") {
      if (y.scalar(v, sub, rule.server)) {
        if (auto e = parse_server_options(rule.server, rule.options); !e.empty())
          y.error(v, sub, e);
      }
    } else {
      y.error(kv.first, sub, "unknown key (expected backend, match, port, port_tag, server)");
    }
  }
  if (rule.backend.empty())
    y.error(n, key + ".backend", "missing: name a backend of the haproxy.cfg");
  if (!have_port) y.error(n, key + ".port", "missing: give port or port_tag");
  if (rule.port != 0 && !rule.port_tag.empty())
    y.error(n, key + ".port_tag", "give either port or port_tag, not both");
}

bool set_bool(Yaml& y, const YAML::Node& n, const std::string& key, bool& out) {
  std::string s;
  if (!y.scalar(n, key, s)) return false;
  if (s == "true" || s == "yes" || s == "on")
    out = true;
  else if (s == "false" || s == "no" || s == "off")
    out = false;
  else {
    y.error(n, key, "expected true or false, got '" + s + "'");
    return false;
  }
  return true;
}

// ---- flags ------------------------------------------------------------------

// The duration settings by YAML key or flag name ('_' or '-').
std::chrono::milliseconds* duration_setting(MembershipSettings& s, std::string_view name) {
  std::string n(name);
  std::replace(n.begin(), n.end(), '-', '_');
  if (n == "retry_interval") return &s.retry_interval;
  if (n == "reconnect_interval") return &s.reconnect_interval;
  if (n == "reconnect_timeout") return &s.reconnect_timeout;
  if (n == "tombstone_timeout") return &s.tombstone_timeout;
  if (n == "coalesce_period") return &s.coalesce_period;
  if (n == "quiescent_period") return &s.quiescent_period;
  return nullptr;
}

enum class FlagKind { Value, Bool };
struct FlagDef {
  std::string_view name;
  FlagKind kind;
};
constexpr FlagDef kFlags[] = {
    {"node", FlagKind::Value},
    {"bind", FlagKind::Value},
    {"advertise", FlagKind::Value},
    {"rpc-addr", FlagKind::Value},
    {"rpc-auth", FlagKind::Value},
    {"join", FlagKind::Value},
    {"retry-join", FlagKind::Value},
    {"retry-interval", FlagKind::Value},
    {"retry-max", FlagKind::Value},
    {"replay", FlagKind::Bool},
    {"tag", FlagKind::Value},
    {"encrypt", FlagKind::Value},
    {"keyring-file", FlagKind::Value},
    {"event-handler", FlagKind::Value},
    {"reconnect-interval", FlagKind::Value},
    {"reconnect-timeout", FlagKind::Value},
    {"tombstone-timeout", FlagKind::Value},
    {"snapshot", FlagKind::Value},
    {"rejoin", FlagKind::Bool},
    {"tags-file", FlagKind::Value},
    {"profile", FlagKind::Value},
};

// Splits "-name=value" / "--name" into name and optional value.
bool split_flag(std::string_view arg, std::string_view& name,
                std::optional<std::string_view>& value) {
  if (arg.size() < 2 || arg[0] != '-') return false;
  arg.remove_prefix(arg[1] == '-' ? 2 : 1);
  auto eq = arg.find('=');
  if (eq != std::string_view::npos) {
    value = arg.substr(eq + 1);
    name = arg.substr(0, eq);
  } else {
    name = arg;
  }
  return !name.empty();
}

const FlagDef* find_flag(std::string_view name) {
  for (const auto& f : kFlags)
    if (f.name == name) return &f;
  return nullptr;
}

std::string apply_flag(std::string_view name, const std::string& v, MembershipSettings& s) {
  std::string host;
  uint16_t port = 0;
  if (name == "node") {
    if (v.empty()) return "must not be empty";
    s.node = v;
  } else if (name == "bind") {
    if (!split_host_port(v, 7946, host, port) || !is_numeric_ip(host))
      return "expected ip[:port], got '" + v + "'";
    s.bind_ip = host;
    s.bind_port = port;
  } else if (name == "advertise") {
    if (!split_host_port(v, 0, host, port) || !is_numeric_ip(host))
      return "expected ip[:port], got '" + v + "'";
    s.advertise_ip = host;
    s.advertise_port = port;
  } else if (name == "rpc-addr") {
    if (!split_host_port(v, 7373, host, port)) return "expected ip:port, got '" + v + "'";
    s.rpc_ip = host;
    s.rpc_port = port;
    s.rpc_enabled = true;
  } else if (name == "rpc-auth") {
    s.rpc_auth = v;
  } else if (name == "join" || name == "retry-join") {
    if (v.empty()) return "must not be empty";
    s.join.push_back(v);
  } else if (auto* d = duration_setting(s, name)) {
    std::chrono::milliseconds v2{};
    if (!parse_go_duration(v, v2) || v2.count() <= 0) return "expected a duration such as 30s";
    *d = v2;
  } else if (name == "retry-max") {
    long long n = 0;
    if (!parse_uint(v, 0, INT_MAX, n)) return "expected a count >= 0";
    s.retry_max = static_cast<int>(n);
  } else if (name == "replay") {
    if (v == "true" || v == "1" || v.empty())
      s.replay = true;
    else if (v == "false" || v == "0")
      s.replay = false;
    else
      return "expected true or false";
  } else if (name == "tag") {
    auto eq = v.find('=');
    if (eq == std::string::npos || eq == 0) return "expected key=value, got '" + v + "'";
    s.tags[v.substr(0, eq)] = v.substr(eq + 1);
    if (auto e = validate_tag_size(s.tags); !e.empty()) return e;
  } else if (name == "encrypt") {
    if (auto e = check_encrypt(v); !e.empty()) return e;
    s.encrypt = v;
  } else if (name == "keyring-file") {
    if (v.empty()) return "expects a file path";
    s.keyring_file = v;
  } else if (name == "snapshot") {
    if (v.empty()) return "expects a file path";
    s.snapshot = v;
  } else if (name == "rejoin") {
    if (v == "true" || v == "1" || v.empty())
      s.rejoin = true;
    else if (v == "false" || v == "0")
      s.rejoin = false;
    else
      return "expected true or false";
  } else if (name == "tags-file") {
    if (v.empty()) return "expects a file path";
    s.tags_file = v;
  } else if (name == "profile") {
    if (!profile_timing(v, s.timing))
      return "Unknown profile: " + v + " (expected lan, wan or local)";
    s.profile = v;
  } else if (name == "event-handler") {
    std::string err;
    if (!parse_handler(v, &err)) return err;
    s.event_handlers.push_back(v);
  }
  return "";
}

}  // namespace

bool parse_go_duration(std::string_view s, std::chrono::milliseconds& out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  // A bare number (no unit at all): seconds.
  if (s.find_first_not_of("0123456789.") == std::string_view::npos) {
    const std::string text = std::string(s) + "s";
    return parse_go_duration(text, out);
  }
  long double total_ns = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t start = i;
    long double whole = 0, frac = 0, scale = 1;
    bool digits = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      whole = whole * 10 + (s[i++] - '0');
      digits = true;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        frac = frac * 10 + (s[i++] - '0');
        scale *= 10;
        digits = true;
      }
    }
    if (!digits || i == start) return false;
    const std::size_t u = i;
    while (i < s.size() && !(s[i] >= '0' && s[i] <= '9') && s[i] != '.') ++i;
    const std::string_view unit = s.substr(u, i - u);
    long double mult = 0;
    if (unit == "ns")
      mult = 1;
    else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs")
      mult = 1e3L;
    else if (unit == "ms")
      mult = 1e6L;
    else if (unit == "s")
      mult = 1e9L;
    else if (unit == "m")
      mult = 60e9L;
    else if (unit == "h")
      mult = 3600e9L;
    else
      return false;  // missing or unknown unit
    total_ns += (whole + frac / scale) * mult;
    if (total_ns > 9.2e18L) return false;  // Go: overflow
  }
  out = std::chrono::milliseconds(static_cast<long long>(total_ns / 1e6L));
  return true;
}

bool profile_timing(std::string_view profile, GossipTiming& out) {
  using std::chrono::milliseconds;
  GossipTiming t;  // DefaultLANConfig
  if (profile == "lan") {
  } else if (profile == "wan") {
    t.tcp_timeout = milliseconds(30000);
    t.suspicion_mult = 6;
    t.push_pull_interval = milliseconds(60000);
    t.probe_timeout = milliseconds(3000);
    t.probe_interval = milliseconds(5000);
    t.gossip_nodes = 4;
    t.gossip_interval = milliseconds(500);
    t.gossip_to_the_dead_time = milliseconds(60000);
  } else if (profile == "local") {
    t.tcp_timeout = milliseconds(1000);
    t.indirect_checks = 1;
    t.retransmit_mult = 2;
    t.suspicion_mult = 3;
    t.push_pull_interval = milliseconds(15000);
    t.probe_timeout = milliseconds(200);
    t.probe_interval = milliseconds(1000);
    t.gossip_interval = milliseconds(100);
    t.gossip_to_the_dead_time = milliseconds(15000);
  } else {
    return false;
  }
  out = t;
  return true;
}

std::chrono::milliseconds join_backoff(const MembershipSettings& s, int attempt) {
  std::chrono::milliseconds d{1000};
  for (int i = 0; i < attempt && d < s.retry_interval; ++i) d *= 2;
  return std::min(d, s.retry_interval);
}

std::string default_node_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == 0) return "herd";
  return buf;
}

bool split_host_port(std::string_view text, uint16_t default_port, std::string& host,
                     uint16_t& port) {
  if (text.empty()) return false;
  std::string_view h = text, p;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return false;
    h = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      p = rest.substr(1);
      if (p.empty()) return false;
    }
  } else {
    auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') == colon) {
      h = text.substr(0, colon);
      p = text.substr(colon + 1);
      if (p.empty()) return false;
    }
    // Several colons and no brackets: a bare IPv6 address without a port.
  }
  if (h.empty()) return false;
  long long n = default_port;
  if (!p.empty() && !parse_uint(p, 1, 65535, n)) return false;
  host = std::string(h);
  port = static_cast<uint16_t>(n);
  return true;
}

std::string parse_server_options(std::string_view text, config::Server& out) {
  std::vector<std::string> words;
  {
    std::istringstream in{std::string(text)};
    std::string w;
    while (in >> w) words.push_back(w);
  }
  auto need = [&](std::size_t& i, const std::string& kw, std::string& v) -> std::string {
    if (i + 1 >= words.size()) return "'" + kw + "' expects an argument";
    v = words[++i];
    return "";
  };
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    std::string v, e;
    long long n = 0;
    auto integer = [&](long long lo, long long hi, int& dst) -> std::string {
      if (auto e2 = need(i, w, v); !e2.empty()) return e2;
      if (!parse_uint(v, lo, hi, n))
        return "'" + w + "' expects an integer " + std::to_string(lo) + ".." + std::to_string(hi) +
               ", got '" + v + "'";
      dst = static_cast<int>(n);
      return "";
    };
    auto time = [&](int64_t& dst) -> std::string {
      if (auto e2 = need(i, w, v); !e2.empty()) return e2;
      auto t = config::parse_time(v);
      if (t.status != config::TimeValue::Status::Ok || t.ms <= 0)
        return "'" + w + "' expects a positive time such as 2s, got '" + v + "'";
      dst = t.ms;
      return "";
    };
    if (w == "check")
      out.check = true;
    else if (w == "no-check")
      out.check = false;
    else if (w == "backup")
      out.backup = true;
    else if (w == "non-backup")
      out.backup = false;
    else if (w == "disabled")
      out.disabled = true;
    else if (w == "enabled")
      out.disabled = false;
    else if (w == "weight")
      e = integer(0, 256, out.weight);
    else if (w == "maxconn")
      e = integer(0, INT_MAX, out.maxconn);
    else if (w == "maxqueue")
      e = integer(0, INT_MAX, out.maxqueue);
    else if (w == "rise")
      e = integer(1, INT_MAX, out.rise);
    else if (w == "fall")
      e = integer(1, INT_MAX, out.fall);
    else if (w == "error-limit")
      e = integer(0, INT_MAX, out.error_limit);
    else if (w == "inter")
      e = time(out.inter_ms);
    else if (w == "fastinter")
      e = time(out.fastinter_ms);
    else if (w == "downinter")
      e = time(out.downinter_ms);
    else if (w == "port") {
      int p = 0;
      e = integer(1, 65535, p);
      out.check_port = static_cast<uint16_t>(p);
    } else if (w == "addr") {
      e = need(i, w, out.check_addr);
    } else if (w == "cookie") {
      e = need(i, w, out.cookie);
    } else if (w == "observe") {
      e = need(i, w, out.observe);
      if (e.empty() && out.observe != "layer4" && out.observe != "layer7")
        e = "'observe' expects layer4 or layer7";
    } else if (w == "on-error") {
      e = need(i, w, out.on_error);
      if (e.empty() && out.on_error != "fastinter" && out.on_error != "fail-check" &&
          out.on_error != "sudden-death" && out.on_error != "mark-down")
        e = "'on-error' expects fastinter, fail-check, sudden-death or mark-down";
    } else {
      e = "unknown server option '" + w + "'";
    }
    if (!e.empty()) return e;
  }
  return "";
}

bool parse_yaml(std::string_view text, const std::string& file, MembershipSettings& out,
                std::vector<std::string>& errors) {
  out.file = file;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    errors.push_back(file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    return false;
  }
  Yaml y{file, errors};
  if (root.IsNull()) return true;
  if (!root.IsMap()) {
    y.error(root, "(top level)", "expected a map of settings");
    return false;
  }
  for (const auto& kv : root) {
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
    const YAML::Node& v = kv.second;
    std::string s;
    if (key == "node") {
      if (y.scalar(v, key, s)) {
        if (s.empty())
          y.error(v, key, "must not be empty");
        else
          out.node = s;
      }
    } else if (key == "bind") {
      apply_address(y, v, key, 7946, true, out.bind_ip, out.bind_port);
    } else if (key == "advertise") {
      apply_address(y, v, key, 0, true, out.advertise_ip, out.advertise_port);
    } else if (key == "rpc") {
      if (v.IsScalar() && (v.Scalar() == "off" || v.Scalar() == "false" || v.Scalar().empty()))
        out.rpc_enabled = false;
      else if (apply_address(y, v, key, 7373, false, out.rpc_ip, out.rpc_port))
        out.rpc_enabled = true;
    } else if (key == "rpc_auth") {
      y.scalar(v, key, out.rpc_auth);
    } else if (key == "join" || key == "retry_join") {
      std::vector<std::string> list;
      if (y.string_list(v, key, list))
        for (auto& j : list) {
          if (j.empty())
            y.error(v, key, "empty address");
          else
            out.join.push_back(j);
        }
    } else if (auto* dur = duration_setting(out, key)) {
      std::chrono::milliseconds d{};
      if (!y.scalar(v, key, s)) continue;
      if (!parse_go_duration(s, d) || d.count() <= 0)
        y.error(v, key, "expected a duration such as 30s, got '" + s + "'");
      else
        *dur = d;
    } else if (key == "retry_max") {
      long long n = 0;
      if (!y.scalar(v, key, s)) continue;
      if (!parse_uint(s, 0, INT_MAX, n))
        y.error(v, key, "expected a count >= 0, got '" + s + "'");
      else
        out.retry_max = static_cast<int>(n);
    } else if (key == "replay" || key == "replay_on_join") {
      set_bool(y, v, key, out.replay);
    } else if (key == "disable_tcp_pings") {
      set_bool(y, v, key, out.disable_tcp_pings);
    } else if (key == "tags") {
      std::map<std::string, std::string> tags;
      if (y.string_map(v, key, tags)) {
        for (auto& [k, val] : tags) out.tags[k] = val;
        if (auto e = validate_tag_size(out.tags); !e.empty()) y.error(v, key, e);
      }
    } else if (key == "encrypt" || key == "encrypt_key") {
      if (y.scalar(v, key, s)) {
        if (auto e = check_encrypt(s); !e.empty())
          y.error(v, key, e);
        else
          out.encrypt = s;
      }
    } else if (key == "keyring_file") {
      if (y.scalar(v, key, s)) out.keyring_file = s;
    } else if (key == "snapshot" || key == "snapshot_path") {
      if (y.scalar(v, key, s)) {
        if (s.empty())
          y.error(v, key, "expects a file path");
        else
          out.snapshot = s;
      }
    } else if (key == "rejoin" || key == "rejoin_after_leave") {
      set_bool(y, v, key, out.rejoin);
    } else if (key == "tags_file") {
      if (y.scalar(v, key, s)) out.tags_file = s;
    } else if (key == "profile") {
      if (y.scalar(v, key, s)) {
        if (!profile_timing(s, out.timing))
          y.error(v, key, "Unknown profile: '" + s + "' (expected lan, wan or local)");
        else
          out.profile = s;
      }
    } else if (key == "event_handlers") {
      std::vector<std::string> list;
      if (y.string_list(v, key, list)) {
        for (std::size_t i = 0; i < list.size(); ++i) {
          std::string err;
          if (!parse_handler(list[i], &err))
            y.error(v.IsSequence() ? v[i] : v, key + "[" + std::to_string(i) + "]", err);
          else
            out.event_handlers.push_back(list[i]);
        }
      }
    } else if (key == "pools") {
      if (!v.IsSequence()) {
        y.error(v, key, "expected a list of pool rules");
        continue;
      }
      for (std::size_t i = 0; i < v.size(); ++i) {
        PoolRule rule;
        parse_pool(y, v[i], key + "[" + std::to_string(i) + "]", rule);
        out.pools.push_back(std::move(rule));
      }
    } else {
      y.error(
          kv.first, key,
          "unknown key (expected node, bind, advertise, rpc, rpc_auth, join, retry_interval, "
          "retry_max, replay, disable_tcp_pings, tags, encrypt, keyring_file, snapshot, rejoin, "
          "tags_file, profile, event_handlers, "
          "reconnect_interval, "
          "reconnect_timeout, tombstone_timeout, coalesce_period, quiescent_period, pools)");
    }
  }
  return y.ok;
}

bool load_yaml_file(const std::string& path, MembershipSettings& out,
                    std::vector<std::string>& errors) {
  std::ifstream in(path);
  if (!in) {
    errors.push_back(path + ": cannot open the membership settings file");
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_yaml(ss.str(), path, out, errors);
}

bool is_membership_flag(std::string_view arg) {
  std::string_view name;
  std::optional<std::string_view> value;
  return split_flag(arg, name, value) && find_flag(name) != nullptr;
}

int consume_flag(const std::vector<std::string>& args, std::size_t i, MembershipSettings& out,
                 std::vector<std::string>& errors) {
  if (i >= args.size()) return 0;
  std::string_view name;
  std::optional<std::string_view> value;
  if (!split_flag(args[i], name, value)) return 0;
  const FlagDef* def = find_flag(name);
  if (def == nullptr) return 0;
  int used = 1;
  std::string v;
  if (value) {
    v = std::string(*value);
  } else if (def->kind == FlagKind::Value) {
    if (i + 1 >= args.size()) {
      errors.push_back("flag -" + std::string(name) + ": expects a value");
      return 1;
    }
    v = args[i + 1];
    used = 2;
  }
  if (auto e = apply_flag(name, v, out); !e.empty())
    errors.push_back("flag -" + std::string(name) + ": " + e);
  return used;
}

bool parse_flags(const std::vector<std::string>& args, MembershipSettings& out,
                 std::vector<std::string>& errors, std::vector<std::string>* rest) {
  std::size_t before = errors.size();
  for (std::size_t i = 0; i < args.size();) {
    int n = consume_flag(args, i, out, errors);
    if (n == 0) {
      if (rest)
        rest->push_back(args[i]);
      else
        errors.push_back("unknown membership flag '" + args[i] + "'");
      ++i;
    } else {
      i += static_cast<std::size_t>(n);
    }
  }
  return errors.size() == before;
}

bool finalize(MembershipSettings& s, const config::Config* cfg, std::vector<std::string>& errors) {
  std::size_t before = errors.size();
  if (s.node.empty()) s.node = default_node_name();
  std::string src = s.file.empty() ? std::string("flags") : s.file;
  if (s.advertise_ip.empty() == false && s.advertise_port == 0) s.advertise_port = s.bind_port;
  // Serf's rule: the keyring file holds the keys, so no -encrypt beside it.
  if (!s.keyring_file.empty() && !s.encrypt.empty())
    errors.push_back(src + ": Encryption key not allowed while using a keyring (keyring_file " +
                     s.keyring_file + ")");
  // Serf's rule: tags come from the tags file or from the settings, not both.
  if (!s.tags_file.empty()) {
    if (!s.tags.empty())
      errors.push_back(src + ": Tags config not allowed while using tag files (tags_file " +
                       s.tags_file + ")");
    else if (auto e = load_tags_file(s.tags_file, s.tags); !e.empty())
      errors.push_back(src + ": " + e);
    else if (auto e2 = validate_tag_size(s.tags); !e2.empty())
      errors.push_back(s.tags_file + ": " + e2);
  }
  for (std::size_t i = 0; i < s.pools.size(); ++i) {
    const PoolRule& r = s.pools[i];
    std::string where =
        r.where.file.empty() ? src : r.where.file + ":" + std::to_string(r.where.line);
    std::string key = "pools[" + std::to_string(i) + "].backend";
    if (cfg != nullptr && !r.backend.empty()) {
      const config::Proxy* p = cfg->find_backend(r.backend);
      if (p == nullptr)
        errors.push_back(
            where + ": " + key + ": no backend '" + r.backend + "' in " +
            (cfg->files.empty() ? std::string("the haproxy configuration") : cfg->files.front()));
    }
    for (std::size_t j = 0; j < i; ++j)
      if (s.pools[j].backend == r.backend && s.pools[j].match == r.match)
        errors.push_back(where + ": " + key + ": duplicates pools[" + std::to_string(j) + "]");
  }
  return errors.size() == before;
}

}  // namespace herd::membership
