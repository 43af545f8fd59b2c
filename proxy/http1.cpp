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
inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Finds the end of the current line starting at p: returns the position of
// '\n' (the line's content ends before an optional '\r'), or nullptr.
inline const char* find_lf(const char* p, const char* end) {
  return static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
}

// Iterates comma-separated tokens of a header value.
template <class F>
void for_each_token(std::string_view v, F&& f) {
  size_t i = 0;
  while (i <= v.size()) {
    size_t j = v.find(',', i);
    if (j == std::string_view::npos) j = v.size();
    std::string_view t = v.substr(i, j - i);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (!t.empty()) f(t);
    i = j + 1;
  }
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
Status parse_fields(const char* base, const char* p, const char* end, Head& out, bool request) {
  bool has_te = false;
  bool te_chunked_last = false;
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
    while (colon < eol && is_tchar(*colon)) ++colon;
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
          if (!parse_content_length(value, out.content_length)) {
            out.error = "invalid content-length";
            return Status::Error;
          }
          has_cl = true;
        }
        break;
      case 17:
        if (iequals(name, "transfer-encoding")) {
          has_te = true;
          for_each_token(value,
                         [&](std::string_view t) { te_chunked_last = iequals(t, "chunked"); });
        }
        break;
      default:
        break;
    }
    p = lf + 1;
  }
  if (has_te) {
    if (te_chunked_last) {
      out.chunked = true;
    } else if (request) {
      out.error = "transfer-encoding without final chunked";
      return Status::Error;
    }
    out.content_length = -1;  // Transfer-Encoding wins over Content-Length
    (void)has_cl;
  }
  return Status::Complete;
}

// Clears what a previous parse into `out` left behind.
void reset_facts(Head& out) {
  out.nfields = 0;
  out.content_length = -1;
  out.chunked = out.conn_close = out.conn_keep_alive = out.expect_continue = out.upgrade = false;
  out.host_index = -1;
  out.error = nullptr;
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

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

Status parse_request(const char* buf, size_t len, Head& out) {
  reset_facts(out);
  const char* p = buf;
  const char* end = buf + len;
  // Tolerate empty lines before the request line (RFC 9112 §2.2).
  while (p < end && (*p == '\r' || *p == '\n')) ++p;
  const char* lf = find_lf(p, end);
  if (!lf) {
    for (const char* c = p; c < end; ++c) {  // reject garbage early
      unsigned char u = static_cast<unsigned char>(*c);
      if (u < 0x20 && u != '\r' && u != '\t') {
        out.error = "invalid request line";
        return Status::Error;
      }
    }
    return Status::Incomplete;
  }
  const char* eol = (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
  const char* m = p;
  while (m < eol && is_tchar(*m)) ++m;
  if (m == p || m == eol || *m != ' ') {
    out.error = "invalid method";
    return Status::Error;
  }
  const char* t = m + 1;
  const char* te = t;
  while (te<eol&& static_cast<unsigned char>(*te)> 0x20 && *te != 0x7f) ++te;
  if (te == t || te == eol || *te != ' ') {
    out.error = "invalid request target";
    return Status::Error;
  }
  if (!parse_version(te + 1, eol, out.version)) {
    out.error = "invalid version";
    return Status::Error;
  }
  out.method = std::string_view(p, static_cast<size_t>(m - p));
  out.target = std::string_view(t, static_cast<size_t>(te - t));
  Status st = parse_fields(buf, lf + 1, end, out, true);
  if (st == Status::Complete && out.host_index >= 0 && out.target[0] != '/') {
    // An absolute-form target's authority must match Host.
    auto scheme = out.target.find("://");
    if (scheme != std::string_view::npos) {
      auto auth = out.target.substr(scheme + 3);
      auth = auth.substr(0, auth.find_first_of("/?#"));
      if (!iequals(auth, out.value(buf, static_cast<size_t>(out.host_index)))) {
        out.error = "absolute-form authority does not match host";
        return Status::Error;
      }
    }
  }
  return st;
}

Status parse_response(const char* buf, size_t len, Head& out) {
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
  return parse_fields(buf, lf + 1, end, out, false);
}

ChunkedScanner::Result ChunkedScanner::feed(const char* data, size_t len, size_t& used) {
  size_t i = 0;
  while (i < len && state_ != State::Done) {
    char c = data[i];
    switch (state_) {
      case State::Size: {
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d >= 0) {
          if (++digits_ > 15) return Result::Error;
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(d);
          ++i;
        } else if (digits_ == 0) {
          return Result::Error;
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::Ext;
          ++i;
        } else if (c == '\r') {
          state_ = State::SizeLf;
          ++i;
        } else if (c == '\n') {
          state_ = remaining_ ? State::Data : State::TrailerStart;
          ++i;
        } else {
          return Result::Error;
        }
        break;
      }
      case State::Ext:
        if (c == '\r')
          state_ = State::SizeLf;
        else if (c == '\n')
          state_ = remaining_ ? State::Data : State::TrailerStart;
        else if (static_cast<unsigned char>(c) < 0x20 && c != '\t')
          return Result::Error;
        ++i;
        break;
      case State::SizeLf:
        if (c != '\n') return Result::Error;
        state_ = remaining_ ? State::Data : State::TrailerStart;
        ++i;
        break;
      case State::Data: {
        size_t n = len - i;
        if (n > remaining_) n = static_cast<size_t>(remaining_);
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
          return Result::Error;
        ++i;
        break;
      case State::DataLf:
        if (c != '\n') return Result::Error;
        state_ = State::Size;
        digits_ = 0;
        ++i;
        break;
      case State::TrailerStart:
        if (c == '\r')
          state_ = State::FinalLf;
        else if (c == '\n')
          state_ = State::Done;
        else
          state_ = State::Trailer;
        ++i;
        break;
      case State::Trailer:
        if (c == '\r')
          state_ = State::TrailerLf;
        else if (c == '\n')
          state_ = State::TrailerStart;
        ++i;
        break;
      case State::TrailerLf:
        if (c != '\n') return Result::Error;
        state_ = State::TrailerStart;
        ++i;
        break;
      case State::FinalLf:
        if (c != '\n') return Result::Error;
        state_ = State::Done;
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
