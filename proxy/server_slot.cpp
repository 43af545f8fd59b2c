// proxy/server_slot.cpp — see server_slot.h.
#include "proxy/server_slot.h"

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstring>

namespace herd::proxy {
inline namespace HERD_IO_NS {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using balancing::Counter;

namespace {

const balancing::Server* find_live(const balancing::BackendSnapshot& be, const void* live) {
  for (const auto& s : be.servers)
    if (s->live.get() == live) return s.get();
  return nullptr;
}

}  // namespace

const balancing::Server* try_slot_now(Worker& w, int backend, const balancing::BackendSnapshot& be,
                                      const balancing::PickContext& ctx,
                                      const balancing::Server* persist) {
  BackendQueue& q = *w.shared.queues[static_cast<size_t>(backend)];
  if (persist) {
    if (q.server_waiting(persist->live.get()) || !persist->take_slot()) return nullptr;
    return persist;
  }
  if (q.backend_waiting()) return nullptr;
  const balancing::Server* s = be.pick(ctx);
  return s && s->take_slot() ? s : nullptr;
}

asio::awaitable<SlotResult> acquire_slot(Worker& w, int backend,
                                         const balancing::BackendSnapshot& be,
                                         const config::Proxy& bcfg,
                                         const balancing::PickContext& ctx,
                                         const balancing::Server* persist, QueueAbort* abort) {
  SlotResult r;
  BackendQueue& q = *w.shared.queues[static_cast<size_t>(backend)];
  const void* key = persist ? persist->live.get() : nullptr;
  // At once when nobody waits before us.
  auto try_now = [&]() -> const balancing::Server* {
    if (persist) return persist->take_slot() ? persist : nullptr;
    const balancing::Server* s = be.pick(ctx);
    if (s && s->take_slot()) return s;
    return nullptr;
  };
  if (persist ? !q.server_waiting(key) : !q.backend_waiting()) {
    if ((r.srv = try_now())) {
      r.status = SlotResult::Status::Ok;
      co_return r;
    }
  }
  if (!persist && be.usable_weight() <= 0) co_return r;  // NoServer
  if (w.aborting) {
    r.status = SlotResult::Status::Stopped;
    co_return r;
  }

  // Wait in the queue: the waiter's wake cancels `event` on this worker's
  // thread; its expiry is the queue timeout.
  auto waiter = std::make_shared<QueueWaiter>();
  auto event = std::make_shared<asio::steady_timer>(w.ioc);
  const int64_t qt = bcfg.timeouts.queue ? bcfg.timeouts.queue : bcfg.timeouts.connect;
  event->expires_at(qt > 0 ? Clock::now() + std::chrono::milliseconds(qt)
                           : Clock::time_point::max());
  asio::io_context& ioc = w.ioc;
  waiter->wake = [&ioc, weak = std::weak_ptr<asio::steady_timer>(event)] {
    asio::post(ioc, [weak] {
      if (auto t = weak.lock()) t->cancel();
    });
  };
  if (!q.push(waiter, key, persist ? persist->maxqueue : 0)) {
    r.status = SlotResult::Status::QueueFull;
    co_return r;
  }
  const auto qstart = Clock::now();
  be.live->queued.inc();
  if (persist) persist->live->queued.inc();
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // A slot freed between the first try and the push found nobody queued:
  // the first waiter tries once more now that it is visible to
  // release_slot(). Later ones leave it to the releases (as haproxy, an
  // arrival never takes a slot past those queued, even when `minconn`'s
  // limit grew with it).
  const balancing::Server* got = nullptr;
  bool granted = false;
  if ((persist ? q.server_length(key) : q.backend_length()) == 1 && (got = try_now())) {
    if (!q.cancel(*waiter)) release_slot(w, backend, *got), got = nullptr, granted = true;
  } else if (abort && abort->aborted) {
    granted = !q.cancel(*waiter);
  } else {
    if (abort) abort->event = event;
    co_await event->async_wait(asio::as_tuple(asio::use_awaitable));
    granted = !q.cancel(*waiter);
  }
  be.live->queued.dec();
  if (persist) persist->live->queued.dec();
  r.t_queue_ms = static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - qstart).count());
  if (granted) {
    // The server as the newest snapshot has it: the pool may have changed
    // while the request waited (a server added, or one that came up and was
    // handed the waiters: Engine::on_pool_changes), and the slot's release
    // must see it as it is now. The result keeps that snapshot alive.
    const auto& cur = w.reader.snapshot();
    if (static_cast<size_t>(backend) < cur->backends.size() &&
        cur->backends[static_cast<size_t>(backend)].get() != &be) {
      got = find_live(*cur->backends[static_cast<size_t>(backend)], waiter->server);
      if (got) r.keep = cur;
    }
    if (!got) got = find_live(be, waiter->server);
    if (!got) {  // gone from the pool since: its slot goes back
      static_cast<balancing::ServerLive*>(const_cast<void*>(waiter->server))->inflight.dec();
      co_return r;  // NoServer
    }
  }
  if (!got) {
    r.status = w.aborting ? SlotResult::Status::Stopped : SlotResult::Status::QueueTimeout;
    co_return r;
  }
  r.srv = got;
  r.status = SlotResult::Status::Ok;
  co_return r;
}

void release_slot(Worker& w, int backend, const balancing::Server& srv) {
  balancing::ServerLive* live = srv.live.get();
  live->inflight.dec();
  BackendQueue& q = *w.shared.queues[static_cast<size_t>(backend)];
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!q.has_waiters()) return;
  // Someone waits: the free slots go to the oldest waiters that may have
  // them; with `minconn` the limit may have grown since, and several go at
  // once, as haproxy's process_srv_queue().
  while (srv.take_slot()) {
    if (!q.release(live, srv.usable())) {
      live->inflight.dec();
      break;
    }
  }
}

tcp::endpoint server_endpoint(const balancing::Server& srv, uint16_t dst_port) {
  tcp::endpoint ep;
  std::memcpy(ep.data(), &srv.addr.storage, srv.addr.len);
  ep.resize(srv.addr.len);
  if (srv.addr.port == 0) ep.port(dst_port);
  return ep;
}

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
