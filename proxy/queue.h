// proxy/queue.h — the server queue of one backend, event-driven, as
// HAProxy's pendconn lists and process_srv_queue(): a request that finds
// every server at its maxconn waits in the backend's FIFO; one that must go
// to a given server (cookie persistence) waits in that server's FIFO,
// bounded by the server's maxqueue. When a request lets go of a server's
// connection slot, release() hands the slot to the oldest waiter that may
// take it (the server's queue or the backend's, whichever waited longer) and
// wakes it; nothing polls and no waiter has a timer of its own (the queue
// timeout is the waiting session's deadline, which calls cancel()).
//
// The queue knows nothing of sockets or Asio: a waiter's `wake` is a
// closure that the waiter's owner makes (proxy/exchange: a post to the
// waiter's worker thread), so it is unit-tested without I/O.
//
// Thread rules: one BackendQueue per backend, shared by every worker; every
// member may be called from any thread (one mutex). `wake` is called after
// the mutex is released, on the thread that freed the slot.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace herd::proxy {

struct QueueWaiter {
  enum class State { Waiting, Granted, Cancelled };
  // Set by the waiter before push(); called once, when the slot is granted.
  std::function<void()> wake;
  // The server it waits for (push), then the one it was granted (release).
  // An opaque identity: the worker passes balancing::ServerLive pointers.
  const void* server = nullptr;
  State state = State::Waiting;
  std::chrono::steady_clock::time_point since{};
};

class BackendQueue {
 public:
  using Clock = std::chrono::steady_clock;

  // Whether a request of this backend must queue even though a slot may be
  // free: someone is already waiting (FIFO: arrivals do not overtake).
  // Lock-free, for the request path.
  bool backend_waiting() const { return backend_count_.load() > 0; }
  // Whether `server` has waiters of its own (lock-free when none at all do).
  bool server_waiting(const void* server) const {
    return waiting_.load() > backend_count_.load() && server_length(server) != 0;
  }
  // Whether anyone waits (lock-free): release() is worth calling.
  bool has_waiters() const { return waiting_.load() > 0; }

  // Queues `w` for any server (server == nullptr) or for `server`, whose
  // queue holds at most `maxqueue` waiters (0: no limit). False when that
  // queue is full: `w` is not queued.
  bool push(const std::shared_ptr<QueueWaiter>& w, const void* server, int maxqueue);

  // A connection slot of `server` is free (a request ended, or a retry left
  // it). `usable`: the server may take requests of the backend queue (up,
  // not draining). Returns true when the slot went to a waiter (its state is
  // Granted, its `server` is `server`, it has been woken): the caller keeps
  // the slot counted for it. False: nobody took it, the caller frees it.
  bool release(const void* server, bool usable);

  // A server of the backend gained capacity (came UP, left MAINT, was
  // added, got weight): as HAProxy's pendconn_grab_from_px(), its free
  // connection slots go to waiters (its own queue and, when `usable`, the
  // backend's), oldest first, until it is full or nobody waits. `take`
  // claims one slot of the server (false: full); `give_back` returns one
  // that nobody took. Returns how many waiters were granted.
  int grant_free(const void* server, bool usable, const std::function<bool()>& take,
                 const std::function<void()>& give_back);

  // The waiter gives up (queue timeout, client gone, stop). True: it was
  // still waiting and is removed. False: a slot was granted to it first,
  // and it now holds that slot (use it or release() it).
  bool cancel(QueueWaiter& w);

  size_t backend_length() const;
  size_t server_length(const void* server) const;

 private:
  using Fifo = std::deque<std::shared_ptr<QueueWaiter>>;
  static bool erase(Fifo& q, const QueueWaiter& w);
  mutable std::mutex mu_;
  // Mirrors of the lists' sizes for the lock-free checks (sequentially
  // consistent: see server_slot.cpp, release_slot()).
  std::atomic<int> waiting_{0};
  std::atomic<int> backend_count_{0};
  Fifo backend_;
  std::unordered_map<const void*, Fifo> servers_;
};

}  // namespace herd::proxy
