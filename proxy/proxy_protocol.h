// proxy/proxy_protocol.h — the PROXY protocol header herd sends to a server
// with `send-proxy` (v1, text) or `send-proxy-v2` (binary), naming the
// client's connection as haproxy 2.6 does (no TLVs).
//
// Thread rules: pure function; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace herd::proxy {

// `version` 1 or 2; `src` is the client, `dst` the address it connected to
// (numeric IPv4 or IPv6 text, both of one family).
std::string proxy_header(int version, std::string_view src_ip, uint16_t src_port,
                         std::string_view dst_ip, uint16_t dst_port);

}  // namespace herd::proxy
