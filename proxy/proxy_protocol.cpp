// proxy/proxy_protocol.cpp — see proxy_protocol.h.
#include "proxy/proxy_protocol.h"

#include <arpa/inet.h>

namespace herd::proxy {

std::string proxy_header(int version, std::string_view src_ip, uint16_t src_port,
                         std::string_view dst_ip, uint16_t dst_port) {
  const std::string src(src_ip), dst(dst_ip);
  unsigned char s[16], d[16];
  const bool v4 =
      inet_pton(AF_INET, src.c_str(), s) == 1 && inet_pton(AF_INET, dst.c_str(), d) == 1;
  const bool v6 =
      !v4 && inet_pton(AF_INET6, src.c_str(), s) == 1 && inet_pton(AF_INET6, dst.c_str(), d) == 1;
  if (version == 1) {
    if (!v4 && !v6) return "PROXY UNKNOWN\r\n";
    return std::string("PROXY ") + (v4 ? "TCP4 " : "TCP6 ") + src + " " + dst + " " +
           std::to_string(src_port) + " " + std::to_string(dst_port) + "\r\n";
  }
  std::string out("\r\n\r\n\0\r\nQUIT\n", 12);
  const size_t alen = v4 ? 4 : v6 ? 16 : 0;
  out += static_cast<char>(alen ? 0x21 : 0x20);            // v2, PROXY (LOCAL when unknown)
  out += static_cast<char>(v4 ? 0x11 : v6 ? 0x21 : 0x00);  // TCP over IPv4 / IPv6
  const size_t len = alen ? 2 * alen + 4 : 0;
  out += static_cast<char>(len >> 8);
  out += static_cast<char>(len & 0xff);
  if (!alen) return out;
  out.append(reinterpret_cast<const char*>(s), alen);
  out.append(reinterpret_cast<const char*>(d), alen);
  for (uint16_t port : {src_port, dst_port}) {
    out += static_cast<char>(port >> 8);
    out += static_cast<char>(port & 0xff);
  }
  return out;
}

}  // namespace herd::proxy
