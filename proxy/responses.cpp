// proxy/responses.cpp — see responses.h.
#include "proxy/responses.h"

#include "proxy/http1.h"
#include "proxy/rewrite.h"

namespace herd::proxy {
namespace {

struct Page {
  const char* reason;
  const char* body;
  bool capitalised;        // 400/408/422 use HAProxy's older header spelling and always close
  bool says_close = true;  // with `capitalised`: a Connection: close header (422 has none)
};

Page page_for(int status) {
  switch (status) {
    case 400:
      return {"Bad request",
              "<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid "
              "request.\n</body></html>\n",
              true};
    case 422:
      return {"Unprocessable Content",
              "<html><body><h1>422 Unprocessable Content</h1>\nThe server cannot process the "
              "contained instructions.\n</body></html>\n",
              true, false};
    case 200:
      return {"OK", "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n", false};
    case 404:
      return {"Not Found",
              "<html><body><h1>404 Not Found</h1>\nThe resource could not be found.\n"
              "</body></html>\n",
              false};
    case 405:
      return {"Method Not Allowed",
              "<html><body><h1>405 Method Not Allowed</h1>\nA request was made of a resource "
              "using a request method not supported by that resource\n</body></html>\n",
              false};
    case 407:
      return {"Unauthorized",
              "<html><body><h1>407 Unauthorized</h1>\nYou need a valid user and password to access "
              "this content.\n</body></html>\n",
              false};
    case 410:
      return {"Gone",
              "<html><body><h1>410 Gone</h1>\nThe resource is no longer available and will not be "
              "available again.\n</body></html>\n",
              false};
    case 413:
      return {"Payload Too Large",
              "<html><body><h1>413 Payload Too Large</h1>\nThe request entity exceeds the maximum "
              "allowed.\n</body></html>\n",
              false};
    case 425:
      return {"Too Early",
              "<html><body><h1>425 Too Early</h1>\nYour browser sent early data.\n</body></html>\n",
              false};
    case 429:
      return {"Too Many Requests",
              "<html><body><h1>429 Too Many Requests</h1>\nYou have sent too many requests in a "
              "given amount of time.\n</body></html>\n",
              false};
    case 501:
      return {"Not Implemented",
              "<html><body><h1>501 Not Implemented</h1>\n.The server does not support the "
              "functionality required to fulfill the request.\n</body></html>\n",
              false};
    case 401:
      return {"Unauthorized",
              "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access "
              "this content.\n</body></html>\n",
              false};
    case 403:
      return {"Forbidden",
              "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n"
              "</body></html>\n",
              false};
    case 408:
      return {"Request Time-out",
              "<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete "
              "request in time.\n</body></html>\n",
              true};
    case 500:
      return {"Internal Server Error",
              "<html><body><h1>500 Internal Server Error</h1>\nAn internal server error "
              "occurred.\n</body></html>\n",
              false};
    case 502:
      return {"Bad Gateway",
              "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete "
              "response.\n</body></html>\n",
              false};
    case 504:
      return {"Gateway Time-out",
              "<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in "
              "time.\n</body></html>\n",
              false};
    case 503:
    default:
      return {"Service Unavailable",
              "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle "
              "this request.\n</body></html>\n",
              false};
  }
}

}  // namespace

std::string builtin_response(int status, bool close, bool head_only) {
  Page p = page_for(status);
  std::string body = p.body;
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + p.reason + "\r\n";
  if (p.capitalised) {
    out += "Content-length: " + std::to_string(body.size()) + "\r\nCache-Control: no-cache\r\n" +
           (p.says_close ? "Connection: close\r\n" : "") + "Content-Type: text/html\r\n";
  } else {
    out += "content-length: " + std::to_string(body.size()) +
           "\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n";
    if (close) out += "connection: close\r\n";
  }
  out += "\r\n";
  if (!head_only) out += body;
  return out;
}

std::string unauthorized_response(std::string_view realm, bool close, bool head_only) {
  std::string out = builtin_response(401, close, head_only);
  const std::string_view after = "content-type: text/html\r\n";
  std::string field = "www-authenticate: Basic realm=\"";
  field += realm;
  field += "\"\r\n";
  out.insert(out.find(after) + after.size(), field);
  return out;
}

namespace {

// The errorfile `file` (validated at parse time: a status line, fields, an
// empty line, the body) as haproxy re-emits it.
ErrorReply errorfile_reply(std::string_view file, bool close, bool req_is_10, bool head_only) {
  size_t end = file.find("\r\n\r\n");
  std::string_view head = file.substr(0, end == std::string_view::npos ? file.size() : end);
  std::string_view body = end == std::string_view::npos ? std::string_view() : file.substr(end + 4);
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  std::string_view fields =
      eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  const bool resp_is_10 = status_line.substr(0, 8) == "HTTP/1.0";
  std::string out;
  out.reserve(file.size() + 32);
  out.append(status_line);
  out += "\r\n";
  bool framed = false, file_close = false;
  while (!fields.empty()) {
    size_t e = fields.find("\r\n");
    std::string_view line = fields.substr(0, e);
    fields = e == std::string_view::npos ? std::string_view() : fields.substr(e + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (http1::iequals(name, "connection")) {
      http1::for_each_token(value, [&](std::string_view t) {
        file_close = file_close || http1::iequals(t, "close");
      });
      continue;
    }
    if (http1::iequals(name, "content-length") || http1::iequals(name, "transfer-encoding"))
      framed = true;
    lower_append(out, name);
    out += ": ";
    out.append(value);
    out += "\r\n";
  }
  const bool closes = close || file_close || !framed;
  if (closes) {
    if (!resp_is_10) out += "connection: close\r\n";
  } else if (resp_is_10 || req_is_10) {
    out += "connection: keep-alive\r\n";
  }
  out += "\r\n";
  if (!head_only) out.append(body);
  return {std::move(out), closes};
}

}  // namespace

ErrorReply error_response(const std::map<int, std::string>& errorfiles, int status, bool close,
                          bool http10_close, bool req_is_10, bool head_only) {
  auto it = errorfiles.find(status);
  if (it != errorfiles.end()) return errorfile_reply(it->second, close, req_is_10, head_only);
  return {builtin_response(status, http10_close, head_only), false};
}

}  // namespace herd::proxy
