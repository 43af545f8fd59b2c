// proxy/splice.h — zero-copy relay: bytes moved socket to socket with
// splice(2) through a pipe, never through a user-space buffer. Used for the
// bodies no rule inspects (Content-Length or until-close; a chunked body is
// read so that its framing is checked) and by the passthrough tunnel (`mode
// tcp`, 101 upgrades), when both sides are plain TCP sockets.
//
// haproxy's `option splice-request|splice-response|splice-auto` and
// `maxpipes`/`tune.pipesize` (config/model.h) choose where it applies;
// splice_policy() resolves them for one frontend/backend pair.
//
// Waits are Asio's (async_wait for readable/writable), so both I/O backends
// can run it; each worker keeps its pipes in a PipePool (at most its share
// of `maxpipes`; without a free pipe a relay copies as before).
//
// Part of an I/O variant (compiled once per backend, see io_engine.h).
// Thread rules: a PipePool belongs to one worker thread; splice_relay() runs
// on the thread that owns both sockets.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <vector>

#include "config/model.h"

#ifndef HERD_IO_NS
#error "splice.h belongs to an I/O variant: compile with HERD_IO_NS (proxy/CMakeLists.txt)"
#endif

namespace herd::proxy {
inline namespace HERD_IO_NS {

struct Pipe {
  int r = -1, w = -1;
  size_t held = 0;  // bytes in the pipe (taken from the source, not yet sent)
  explicit operator bool() const { return r >= 0; }
};

class PipePool {
 public:
  // `max`: pipes this worker may hold at once; `size`: F_SETPIPE_SZ (0: the
  // kernel's default).
  PipePool(int max, int size) : max_(max), size_(size) {}
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;
  // A pipe, or an empty one when `maxpipes` is reached or pipe2() fails.
  Pipe take();
  // Back to the pool; a pipe still holding bytes is closed instead.
  void give(Pipe& p);
  int in_use() const { return in_use_; }

 private:
  std::vector<Pipe> free_;
  int in_use_ = 0;
  int max_;
  int size_;
};

// Where a relay may splice, for one request on a frontend and a backend.
struct SplicePolicy {
  bool request = false;   // client -> server bodies (and tunnel upload)
  bool response = false;  // server -> client bodies (and tunnel download)
  // splice-auto, per direction: only what is larger than a buffer.
  bool auto_request = false;
  bool auto_response = false;
};
SplicePolicy splice_policy(const config::Proxy& fe, const config::Proxy& be);

// What a relay did: bytes read from `from` and written to `to` (equal unless
// it failed midway), how it ended.
struct SpliceResult {
  enum class End { Done, Eof, FromError, ToError, Aborted };
  End end = End::Done;
  uint64_t moved = 0;  // written to `to`
  boost::system::error_code ec;
};

// Which side a relay waits for; the owner sets the matching deadline.
enum class SpliceWait { Source, Sink };

// Moves `limit` bytes (limit < 0: until EOF) from `from` to `to` through
// `pipe`, which is empty on entry and again on a Done/Eof return. Eof: the
// source closed (before `limit` when one was given). Aborted: a wait was
// cancelled (the owner's deadline or a stop). `before_wait` is called before
// each wait. `moved_out` (optional) follows the bytes written as they go.
boost::asio::awaitable<SpliceResult> splice_relay(
    boost::asio::ip::tcp::socket& from, boost::asio::ip::tcp::socket& to, Pipe& pipe, int64_t limit,
    const std::function<void(SpliceWait)>& before_wait, uint64_t* moved_out = nullptr);

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
