// proxy/rewrite.cpp — see rewrite.h.
#include "proxy/rewrite.h"

#include <array>

namespace herd::proxy {

namespace {

// "HTTP/1.1 <status>[ <reason>]\r\n": the status line of every response
// head herd sends on (the server's version is not passed through).
void append_status_line(std::string& out, const char* head, const http1::Head& resp) {
  out += "HTTP/1.1 ";
  out.append(head + 9, 3);
  if (!resp.reason.empty()) {
    out += ' ';
    out.append(resp.reason);
  }
  out += "\r\n";
}

bool is_hop_by_hop(std::string_view name) {
  return http1::iequals(name, "connection") || http1::iequals(name, "keep-alive") ||
         http1::iequals(name, "proxy-connection");
}

// Appends "connection: <options>\r\n" with the options of a received
// Connection value less close and keep-alive; nothing when none is left.
void append_connection_options(std::string& out, std::string_view value) {
  const size_t start = out.size();
  out += "connection: ";
  const size_t first = out.size();
  http1::for_each_token(value, [&](std::string_view t) {
    if (http1::iequals(t, "close") || http1::iequals(t, "keep-alive")) return;
    if (out.size() > first) out += ", ";
    out.append(t);
  });
  if (out.size() == first) {
    out.resize(start);
  } else {
    out += "\r\n";
  }
}

}  // namespace

void lower_append(std::string& out, std::string_view s) {
  size_t n = out.size();
  out.append(s);
  for (size_t i = n; i < out.size(); ++i) {
    char c = out[i];
    if (c >= 'A' && c <= 'Z') out[i] = static_cast<char>(c + 32);
  }
}

bool response_cacheable(std::string_view method, int status, const char* base,
                        const http1::Head& h) {
  if (method != "GET" && method != "HEAD" && method != "OPTIONS" && method != "TRACE") return false;
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 206:
    case 300:
    case 301:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
      break;
    default:
      return false;
  }
  bool fresh = false;
  for (size_t i = 0; i < h.nfields; ++i) {
    auto n = h.name(base, i);
    auto v = h.value(base, i);
    if (http1::iequals(n, "pragma") && v.find("no-cache") != std::string_view::npos) return false;
    if (http1::iequals(n, "cache-control")) {
      std::string lv;
      lower_append(lv, v);
      if (lv.find("private") != std::string::npos || lv.find("no-cache") != std::string::npos ||
          lv.find("no-store") != std::string::npos || lv.find("max-age=0") != std::string::npos)
        return false;
      if (lv.find("max-age") != std::string::npos || lv.find("s-maxage") != std::string::npos)
        fresh = true;
    }
    if (http1::iequals(n, "expires") || http1::iequals(n, "etag") ||
        http1::iequals(n, "last-modified"))
      fresh = true;
  }
  return fresh;
}

bool build_upstream_head(std::string& out, AddedFields& added, const UpstreamHeadIn& in) {
  const RequestView& rv = in.rv;
  const http1::Head& req = *rv.head;
  const char* base = rv.base;
  const config::Proxy& b = in.be;
  out.clear();
  out.append(req.method);
  out += ' ';
  out.append(req.target);
  out += ' ';  // 1.1 and above go as HTTP/1.1, older versions as received (haproxy)
  out += req.version == 10 ? req.version_str : std::string_view("HTTP/1.1");
  out += "\r\n";
  // Header edits from http-request rules (frontend, then backend), applied
  // in order; deletions mark fields, additions are appended after the
  // original fields.
  std::array<bool, http1::kMaxHeaders> drop{};
  added.n = 0;
  auto apply_rules = [&](const config::Proxy& px) {
    for (const auto& rule : px.http_request) {
      if (rule.cond && !eval_condition(*rule.cond, px, rv)) continue;
      using A = config::HttpRequestRule::Action;
      if (rule.action == A::SetHeader || rule.action == A::DelHeader) {
        for (size_t i = 0; i < req.nfields; ++i)
          if (http1::iequals(req.name(base, i), rule.name)) drop[i] = true;
        size_t keep = 0;  // drop earlier additions of this name, in order
        for (size_t i = 0; i < added.n; ++i)
          if (!http1::iequals(added.fields[i].first, rule.name))
            std::swap(added.fields[keep++], added.fields[i]);
        added.n = keep;
      }
      if (rule.action == A::SetHeader || rule.action == A::AddHeader) {
        if (added.n == added.fields.size()) added.fields.emplace_back();
        auto& [name, value] = added.fields[added.n++];
        name = rule.name;
        value.clear();
        append_format(value, rule.value, rv);
      }
    }
  };
  apply_rules(in.fe);
  if (&b != &in.fe) apply_rules(b);

  const bool strip_cookie_hdr = b.cookie.enabled && b.cookie.indirect;
  bool cl_sent = false;
  for (size_t i = 0; i < req.nfields; ++i) {
    if (drop[i]) continue;
    auto n = req.name(base, i);
    // The Connection header goes on less its close and keep-alive tokens
    // (herd states its own persistence below), and so do the fields it
    // nominates, Keep-Alive and Proxy-Connection: what haproxy 2.6 does.
    if (n.size() == 10 && http1::iequals(n, "connection")) {
      append_connection_options(out, req.value(base, i));
      continue;
    }
    if (http1::iequals(n, "content-length")) {
      // Dropped under Transfer-Encoding; otherwise sent once, normalised
      // ("3, 3" and repeated fields become one `content-length: 3`).
      if (req.chunked || cl_sent) continue;
      cl_sent = true;
      if (req.cl_normalise) {
        out += "content-length: ";
        out += std::to_string(req.content_length);
        out += "\r\n";
        continue;
      }
    }
    // Several Host fields agree (the parser refuses them otherwise): one goes on.
    if (static_cast<int>(i) > req.host_index && req.host_index >= 0 && n.size() == 4 &&
        http1::iequals(n, "host"))
      continue;
    auto v = req.value(base, i);
    if (static_cast<int>(i) == req.host_index && in.method == "CONNECT") {
      // CONNECT's Host goes on without the port of http or https (:80,
      // :443), as haproxy normalises it.
      for (std::string_view port : {std::string_view(":80"), std::string_view(":443")}) {
        if (v.size() > port.size() && v.substr(v.size() - port.size()) == port) {
          v.remove_suffix(port.size());
          break;
        }
      }
    }
    // A request with a body does not switch protocols: its Upgrade field
    // goes (haproxy's choice; Connection: upgrade stays).
    if (req.upgrade && !in.upgrade && in.body_len != 0 && n.size() == 7 &&
        http1::iequals(n, "upgrade"))
      continue;
    if (strip_cookie_hdr && http1::iequals(n, "cookie")) {
      std::string rest = strip_cookie(v, b.cookie.name);
      if (rest.empty()) continue;
      lower_append(out, n);
      out += ": ";
      out += rest;
      out += "\r\n";
      continue;
    }
    lower_append(out, n);
    out += ": ";
    out.append(v);
    out += "\r\n";
  }
  for (size_t i = 0; i < added.n; ++i) {
    const auto& [n, v] = added.fields[i];
    lower_append(out, n);
    out += ": ";
    out += v;
    out += "\r\n";
  }
  // option forwardfor: the frontend's or the backend's.
  const config::ForwardFor* ff = b.forwardfor.enabled
                                     ? &b.forwardfor
                                     : (in.fe.forwardfor.enabled ? &in.fe.forwardfor : nullptr);
  if (ff && (ff->except_net.empty() || !ip_in_network(rv.src_ip, ff->except_net))) {
    bool present = false;
    if (ff->if_none) {
      for (size_t i = 0; i < req.nfields && !present; ++i)
        present = !drop[i] && http1::iequals(req.name(base, i), ff->header);
    }
    if (!present) {
      lower_append(out, ff->header);
      out += ": ";
      out += rv.src_ip;
      out += "\r\n";
    }
  }
  // Connection header towards the server.
  const bool server_close = b.conn_mode != config::HttpConnMode::KeepAlive ||
                            in.fe.conn_mode == config::HttpConnMode::ServerClose ||
                            in.fe.conn_mode == config::HttpConnMode::Close;
  if (in.upgrade)
    ;  // the client's `connection: upgrade` was forwarded above
  else if (server_close)
    out += "connection: close\r\n";
  else if (req.version == 10 && !req.chunked)  // haproxy: not for a chunked 1.0 body
    out += "connection: keep-alive\r\n";
  out += "\r\n";
  return server_close;
}

void build_client_head(std::string& out, const ClientHeadIn& in) {
  const char* sb = in.base;
  const http1::Head& resp = in.resp;
  const config::Proxy& b = in.be;
  const bool chunked = in.chunked, keep = in.keep;
  out.clear();
  append_status_line(out, sb, resp);
  // A 204 has no body: its framing fields go, as haproxy drops them.
  // Several or listed Content-Length fields go out as one.
  const bool drop_framing = resp.status == 204;
  bool cl_sent = false;
  for (size_t i = 0; i < resp.nfields; ++i) {
    auto n = resp.name(sb, i);
    if (is_hop_by_hop(n)) continue;
    const bool is_cl = http1::iequals(n, "content-length");
    if (is_cl && (chunked || drop_framing || cl_sent)) continue;
    if (drop_framing && http1::iequals(n, "transfer-encoding")) continue;
    lower_append(out, n);
    out += ": ";
    if (is_cl && resp.cl_normalise) {
      out += std::to_string(resp.content_length);
    } else {
      out.append(resp.value(sb, i));
    }
    cl_sent = cl_sent || is_cl;
    out += "\r\n";
  }
  if (b.cookie.enabled && b.cookie.insert && !in.cookie_valid) {
    out += "set-cookie: ";
    out += b.cookie.name;
    if (in.server_cookie.empty()) {
      out += "=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/";
    } else {
      out += '=';
      out += in.server_cookie;
      out += "; path=/";
    }
    for (const auto& d : b.cookie.domains) out += "; domain=" + d;
    if (b.cookie.httponly) out += "; HttpOnly";
    if (b.cookie.secure) out += "; Secure";
    out += "\r\n";
    if (b.cookie.nocache && response_cacheable(in.method, resp.status, sb, resp))
      out += "cache-control: private\r\n";
  }
  if (!keep) {
    out += "connection: close\r\n";
  } else if (in.req_is_10) {
    out += "connection: keep-alive\r\n";
  }
  out += "\r\n";
}

void build_interim_head(std::string& out, const char* base, const http1::Head& resp) {
  out.clear();
  append_status_line(out, base, resp);
  for (size_t i = 0; i < resp.nfields; ++i) {
    auto n = resp.name(base, i);
    if (http1::iequals(n, "content-length") || http1::iequals(n, "transfer-encoding")) continue;
    lower_append(out, n);
    out += ": ";
    out.append(resp.value(base, i));
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace herd::proxy
