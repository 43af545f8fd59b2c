// config/keywords_resolvers.cpp — `resolvers <name>` sections: `nameserver`,
// `parse-resolv-conf`, `accepted_payload_size`, `resolve_retries`,
// `timeout resolve|retry`, `hold <event> <time>` (haproxy 2.6's texts).
// The DNS client that uses them is dns/resolver.h.
#include <arpa/inet.h>

#include <fstream>
#include <sstream>

#include "config/parser_internal.h"
#include "config/tokenizer.h"
#include "config/units.h"

namespace herd::config::detail {
namespace {

// A time argument as haproxy's resolvers section reads it: false with the
// alert already printed.
bool resolvers_time(Parser& p, const std::string& text, const std::string& what, int64_t* out) {
  TimeValue t = parse_time(text);
  if (t.status == TimeValue::Status::Overflow) {
    p.alert_raw("parsing " + p.where() + ": timer overflow in argument <" + text + "> to <" + what +
                ">, maximum value is 2147483647 ms (~24.8 days).");
    return false;
  }
  if (t.status != TimeValue::Status::Ok) {
    char c = t.status == TimeValue::Status::BadChar ? t.bad_char : '\0';
    p.alert_raw("parsing " + p.where() + ": unexpected character '" + std::string(1, c) +
                "' in argument to <" + what + ">.");
    return false;
  }
  *out = t.ms;
  return true;
}

// `parse-resolv-conf`: every `nameserver <ip>` line of the system's
// resolver configuration, port 53, named by its address.
void parse_resolv_conf(Parser& p, Resolvers& r) {
  const char* path = "/etc/resolv.conf";
  std::ifstream in(path);
  if (!in) return p.alert_raw("parsing " + p.where() + ": failed to open " + path + ".");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind("nameserver", 0) != 0) continue;
    std::istringstream ls(line.substr(10));
    std::string ip;
    ls >> ip;
    const std::string at = "[" + std::string(path) + ":" + std::to_string(n) + "]";
    if (ip.empty()) {
      p.warn_raw("parsing " + p.where() + ": parsing " + at +
                 " : nameserver line is missing address.");
      continue;
    }
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip.c_str(), buf) != 1 && inet_pton(AF_INET6, ip.c_str(), buf) != 1) {
      p.warn_raw("parsing " + p.where() + ": parsing " + at + " : address '" + ip +
                 "' could not be recognized, nameserver will be excluded.");
      continue;
    }
    bool dup = false;
    for (const auto& ns : r.nameservers) dup = dup || ns.id == ip;
    if (dup) {
      p.warn_raw("parsing " + p.where() + ": Parsing " + at +
                 " : generated name for /etc/resolv.conf nameserver '" + ip +
                 "' conflicts with another nameserver, it appears to be a duplicate and will be "
                 "excluded.");
      continue;
    }
    Resolvers::Nameserver ns;
    ns.id = ip;
    ns.addr.host = ip;
    ns.addr.ip = ip;
    ns.addr.port = 53;
    ns.where = p.loc();
    r.nameservers.push_back(std::move(ns));
  }
}

}  // namespace

void Parser::start_resolvers(const Words& w) {
  section_ = Section::Resolvers;
  section_name_ = arg(w, 1);
  if (!has(w, 1)) {
    aborted_ = true;
    section_ = Section::Unsupported;
    return alert("missing name for resolvers section.");
  }
  char bad = 0;
  if (!valid_name(w[1], &bad)) {
    aborted_ = true;
    section_ = Section::Unsupported;
    return alert("character '" + std::string(1, bad) + "' is not permitted in 'resolvers' name '" +
                 w[1] + "'.");
  }
  for (const auto& r : res_.config.resolvers) {
    if (r.name != w[1]) continue;
    aborted_ = true;
    alert_raw("Parsing " + where() + ": resolvers '" + w[1] +
              "' has same name as another resolvers (declared at " + r.where.file + ":" +
              std::to_string(r.where.line) + ").");
    section_ = Section::Unsupported;
    return;
  }
  Resolvers r;
  r.name = w[1];
  r.where = loc();
  res_.config.resolvers.push_back(std::move(r));
}

void Parser::resolvers_keyword(const Words& w) {
  Resolvers& r = res_.config.resolvers.back();
  const std::string& kw = w[0];
  if (kw == "nameserver") {
    if (!has(w, 2)) return alert("'" + kw + "' expects <name> and <addr>[:<port>] as arguments.");
    char bad = 0;
    if (!valid_name(w[1], &bad))
      return alert("character '" + std::string(1, bad) + "' is not permitted in server name '" +
                   w[1] + "'.");
    for (const auto& ns : r.nameservers)
      if (ns.id == w[1])
        return alert_raw("Parsing " + where() + ": nameserver '" + w[1] +
                         "' has same name as another nameserver (declared at " + ns.where.file +
                         ":" + std::to_string(ns.where.line) + ").");
    std::string text = expand_address_vars(w[2], opts_.env);
    const std::string head = "'" + kw + " " + w[1] + "' : ";
    if (text.rfind("tcp@", 0) == 0 || text.rfind("tcp4@", 0) == 0 || text.rfind("tcp6@", 0) == 0)
      return alert(head + "DNS over TCP is not supported by herd.");
    for (const char* pre : {"udp@", "udp4@", "udp6@"})
      if (text.rfind(pre, 0) == 0) text = text.substr(std::string(pre).size());
    HostPort hp;
    std::string err;
    if (!split_host_port(text, &hp, &err)) return alert(head + err);
    if (!hp.has_port || hp.port_text.empty())
      return alert(head + "missing port specification in '" + text + "'");
    Resolvers::Nameserver ns;
    ns.id = w[1];
    if (!parse_port(hp.port_text, text, &ns.addr.port, &err)) return alert(head + err);
    ns.addr.host = hp.host;
    if (!resolve_host(hp.host, hp.family, true, &ns.addr.ip))
      return alert(head + "could not resolve address '" + hp.host + "'.");
    ns.where = loc();
    r.nameservers.push_back(std::move(ns));
  } else if (kw == "parse-resolv-conf") {
    parse_resolv_conf(*this, r);
  } else if (kw == "hold") {
    if (!has(w, 2)) {
      alert("'" + kw + "' expects an <event> and a <time> as arguments.");
      return alert_raw("<event> can be either 'valid', 'nx', 'refused', 'timeout', or 'other'");
    }
    int64_t ms = 0;
    if (!resolvers_time(*this, w[2], kw, &ms)) return;
    const std::string& ev = w[1];
    int64_t* slot = ev == "nx"         ? &r.hold_nx
                    : ev == "other"    ? &r.hold_other
                    : ev == "refused"  ? &r.hold_refused
                    : ev == "timeout"  ? &r.hold_timeout
                    : ev == "valid"    ? &r.hold_valid
                    : ev == "obsolete" ? &r.hold_obsolete
                                       : nullptr;
    if (!slot)
      return alert("'" + kw + "' unknown <event>: '" + ev +
                   "', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'.");
    *slot = ms;
  } else if (kw == "accepted_payload_size") {
    if (!has(w, 1)) return alert("'" + kw + "' expects <nb> as argument.");
    int n = lax_int(w[1]);
    if (n < 12 || n > 65535)
      return alert("'" + kw + "' must be between 12 and 65535 inclusive (was " + w[1] + ").");
    r.accepted_payload_size = n;
  } else if (kw == "resolve_retries") {
    if (!has(w, 1)) return alert("'" + kw + "' expects <nb> as argument.");
    r.resolve_retries = lax_int(w[1]);
  } else if (kw == "timeout") {
    const std::string& what = arg(w, 1);
    if (what.empty())
      return alert("'" + kw + "' expects 'retry' or 'resolve' and <time> as arguments.");
    if (what != "retry" && what != "resolve")
      return alert("'" + kw + "' expects 'retry' or 'resolve' and <time> as arguments got '" +
                   what + "'.");
    if (!has(w, 2)) return alert("'" + kw + " " + what + "' expects <time> as argument.");
    int64_t ms = 0;
    if (!resolvers_time(*this, w[2], kw + " " + what, &ms)) return;
    (what == "retry" ? r.timeout_retry : r.timeout_resolve) = ms;
  } else if (kw == "resolution_pool_size") {
    alert("'" + kw +
          "' directive is not supported anymore (it never appeared in a stable release).");
  } else {
    alert("unknown keyword '" + kw + "' in 'resolvers' section");
  }
}

}  // namespace herd::config::detail
