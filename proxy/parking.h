// proxy/parking.h — idle client connections without a session. An HTTP
// session idle between requests for kParkAfter is parked: its object, its
// coroutine frames, its timer and Asio's per-socket state are freed, and the
// worker's parking lot keeps the file descriptor and its idle deadline in a
// 48-byte record, watched by one readiness wait on an epoll set of its own.
// Bytes (or a close) arriving make a new session that carries on
// (resume_session, session.cpp); the deadline (which a soft stop with
// close-spread-time brings closer) or a hard stop closes the connection
// without an answer, as an idle session would be closed.
//
// Part of an I/O variant (compiled once per backend, see io_engine.h).
// Thread rules: a worker's parking lot and idle list are touched only by
// that worker's thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>

#include "proxy/worker.h"

namespace herd::proxy {
inline namespace HERD_IO_NS {

// How long a session waits idle before it parks.
inline constexpr std::chrono::milliseconds kParkAfter{100};

// A session starts waiting idle (IdleHook in the worker's idle list); the
// worker's idle tick asks it to park (request_park) kParkAfter later.
void idle_enter(Worker& w, IdleHook* h);

// Takes `sock` (an idle connection of `fe`, nothing pending on it) until it
// becomes readable or `deadline`; `timeout_ms` is the idle timeout that
// deadline came from; `since`: when the connection was accepted (kept for
// the log of a first request that never comes). False: not parked (no
// lot), `sock` untouched.
bool park_connection(Worker& w, boost::asio::ip::tcp::socket& sock, const FrontendRt& fe,
                     bool first, bool v6, std::chrono::steady_clock::time_point deadline,
                     int64_t timeout_ms, std::chrono::steady_clock::time_point since);

// Defined by session.cpp: the parking lot hands back a connection that
// became readable (`first`: it has not sent a request yet), and the idle
// tick asks an idle session (an IdleHook of a Session) to park.
void resume_session(Worker& w, const FrontendRt& fe, boost::asio::ip::tcp::socket sock, bool first,
                    std::chrono::steady_clock::time_point since);
void request_park(IdleHook* idle_session);
// Also session.cpp's: a connection of `fe` (socket `fd`, accepted at
// `since`) ended before its first request, closed by the client or at its
// timeout. Counted as haproxy counts it (ereq, req_tot, a 400 or 408),
// answered 408 at its timeout, and logged as `<BADREQ>` with CR-- or cR--
// unless `option dontlognull`; none of it with `option http-ignore-probes`.
// `req_id`: its request counter (%rt); a parked connection takes a new one.
void empty_first_request(Worker& w, const FrontendRt& fe, int fd, bool timeout,
                         std::chrono::steady_clock::time_point since,
                         uint64_t req_id = next_request_id());

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
