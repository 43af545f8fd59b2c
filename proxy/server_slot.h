// proxy/server_slot.h — the "pick" and "queue" phases of an exchange: a
// server of the backend with a free connection slot (maxconn), taken at
// once or after waiting in the backend's queue (queue.h), and the slot's
// return, which hands it to the oldest waiter. Shared by the HTTP exchange
// (session.cpp) and the TCP one (tcp_session.cpp).
//
// Part of an I/O variant (compiled once per backend, see io_engine.h).
// Thread rules: the worker thread of the request; release_slot() wakes
// waiters of other workers through a post to their io_context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "balancing/pool.h"
#include "proxy/queue.h"
#include "proxy/worker.h"

namespace herd::proxy {
inline namespace HERD_IO_NS {

struct SlotResult {
  enum class Status {
    Ok,            // `srv` holds a slot (its inflight counted)
    NoServer,      // no usable server
    QueueTimeout,  // waited `timeout queue` (else `timeout connect`)
    QueueFull,     // the persistent server's queue is at its maxqueue
    Stopped,       // the worker is aborting
  };
  Status status = Status::NoServer;
  const balancing::Server* srv = nullptr;
  long t_queue_ms = 0;  // time spent queued (0 when none)
  // Set when `srv` comes from a snapshot newer than the caller's (the pool
  // changed while the request waited in the queue): the snapshot holding
  // it, to keep for as long as `srv` is used.
  std::shared_ptr<const balancing::PoolSnapshot> keep;
};

// The fast path, without a coroutine: a slot at once when nobody is queued
// before this request and one is free; nullptr otherwise (then co_await
// acquire_slot(), which tries again and queues).
const balancing::Server* try_slot_now(Worker& w, int backend, const balancing::BackendSnapshot& be,
                                      const balancing::PickContext& ctx,
                                      const balancing::Server* persist);

// `option abortonclose`: how a client that goes away ends its wait in the
// queue. The session sets `aborted` and cancels `event` (set by
// acquire_slot() while it waits); acquire_slot() then gives up as after a
// timeout (the session tells the two apart by `aborted`).
struct QueueAbort {
  bool aborted = false;
  std::weak_ptr<boost::asio::steady_timer> event;
};

// Takes a slot on `persist` (cookie persistence; it waits in that server's
// queue when the server is full) or on a server the balancer picks (it
// waits in the backend queue when every usable server is full). Counts
// qcur/qmax on the backend and server, and the queue time.
boost::asio::awaitable<SlotResult> acquire_slot(Worker& w, int backend,
                                                const balancing::BackendSnapshot& be,
                                                const config::Proxy& bcfg,
                                                const balancing::PickContext& ctx,
                                                const balancing::Server* persist,
                                                QueueAbort* abort = nullptr);

// Gives back the slot of `srv` held by a request of backend `backend`:
// to the oldest waiter that may take it, else to the server.
void release_slot(Worker& w, int backend, const balancing::Server& srv);

// The address to connect to for `srv` (no port: the client's destination port).
boost::asio::ip::tcp::endpoint server_endpoint(const balancing::Server& srv, uint16_t dst_port);

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
