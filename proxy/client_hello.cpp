// proxy/client_hello.cpp — see client_hello.h. Mirrors HAProxy 2.6's
// smp_fetch_ssl_hello_type() and smp_fetch_ssl_hello_sni().
#include "proxy/client_hello.h"

#include <cstddef>

namespace herd::proxy {

Sample ssl_hello_type(std::string_view in, int* type) {
  const auto* d = reinterpret_cast<const unsigned char*>(in.data());
  const size_t left = in.size();
  if (left == 0) return Sample::MayChange;
  if (!((d[0] >= 0x14 && d[0] <= 0x17) || d[0] == 0xff)) return Sample::Absent;
  if (left < 9) return Sample::MayChange;
  if ((d[1] << 16) + d[2] < 0x00030000) return Sample::Absent;  // SSLv3 or later
  if ((d[3] << 8) + d[4] < 4) return Sample::Absent;  // room for a handshake type and length
  const size_t hs_len = (static_cast<size_t>(d[6]) << 16) + (d[7] << 8) + d[8];
  if (left < 9 + hs_len) return Sample::MayChange;  // not the whole handshake yet
  *type = d[5];
  return Sample::Found;
}

Sample ssl_sni(std::string_view in, std::string_view* name) {
  const auto* d = reinterpret_cast<const unsigned char*>(in.data());
  size_t left = in.size();
  if (left < 5) return Sample::MayChange;
  if (d[0] != 0x16 || d[1] < 0x03) return Sample::Absent;  // a handshake, SSLv3 or later
  if (left < static_cast<size_t>((d[3] << 8) + d[4] + 5)) return Sample::MayChange;
  d += 5;
  left -= 5;
  if (left < 1) return Sample::MayChange;
  if (d[0] != 0x01) return Sample::Absent;  // ClientHello
  if (left < 4) return Sample::MayChange;
  long hs_len = (static_cast<long>(d[1]) << 16) + (d[2] << 8) + d[3];
  if (hs_len < 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 2) return Sample::Absent;  // no room for extensions
  if (static_cast<long>(left) < hs_len) return Sample::MayChange;
  d += 4;
  if (d[0] < 0x03 || d[1] < 0x01) return Sample::Absent;  // TLS 1.0 at least
  long ext_len = d[34];                                   // session id length
  if (ext_len > 32 || ext_len > hs_len - 35) return Sample::Absent;
  hs_len -= 35 + ext_len;
  d += 35 + ext_len;
  if (hs_len < 4 || (ext_len = (d[0] << 8) + d[1]) < 2 || ext_len > hs_len)  // cipher suites
    return Sample::Absent;
  hs_len -= 2 + ext_len;
  d += 2 + ext_len;
  if (hs_len < 2 || d[0] < 1 || d[0] > hs_len) return Sample::Absent;  // compression methods
  hs_len -= 1 + d[0];
  d += 1 + d[0];
  if (hs_len < 2 || (ext_len = (d[0] << 8) + d[1]) > hs_len - 2) return Sample::Absent;
  hs_len = ext_len;  // the extensions
  d += 2;
  while (hs_len >= 4) {
    const long type = (d[0] << 8) + d[1];
    ext_len = (d[2] << 8) + d[3];
    if (ext_len > hs_len - 4) return Sample::Absent;
    if (type == 0) {  // server_name
      if (ext_len < 2) return Sample::Absent;
      const long list_len = (d[4] << 8) + d[5];
      if (list_len < 4 || list_len > hs_len - 6) return Sample::Absent;
      if (d[6] == 0) {  // host_name
        const size_t n = static_cast<size_t>((d[7] << 8) + d[8]);
        *name = std::string_view(reinterpret_cast<const char*>(d) + 9, n);
        return Sample::Found;
      }
    }
    hs_len -= 4 + ext_len;
    d += 4 + ext_len;
  }
  return Sample::Absent;
}

}  // namespace herd::proxy
