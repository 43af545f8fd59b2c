// proxy/debug_trace.h — haproxy's debug mode (`-d`): one line on stderr per
// stream event, in haproxy 2.6's layout, so that an operator who runs
// `herd -d -f haproxy.cfg` on a bad day reads what `haproxy -d` shows:
//
//   00000000:f.accept(0004)=000b from [127.0.0.1:39192] ALPN=<none>
//   00000000:f.clireq[000b:ffffffff]: GET /x HTTP/1.1
//   00000000:f.clihdr[000b:ffffffff]: host: 127.0.0.1:23452
//   00000000:b.srvrep[000b:000c]: HTTP/1.1 200 OK
//   00000000:b.srvhdr[000b:000c]: content-length: 335
//   00000000:b.clicls[000b:000c]
//   00000000:b.srvcls[000b:000c]
//   00000000:b.closed[000b:000c]
//
// A stream is one HTTP request (a keep-alive connection shows one `accept`
// per request, as haproxy) or one TCP connection. The numbers in brackets
// are file descriptors (the listener's, the client's, the server's; herd's
// own, so they differ from haproxy's); header names are shown lower-case.
// Each line is one write(2), so the lines of concurrent streams on several
// worker threads interleave whole. Compiled once; no socket, no Asio.
//
// Thread rules: enable() at start-up before the workers run; everything
// else on any worker thread, a StreamTrace on the thread that owns it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/http1.h"

namespace herd::proxy::debug {

namespace detail {
inline std::atomic<bool> g_on{false};
}  // namespace detail

// Whether `-d` was given (cheap: one relaxed load on the hot path).
inline bool on() { return detail::g_on.load(std::memory_order_relaxed); }
void enable();

// The events of one stream, written as they happen; the destructor writes
// the closing lines (srvcls when a server connection was used, clicls,
// closed), so every path out of an exchange ends its stream.
class StreamTrace {
 public:
  StreamTrace() = default;
  StreamTrace(const StreamTrace&) = delete;
  StreamTrace& operator=(const StreamTrace&) = delete;
  ~StreamTrace() { end(); }

  // Opens a stream: a new id and its `accept` line. `peer` is "ip:port";
  // `alpn` the protocol agreed by TLS ("" when none).
  void begin(std::string_view frontend, int listener_fd, int client_fd, std::string_view peer,
             std::string_view alpn);
  bool active() const { return active_; }
  // The request head (clireq, clihdr): `base` is where `h`'s offsets point.
  void request(const char* base, const http1::Head& h);
  // The proxy the closing lines name from now on (the backend once routed).
  void route(std::string_view backend) { proxy_.assign(backend); }
  void server_fd(int fd) { sfd_ = fd; }
  // The response head (srvrep, srvhdr), as the server sent it.
  void response(const char* base, const http1::Head& h);
  // A TCP stream: which side closed first (its fd shows as ffff from then
  // on, and the closing lines come in that order).
  void tcp_closed(bool client_first) { closer_ = client_first ? Closer::Client : Closer::Server; }
  // Writes the closing lines once; later calls do nothing.
  void end();

 private:
  void line(std::string_view px, std::string_view tag, int a, int b, bool wide,
            std::string_view text);
  void headers(std::string_view px, std::string_view tag, bool wide, const char* base,
               const http1::Head& h);

  enum class Closer { Http, Client, Server };
  bool active_ = false;
  bool srv_closed_ = false;  // srvcls already written (the server closes)
  Closer closer_ = Closer::Http;
  uint32_t id_ = 0;
  int cfd_ = -1, sfd_ = -1;
  std::string proxy_, frontend_;
};

}  // namespace herd::proxy::debug
