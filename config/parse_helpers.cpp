// config/parse_helpers.cpp — address splitting and resolution, typo
// suggestions and lax integers shared by the keyword files
// (declared in parser_internal.h).
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstdlib>
#include <map>

#include "config/parser_internal.h"

namespace herd::config::detail {

namespace {

// Multiset of adjacent character pairs, with '^' and '$' marking the ends.
std::map<std::string, int> bigrams(std::string_view w) {
  std::map<std::string, int> out;
  std::string s = "^" + std::string(w) + "$";
  for (size_t i = 0; i + 1 < s.size(); ++i) ++out[s.substr(i, 2)];
  return out;
}

int bigram_distance(const std::map<std::string, int>& a, const std::map<std::string, int>& b) {
  int d = 0;
  for (const auto& [k, n] : a) {
    auto it = b.find(k);
    d += std::abs(n - (it == b.end() ? 0 : it->second));
  }
  for (const auto& [k, n] : b)
    if (a.find(k) == a.end()) d += n;
  return d;
}

}  // namespace

std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates) {
  // The closest candidate by bigram distance, kept only when at least half
  // of all the bigrams of both words are shared.
  auto fw = bigrams(word);
  int best = -1, best_total = 0;
  std::string_view best_word;
  for (auto c : candidates) {
    if (c == word) continue;  // never "unknown 'x'; did you mean 'x'"
    int d = bigram_distance(fw, bigrams(c));
    if (best < 0 || d < best) {
      best = d;
      best_word = c;
      best_total = static_cast<int>(word.size() + c.size()) + 2;
    }
  }
  if (best < 0 || best * 2 > best_total) return "";
  return std::string(best_word);
}

int lax_int(const std::string& s) { return std::atoi(s.c_str()); }

bool split_host_port(const std::string& text, HostPort* out, std::string* err) {
  std::string t = text;
  *out = HostPort{};
  if (t.rfind("ipv4@", 0) == 0) {
    out->family = 4;
    t = t.substr(5);
  } else if (t.rfind("ipv6@", 0) == 0) {
    out->family = 6;
    t = t.substr(5);
  } else if (t.rfind("tcp@", 0) == 0 || t.rfind("tcp4@", 0) == 0 || t.rfind("tcp6@", 0) == 0) {
    out->family = t[3] == '4' ? 4 : t[3] == '6' ? 6 : 0;
    t = t.substr(t.find('@') + 1);
  } else if (t.find('@') != std::string::npos || (!t.empty() && t[0] == '/')) {
    *err = "herd supports only TCP addresses here (got '" + text + "')";
    return false;
  }
  if (!t.empty() && t[0] == '[') {
    size_t close = t.find(']');
    if (close == std::string::npos) {
      *err = "invalid address: '" + t + "' in '" + text + "'";
      return false;
    }
    out->host = t.substr(1, close - 1);
    std::string rest = t.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        *err = "invalid address: '" + t + "' in '" + text + "'";
        return false;
      }
      out->has_port = true;
      out->port_text = rest.substr(1);
    }
    return true;
  }
  size_t colon = t.rfind(':');
  if (colon == std::string::npos) {
    out->host = t;
    return true;
  }
  out->host = t.substr(0, colon);
  out->has_port = true;
  out->port_text = t.substr(colon + 1);
  return true;
}

bool parse_source_addr(const std::string& text, bool range_ok, std::string* ip, uint16_t* port,
                       std::string* err) {
  HostPort hp;
  if (!split_host_port(text, &hp, err)) return false;
  if (hp.port_text.find('-') != std::string::npos) {
    *err = range_ok ? "source port ranges are not supported by herd"
                    : "port range not permitted here in '" + text + "'";
    return false;
  }
  if (!parse_port(hp.port_text, text, port, err)) return false;
  if (!resolve_host(hp.host, hp.family, true, ip)) {
    *err = "invalid address: '" + hp.host + "' in '" + text + "'\n";
    return false;
  }
  return true;
}

bool parse_usesrc(const std::string& text, ConnSource* src, std::string* err) {
  using U = ConnSource::Usesrc;
  if (text == "client") {
    src->usesrc = U::Client;
  } else if (text == "clientip") {
    src->usesrc = U::ClientIp;
  } else if (text.starts_with("hdr_ip(")) {
    *err = "'usesrc hdr_ip()' is not supported by herd.";
    return false;
  } else {
    std::string e;
    if (!parse_source_addr(text, false, &src->usesrc_host, &src->usesrc_port, &e)) {
      *err = "'usesrc " + text + "' : " + e;
      return false;
    }
    src->usesrc = U::Addr;
  }
  return true;
}

bool parse_port(const std::string& port_text, const std::string& whole, uint16_t* out,
                std::string* err) {
  if (port_text.empty()) {
    *out = 0;
    return true;
  }
  if (port_text[0] == '+' || port_text[0] == '-') {
    *err = "relative ports ('" + port_text + "') are not supported by herd";
    return false;
  }
  long v = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') {
      *err = "invalid character '" + std::string(1, c) + "' in port number '" + port_text +
             "' in '" + whole + "'\n";
      return false;
    }
    v = v * 10 + (c - '0');
    if (v > 65535) break;
  }
  if (v > 65535) {
    *err = "invalid port '" + port_text + "'";
    return false;
  }
  *out = static_cast<uint16_t>(v);
  return true;
}

bool resolve_host(const std::string& host, int family, bool allow_names, std::string* ip) {
  if (host.empty() || host == "*") {
    *ip = family == 6 ? "::" : "0.0.0.0";
    return true;
  }
  char buf[INET6_ADDRSTRLEN] = {};
  in_addr a4{};
  in6_addr a6{};
  if (family != 6 && inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    *ip = inet_ntop(AF_INET, &a4, buf, sizeof buf);
    return true;
  }
  if (family != 4 && inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    *ip = inet_ntop(AF_INET6, &a6, buf, sizeof buf);
    return true;
  }
  if (!allow_names) return false;
  addrinfo hints{};
  hints.ai_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return false;
  const addrinfo* pick = res;
  for (const addrinfo* r = res; r != nullptr; r = r->ai_next)
    if (r->ai_family == AF_INET) {
      pick = r;
      break;
    }
  if (pick->ai_family == AF_INET)
    *ip = inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(pick->ai_addr)->sin_addr, buf,
                    sizeof buf);
  else
    *ip = inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(pick->ai_addr)->sin6_addr,
                    buf, sizeof buf);
  freeaddrinfo(res);
  return true;
}

bool valid_network(const std::string& s) {
  size_t slash = s.find('/');
  std::string addr = s.substr(0, slash);
  in_addr a4{};
  in6_addr a6{};
  int max_mask = 0;
  if (inet_pton(AF_INET, addr.c_str(), &a4) == 1)
    max_mask = 32;
  else if (inet_pton(AF_INET6, addr.c_str(), &a6) == 1)
    max_mask = 128;
  else
    return false;
  if (slash == std::string::npos) return true;
  std::string mask = s.substr(slash + 1);
  if (max_mask == 32 && inet_pton(AF_INET, mask.c_str(), &a4) == 1) return true;
  if (mask.empty() || mask.size() > 3) return false;
  for (char c : mask)
    if (c < '0' || c > '9') return false;
  return std::atoi(mask.c_str()) <= max_mask;
}

}  // namespace herd::config::detail

namespace herd::config {

bool valid_name(std::string_view name, char* bad) {
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) {
      if (bad) *bad = c;
      return false;
    }
  }
  return true;
}

}  // namespace herd::config

namespace herd::config::detail {

int parse_tls_option(const std::vector<std::string>& w, size_t i, TlsOptions& o, std::string* err) {
  static const std::pair<const char*, int> kVersions[] = {{"SSLv3", 0x0300},
                                                          {"TLSv1.0", 0x0301},
                                                          {"TLSv1.1", 0x0302},
                                                          {"TLSv1.2", 0x0303},
                                                          {"TLSv1.3", 0x0304}};
  const std::string& k = w[i];
  if (k == "ssl-min-ver" || k == "ssl-max-ver") {
    if (i + 1 >= w.size() || w[i + 1].empty()) {
      *err = "'" + k + "' : missing the ssl/tls version";
      return -1;
    }
    for (const auto& [name, v] : kVersions)
      if (w[i + 1] == name) {
        (k == "ssl-min-ver" ? o.min_ver : o.max_ver) = v;
        return 2;
      }
    *err = "'" + w[i + 1] + "' : unknown ssl/tls version";
    return -1;
  }
  static const std::pair<const char*, int> kNo[] = {
      {"no-sslv3", 0}, {"no-tlsv10", 1}, {"no-tlsv11", 2}, {"no-tlsv12", 3}, {"no-tlsv13", 4}};
  for (const auto& [name, minor] : kNo)
    if (k == name) {
      o.no_versions |= 1u << minor;
      return 1;
    }
  if (k == "no-tls-tickets") {
    o.no_tickets = true;
    return 1;
  }
  if (k == "prefer-client-ciphers") {
    o.prefer_client_ciphers = true;
    return 1;
  }
  return 0;
}

}  // namespace herd::config::detail
