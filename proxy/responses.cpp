// proxy/responses.cpp — see responses.h.
#include "proxy/responses.h"

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

std::string error_response(const std::map<int, std::string>& errorfiles, int status, bool close,
                           bool head_only) {
  auto it = errorfiles.find(status);
  if (it != errorfiles.end()) return it->second;  // sent verbatim, as HAProxy does
  return builtin_response(status, close, head_only);
}

}  // namespace herd::proxy
