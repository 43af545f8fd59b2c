// proxy/debug_trace.cpp — see debug_trace.h.
#include "proxy/debug_trace.h"

#include <unistd.h>

#include <cctype>
#include <cstdio>

namespace herd::proxy::debug {

namespace {
std::atomic<uint32_t> g_next_id{0};

void hex(std::string& out, unsigned v, int width) {
  char b[16];
  int n = std::snprintf(b, sizeof b, "%0*x", width, v);
  out.append(b, static_cast<size_t>(n));
}

void write_out(const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(2, s.data() + off, s.size() - off);
    if (n <= 0) return;  // stderr gone: debug output is best effort
    off += static_cast<size_t>(n);
  }
}

std::string_view status_version(const char* base, const http1::Head& h) {
  std::string_view head(base, h.head_len);
  size_t sp = head.find(' ');
  return head.substr(0, sp == std::string_view::npos ? 0 : sp);
}
}  // namespace

void enable() { detail::g_on.store(true, std::memory_order_relaxed); }

// haproxy prints the fds of request/response lines as ints ("ffffffff" for
// none) and those of the closing lines as unsigned shorts ("ffff").
void StreamTrace::line(std::string_view px, std::string_view tag, int a, int b, bool wide,
                       std::string_view text) {
  std::string out;
  out.reserve(48 + text.size());
  hex(out, id_, 8);
  out += ':';
  out += px;
  out += '.';
  out += tag;
  out += '[';
  const auto fd = [&](int v) {
    hex(out, wide ? static_cast<unsigned>(v) : static_cast<unsigned short>(v), 4);
  };
  fd(a);
  out += ':';
  fd(b);
  out += ']';
  if (!text.empty()) {
    out += ": ";
    out += text;
  }
  out += '\n';
  write_out(out);
}

void StreamTrace::begin(std::string_view frontend, int listener_fd, int client_fd,
                        std::string_view peer, std::string_view alpn) {
  end();
  active_ = true;
  closer_ = Closer::Http;
  srv_closed_ = false;
  id_ = g_next_id.fetch_add(1, std::memory_order_relaxed);
  cfd_ = client_fd;
  sfd_ = -1;
  frontend_.assign(frontend);
  proxy_.assign(frontend);
  std::string out;
  hex(out, id_, 8);
  out += ':';
  out += frontend;
  out += ".accept(";
  hex(out, static_cast<unsigned short>(listener_fd), 4);
  out += ")=";
  hex(out, static_cast<unsigned short>(client_fd), 4);
  out += " from [";
  out += peer;
  out += "] ALPN=";
  out += alpn.empty() ? std::string_view("<none>") : alpn;
  out += '\n';
  write_out(out);
}

void StreamTrace::request(const char* base, const http1::Head& h) {
  if (!active_) return;
  std::string text;
  text.append(h.method).append(" ").append(h.target).append(" ");
  text.append(h.version_str.empty() ? std::string_view("HTTP/1.1") : h.version_str);
  line(frontend_, "clireq", cfd_, sfd_, true, text);
  headers(frontend_, "clihdr", true, base, h);
}

// haproxy shows the fields as its HTX message holds them: names in lower
// case, and `connection` without its keep-alive and close tokens (those are
// the connection's, not the message's), left out when nothing else is in it.
void StreamTrace::headers(std::string_view px, std::string_view tag, bool wide, const char* base,
                          const http1::Head& h) {
  std::string text;
  for (size_t i = 0; i < h.nfields; ++i) {
    text.clear();
    for (char c : h.name(base, i))
      text += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    text += ": ";
    const size_t at = text.size();
    if (text == "connection: ") {
      std::string_view v = h.value(base, i);
      while (!v.empty()) {
        size_t comma = v.find(',');
        std::string_view tok = v.substr(0, comma);
        v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
        while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
        while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
        if (tok.empty() || http1::iequals(tok, "keep-alive") || http1::iequals(tok, "close"))
          continue;
        if (text.size() > at) text += ", ";
        text += tok;
      }
      if (text.size() == at) continue;
    } else {
      text += h.value(base, i);
    }
    line(px, tag, cfd_, sfd_, wide, text);
  }
}

void StreamTrace::response(const char* base, const http1::Head& h) {
  if (!active_) return;
  std::string text(status_version(base, h));
  text += ' ';
  text += std::to_string(h.status);
  text += ' ';
  text += h.reason;
  // A server that closes after this response has usually closed by the time
  // haproxy parses it: its srvcls comes first.
  if (h.conn_close || (h.version < 11 && !h.conn_keep_alive)) {
    line(proxy_, "srvcls", cfd_, sfd_, false, {});
    srv_closed_ = true;
  }
  line(proxy_, "srvrep", cfd_, sfd_, false, text);
  headers(proxy_, "srvhdr", false, base, h);
}

void StreamTrace::end() {
  if (!active_) return;
  active_ = false;
  switch (closer_) {
    case Closer::Http:
      // The stream ends with the response: the client side first, then the
      // server connection (given back to the pool or closed).
      line(proxy_, "clicls", cfd_, sfd_, false, {});
      if (sfd_ >= 0 && !srv_closed_) line(proxy_, "srvcls", cfd_, sfd_, false, {});
      line(proxy_, "closed", cfd_, sfd_, false, {});
      break;
    // A tunnel: the side that closed first had its shutdown forwarded to the
    // other, which closes fully first (haproxy's stream interfaces).
    case Closer::Client:
      line(proxy_, "srvcls", cfd_, -1, false, {});
      line(proxy_, "clicls", -1, -1, false, {});
      line(proxy_, "closed", -1, -1, false, {});
      break;
    case Closer::Server:
      line(proxy_, "clicls", -1, sfd_, false, {});
      line(proxy_, "srvcls", -1, -1, false, {});
      line(proxy_, "closed", -1, -1, false, {});
      break;
  }
}

}  // namespace herd::proxy::debug
