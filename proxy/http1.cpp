// proxy/http1.cpp — see http1.h.
#include "proxy/http1.h"

#include <cstring>

namespace herd::proxy::http1 {
namespace {

// RFC 9110 tchar.
struct TcharTable {
  bool v[256] = {};
  constexpr TcharTable() {
    for (int c = '0'; c <= '9'; ++c) v[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) v[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) v[c] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) v[static_cast<unsigned char>(c)] = true;
  }
};
constexpr TcharTable kTchar;

inline bool is_tchar(char c) { return kTchar.v[static_cast<unsigned char>(c)]; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_blank(char c) { return c == ' ' || c == '\t'; }
inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Finds the end of the current line starting at p: returns the position of
// '\n' (the line's content ends before an optional '\r'), or nullptr.
inline const char* find_lf(const char* p, const char* end) {
  return static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
}

bool parse_content_length(std::string_view v, int64_t& out) {
  bool any = false;
  bool ok = true;
  int64_t seen = -1;
  for_each_token(v, [&](std::string_view t) {
    int64_t n = 0;
    for (char c : t) {
      if (c < '0' || c > '9' || n > (INT64_MAX - 9) / 10) {
        ok = false;
        return;
      }
      n = n * 10 + (c - '0');
    }
    if (seen >= 0 && seen != n) ok = false;
    seen = n;
    any = true;
  });
  if (!ok || !any) return false;
  if (out >= 0 && out != seen) return false;  // several headers that disagree
  out = seen;
  return true;
}

// Parses header lines from p to the empty line. Fills out.fields and the
// framing facts. Returns Incomplete/Error/Complete.
Status parse_fields(const char* base, const char* p, const char* end, Head& out, bool request,
                    bool accept_invalid) {
  bool has_te = false;
  bool te_chunked_last = false;
  bool te_chunked_seen = false;
  bool te_other = false;
  bool te_twice = false;
  bool has_cl = false;
  for (;;) {
    const char* lf = find_lf(p, end);
    if (!lf) return Status::Incomplete;
    const char* eol = (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
    if (eol == p) {  // empty line: end of head
      out.head_len = static_cast<size_t>(lf + 1 - base);
      break;
    }
    if (*p == ' ' || *p == '\t') {
      out.error = "obsolete line folding";
      return Status::Error;
    }
    const char* colon = p;
    while (colon < eol &&
           (is_tchar(*colon) || (accept_invalid && *colon != ':' &&
                                 static_cast<unsigned char>(*colon) > 0x20 && *colon != 0x7f)))
      ++colon;
    if (colon == p || colon == eol || *colon != ':') {
      out.error = "invalid header name";
      return Status::Error;
    }
    const char* v = colon + 1;
    while (v < eol && (*v == ' ' || *v == '\t')) ++v;
    const char* ve = eol;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) --ve;
    for (const char* c = v; c < ve; ++c) {
      unsigned char u = static_cast<unsigned char>(*c);
      if ((u < 0x20 && u != '\t') || u == 0x7f) {
        out.error = "invalid character in header value";
        return Status::Error;
      }
    }
    if (out.nfields == kMaxHeaders) {
      out.error = "too many headers";
      return Status::Error;
    }
    Field& f = out.fields[out.nfields++];
    f.name_off = static_cast<uint32_t>(p - base);
    f.name_len = static_cast<uint16_t>(colon - p);
    f.value_off = static_cast<uint32_t>(v - base);
    f.value_len = static_cast<uint32_t>(ve - v);
    std::string_view name(p, static_cast<size_t>(colon - p));
    std::string_view value(v, static_cast<size_t>(ve - v));
    switch (name.size()) {
      case 4:
        if (request && iequals(name, "host")) {
          // Several Host headers must agree (RFC 9112 §3.2; HAProxy answers 400 too).
          if (out.host_index >= 0 &&
              !iequals(out.value(base, static_cast<size_t>(out.host_index)), value)) {
            out.error = "conflicting host headers";
            return Status::Error;
          }
          if (out.host_index < 0) out.host_index = static_cast<int>(out.nfields - 1);
        }
        break;
      case 6:
        if (iequals(name, "expect") && iequals(value, "100-continue")) out.expect_continue = true;
        break;
      case 7:
        if (iequals(name, "upgrade")) {
          for_each_token(value, [&](std::string_view t) {
            if (iequals(t, "websocket")) out.upgrade_websocket = true;
          });
        }
        break;
      case 10:
        if (iequals(name, "connection")) {
          for_each_token(value, [&](std::string_view t) {
            if (iequals(t, "close"))
              out.conn_close = true;
            else if (iequals(t, "keep-alive"))
              out.conn_keep_alive = true;
            else if (iequals(t, "upgrade"))
              out.upgrade = true;
          });
        }
        break;
      case 14:
        if (iequals(name, "content-length")) {
          if (has_cl || value.find(',') != std::string_view::npos) out.cl_normalise = true;
          if (!parse_content_length(value, out.content_length)) {
            out.error = "invalid content-length";
            return Status::Error;
          }
          has_cl = true;
        }
        break;
      case 20:
        if (!request && iequals(name, "sec-websocket-accept")) out.websocket_accept = true;
        break;
      case 17:
        // The key is base64 of 16 bytes (RFC 6455 §4.1); haproxy checks its length.
        if (request && value.size() == 24 && iequals(name, "sec-websocket-key"))
          out.websocket_key = true;
        if (iequals(name, "transfer-encoding")) {
          has_te = true;
          // Codings accumulate over several fields; chunked may come once.
          // An empty coding before a comma (", chunked") is a coding haproxy
          // does not know either: it answers 422.
          for (std::string_view rest = value;;) {
            const size_t comma = rest.find(',');
            std::string_view t = rest.substr(0, comma);
            while (!t.empty() && is_blank(t.front())) t.remove_prefix(1);
            while (!t.empty() && is_blank(t.back())) t.remove_suffix(1);
            if (!t.empty()) {
              te_chunked_last = iequals(t, "chunked");
              te_twice = te_twice || (te_chunked_last && te_chunked_seen);
              te_chunked_seen = te_chunked_seen || te_chunked_last;
              te_other = te_other || !te_chunked_last;
            } else if (comma != std::string_view::npos) {
              te_other = true;
            }
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
          }
        }
        break;
      default:
        break;
    }
    p = lf + 1;
  }
  if (has_te) {
    if (te_twice) {
      out.error = "transfer-encoding: chunked more than once";
      return Status::Error;
    }
    if (te_chunked_last) {
      out.chunked = true;
    } else if (request) {
      out.error = "transfer-encoding without final chunked";
      return Status::Error;
    }
    if (te_other) {
      // haproxy 2.6 knows no coding but chunked: 422 to a request, 502 to a
      // response (`gzip, chunked` included).
      out.error = "transfer-encoding other than chunked";
      out.error_status = 422;
      return Status::Error;
    }
    // Transfer-Encoding wins over Content-Length; the message is then
    // suspect (RFC 9112 §6.3): the connection closes after it.
    out.te_and_cl = has_cl;
    out.content_length = -1;
  }
  // A WebSocket handshake (Connection: upgrade, Upgrade: websocket) without
  // a body needs its key, as haproxy 2.6 checks (a request with a body is
  // not a handshake it switches on).
  if (request && out.upgrade && out.upgrade_websocket && !out.websocket_key && !out.chunked &&
      out.content_length <= 0) {
    out.error = "websocket handshake without a valid sec-websocket-key";
    return Status::Error;
  }
  return Status::Complete;
}

// Clears what a previous parse into `out` left behind.
void reset_facts(Head& out) {
  out.nfields = 0;
  out.content_length = -1;
  out.chunked = out.conn_close = out.conn_keep_alive = out.expect_continue = out.upgrade = false;
  out.upgrade_websocket = out.websocket_key = out.websocket_accept = false;
  out.host_index = -1;
  out.error = nullptr;
  out.te_and_cl = false;
  out.cl_normalise = false;
  out.error_status = 400;
}

bool parse_version(const char* p, const char* e, int& version) {
  if (e - p != 8 || std::memcmp(p, "HTTP/1.", 7) != 0) return false;
  if (p[7] == '1')
    version = 11;
  else if (p[7] == '0')
    version = 10;
  else
    return false;
  return true;
}

// A request's version as haproxy 2.6 takes it: exactly "HTTP/d.d"; 1.1 and
// above are HTTP/1.1 (and sent on as such), below are HTTP/1.0-like and sent
// on as received.
bool parse_request_version(const char* p, const char* e, int& version) {
  if (e - p != 8 || std::memcmp(p, "HTTP/", 5) != 0 || !is_digit(p[5]) || p[6] != '.' ||
      !is_digit(p[7]))
    return false;
  version = (p[5] > '1' || (p[5] == '1' && p[7] >= '1')) ? 11 : 10;
  return true;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

Status parse_request(const char* buf, size_t len, Head& out, bool accept_invalid) {
  reset_facts(out);
  const char* p = buf;
  const char* end = buf + len;
  // Tolerate empty lines before the request line (RFC 9112 §2.2).
  while (p < end && (*p == '\r' || *p == '\n')) ++p;
  const char* lf = find_lf(p, end);
  if (!lf) {
    for (const char* c = p; c < end; ++c) {  // reject garbage early
      unsigned char u = static_cast<unsigned char>(*c);
      // (a CR must be followed by LF: lines ending in a bare CR are refused at once)
      if ((u < 0x20 && u != '\r' && u != '\t') || (u == '\r' && c + 1 < end)) {
        out.error = "invalid request line";
        return Status::Error;
      }
    }
    return Status::Incomplete;
  }
  const char* eol = (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
  // method SP+ target SP+ version, blanks being spaces or tabs (haproxy).
  const char* m = p;
  while (m < eol && is_tchar(*m)) ++m;
  if (m == p || m == eol || !is_blank(*m)) {
    out.error = "invalid method";
    return Status::Error;
  }
  const char* t = m;
  while (t < eol && is_blank(*t)) ++t;
  const char* te = t;
  for (; te < eol && !is_blank(*te); ++te) {
    const auto u = static_cast<unsigned char>(*te);
    // Visible ASCII only; a fragment or raw bytes >= 0x80 only when relaxed.
    if (u < 0x21 || u == 0x7f || ((u == '#' || u >= 0x80) && !accept_invalid)) {
      out.error = "invalid character in request target";
      return Status::Error;
    }
  }
  if (te == t || te == eol) {
    out.error = "invalid request target";
    return Status::Error;
  }
  const char* v = te;
  while (v < eol && is_blank(*v)) ++v;
  if (!parse_request_version(v, eol, out.version)) {
    out.error = "invalid version";
    return Status::Error;
  }
  out.version_str = std::string_view(v, 8);
  out.method = std::string_view(p, static_cast<size_t>(m - p));
  out.target = std::string_view(t, static_cast<size_t>(te - t));
  if (out.method == "PRI") {
    // The HTTP/2 connection preface ("PRI * HTTP/2.0"): herd speaks only
    // HTTP/1 on a clear port (haproxy would switch to HTTP/2 on a whole
    // preface and answers 400 to a PRI request otherwise).
    out.error = "HTTP/2 preface on an HTTP/1 port";
    return Status::Error;
  }
  // The target's form (RFC 9112 §3.2): origin-form starts with '/',
  // absolute-form names a scheme, authority-form is CONNECT's, '*' is
  // for OPTIONS (haproxy takes it with any method). Anything else is refused, as haproxy refuses
  // `GET a/b`.
  if (out.target[0] != '/' && out.method != "CONNECT" && out.target != "*" &&
      out.target.find("://") == std::string_view::npos) {
    out.error = "invalid request target form";
    return Status::Error;
  }
  Status st = parse_fields(buf, lf + 1, end, out, true, accept_invalid);
  if (st == Status::Complete && out.host_index >= 0 && out.target[0] != '/') {
    // An absolute-form target's authority, or CONNECT's, must match Host.
    auto scheme = out.target.find("://");
    std::string_view auth;
    if (scheme != std::string_view::npos) {
      auth = out.target.substr(scheme + 3);
      auth = auth.substr(0, auth.find_first_of("/?#"));
    } else if (out.method == "CONNECT") {
      auth = out.target;
    }
    if (!auth.empty() && !iequals(auth, out.value(buf, static_cast<size_t>(out.host_index)))) {
      out.error = "request target authority does not match host";
      return Status::Error;
    }
  }
  return st;
}

Status parse_response(const char* buf, size_t len, Head& out, bool accept_invalid) {
  reset_facts(out);
  const char* p = buf;
  const char* end = buf + len;
  const char* lf = find_lf(p, end);
  if (!lf) {
    if (len >= 8 && std::memcmp(buf, "HTTP/1.", 7) != 0) {
      out.error = "invalid status line";
      return Status::Error;
    }
    return Status::Incomplete;
  }
  const char* eol = (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
  if (eol - p < 12 || !parse_version(p, p + 8, out.version) || p[8] != ' ') {
    out.error = "invalid status line";
    return Status::Error;
  }
  int st = 0;
  for (int i = 9; i < 12; ++i) {
    if (p[i] < '0' || p[i] > '9') {
      out.error = "invalid status code";
      return Status::Error;
    }
    st = st * 10 + (p[i] - '0');
  }
  if (st < 100 || (eol - p > 12 && p[12] != ' ')) {
    out.error = "invalid status code";
    return Status::Error;
  }
  out.status = st;
  out.reason = eol - p > 13 ? std::string_view(p + 13, static_cast<size_t>(eol - p - 13))
                            : std::string_view();
  return parse_fields(buf, lf + 1, end, out, false, accept_invalid);
}

namespace {

constexpr uint64_t kMaxChunk = uint64_t{1} << 55;  // haproxy's bound on a chunk size

void append_hex(std::string& out, uint64_t n) {
  char tmp[16];
  int i = 16;
  do {
    tmp[--i] = "0123456789ABCDEF"[n & 15];
    n >>= 4;
  } while (n);
  out.append(tmp + i, static_cast<size_t>(16 - i));
}

}  // namespace

// The size line ended: data follows, or the trailers after the last chunk.
void ChunkedScanner::end_size_line() { state_ = remaining_ ? State::Data : State::TrailerStart; }

// A trailer line ended: it must be a valid header field. Appends it with a
// lower-case name to *out.
bool ChunkedScanner::end_trailer_line(std::string* out) {
  std::string_view line(trailer_);
  size_t colon = 0;
  while (colon < line.size() && is_tchar(line[colon])) ++colon;
  if (colon == 0 || colon == line.size() || line[colon] != ':') return false;
  std::string_view v = line.substr(colon + 1);
  while (!v.empty() && is_blank(v.front())) v.remove_prefix(1);
  while (!v.empty() && is_blank(v.back())) v.remove_suffix(1);
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  if (out) {
    for (size_t i = 0; i < colon; ++i) out->push_back(lower(line[i]));
    out->append(": ");
    out->append(v);
    out->append("\r\n");
  }
  trailer_.clear();
  return true;
}

ChunkedScanner::Result ChunkedScanner::feed(const char* data, size_t len, size_t& used,
                                            std::string* out) {
  size_t i = 0;
  auto fail = [&] {
    used = i;
    return Result::Error;
  };
  while (i < len && state_ != State::Done) {
    char c = data[i];
    switch (state_) {
      case State::Size: {
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d >= 0) {
          ++digits_;
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(d);
          if (remaining_ > kMaxChunk) return fail();
          ++i;
          break;
        }
        if (digits_ == 0) return fail();
        state_ = State::SizeWs;
        break;  // the same byte, in SizeWs
      }
      case State::SizeWs:
        if (is_blank(c)) {
          ++i;
        } else if (c == ';') {
          state_ = State::Ext;
          ++i;
        } else if (c == '\r') {
          state_ = State::SizeLf;
          ++i;
        } else if (c == '\n') {
          end_size_line();
          ++i;
        } else {
          return fail();
        }
        break;
      case State::Ext:  // dropped: anything up to the line end
        if (c == '\r')
          state_ = State::SizeLf;
        else if (c == '\n')
          end_size_line();
        ++i;
        break;
      case State::SizeLf:
        if (c != '\n') return fail();
        end_size_line();
        ++i;
        break;
      case State::Data: {
        size_t n = len - i;
        if (n > remaining_) n = static_cast<size_t>(remaining_);
        if (out) {
          append_hex(*out, n);
          out->append("\r\n");
          out->append(data + i, n);
          out->append("\r\n");
        }
        remaining_ -= n;
        i += n;
        if (remaining_ == 0) state_ = State::DataCr;
        break;
      }
      case State::DataCr:
        if (c == '\r')
          state_ = State::DataLf;
        else if (c == '\n')
          state_ = State::Size, digits_ = 0;
        else
          return fail();
        ++i;
        break;
      case State::DataLf:
        if (c != '\n') return fail();
        state_ = State::Size;
        digits_ = 0;
        ++i;
        break;
      case State::TrailerStart:
        if (trailer_bytes_ == 0 && out) out->append("0\r\n");
        if (c == '\r') {
          state_ = State::FinalLf;
        } else if (c == '\n') {
          state_ = State::Done;
          if (out) out->append("\r\n");
        } else {
          state_ = State::Trailer;
          trailer_.push_back(c);
          ++trailer_bytes_;
        }
        ++i;
        break;
      case State::Trailer:
        if (c == '\r') {
          state_ = State::TrailerLf;
        } else if (c == '\n') {
          if (!end_trailer_line(out)) return fail();
          state_ = State::TrailerStart;
        } else {
          if (++trailer_bytes_ > kMaxTrailers) return fail();
          trailer_.push_back(c);
        }
        ++i;
        break;
      case State::TrailerLf:
        if (c != '\n' || !end_trailer_line(out)) return fail();
        state_ = State::TrailerStart;
        ++i;
        break;
      case State::FinalLf:
        if (c != '\n') return fail();
        state_ = State::Done;
        if (out) out->append("\r\n");
        ++i;
        break;
      case State::Done:
        break;
    }
  }
  used = i;
  return state_ == State::Done ? Result::Done : Result::NeedMore;
}

}  // namespace herd::proxy::http1
