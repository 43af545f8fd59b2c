// app/handover.h — reloads that reset nothing: the old process hands its
// listening sockets to the new one over a Unix `stats socket` declared with
// `expose-fd listeners`, as HAProxy does (`haproxy -x <socket>`).
//
// Wire format, HAProxy 2.6's (cli.c _getsocks, sock.c sock_get_old_sockets):
// the new process connects and sends "_getsocks\n"; the old one answers with
// the number of descriptors (a native int), then messages of at most 252
// descriptors each (SCM_RIGHTS), whose bytes give per descriptor a namespace
// name (length byte + name), an interface name (length byte + name) and 4
// zero bytes; the receiver acknowledges each message with an int. herd's
// sockets carry neither name. The receiver learns what each descriptor is
// from the socket itself (getsockname, SO_TYPE, SO_ACCEPTCONN) and takes
// the ones that match its configuration (InheritedSockets).
//
// What herd hands over: every proxy listener of every worker, and with
// membership the gossip UDP socket, the gossip TCP listener and the RPC
// listener. A herd member's state goes with a second request, "_getstate\n",
// answered with membership::handover_text() (snapshot.h), then a line
// "server-state:" and the `show servers state` text (format 1,
// stats/server_state_file.h) of the servers that membership added, so the
// new process gives them their health and admin state back; then closed.
//
// Thread rules: send_sockets() and serve_state run on the control thread
// (they block for at most a second per step, as HAProxy's do);
// receive_sockets() and receive_state() run in main() before any thread
// starts. InheritedSockets belongs to the thread that made it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace herd::app {

// Old side: answers `_getsocks` on the connected Unix socket `conn` with
// `fds`. Returns "" or what failed.
std::string send_sockets(int conn, const std::vector<int>& fds);

// New side: connects to the Unix socket `path`, sends `_getsocks` and
// returns the descriptors received in `fds` (none: the old process exposes
// nothing there). Returns "" or what failed.
std::string receive_sockets(const std::string& path, std::vector<int>* fds);

// New side: sends `_getstate` to `path` and returns everything answered
// until the old process closes ("" when it has nothing to say).
std::string receive_state(const std::string& path, std::string* text);

// `_getstate`'s answer from its two parts (state_answer()), and back
// (split_state_answer(); an answer without the "server-state:" line, from
// a herd that did not send one, is all member state).
std::string state_answer(const std::string& member_state, const std::string& server_states);
void split_state_answer(const std::string& answer, std::string* member_state,
                        std::string* server_states);

// One command on the stats socket `path` (1 s timeouts per step): everything
// answered until the process closes goes to `reply`. Returns "" or what
// failed. The master CLI's `@<pid>` prefix uses it too (app/master.h).
std::string cli_command(const std::string& path, const std::string& cmd, std::string* reply);

// The descriptors received, each looked at once.
class InheritedSockets {
 public:
  InheritedSockets() = default;
  ~InheritedSockets();  // closes the ones nobody took
  InheritedSockets(const InheritedSockets&) = delete;
  InheritedSockets& operator=(const InheritedSockets&) = delete;

  void add(const std::vector<int>& fds);
  // A TCP socket listening on ip:port ("" or "0.0.0.0": any IPv4 address),
  // or -1; each descriptor is taken once and belongs to the caller then.
  int take_tcp_listener(const std::string& ip, uint16_t port);
  // A UDP socket bound to ip:port, or -1.
  int take_udp(const std::string& ip, uint16_t port);
  std::size_t size() const { return socks_.size(); }
  // Closes every descriptor not taken; returns how many.
  std::size_t close_rest();

 private:
  struct Sock {
    int fd = -1;
    bool udp = false;
    bool listening = false;
    std::string ip;  // as inet_ntop writes it
    uint16_t port = 0;
  };
  int take(bool udp, const std::string& ip, uint16_t port);
  std::vector<Sock> socks_;
};

}  // namespace herd::app
