// proxy/queue.cpp — see queue.h.
#include "proxy/queue.h"

#include <algorithm>

namespace herd::proxy {

bool BackendQueue::push(const std::shared_ptr<QueueWaiter>& w, const void* server, int maxqueue) {
  std::lock_guard<std::mutex> lock(mu_);
  Fifo& q = server ? servers_[server] : backend_;
  if (server && maxqueue > 0 && q.size() >= static_cast<size_t>(maxqueue)) return false;
  w->server = server;
  w->state = QueueWaiter::State::Waiting;
  w->since = Clock::now();
  q.push_back(w);
  ++waiting_;
  if (!server) ++backend_count_;
  return true;
}

bool BackendQueue::release(const void* server, bool usable) {
  std::shared_ptr<QueueWaiter> w;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Fifo* sq = nullptr;
    if (auto it = servers_.find(server); it != servers_.end() && !it->second.empty())
      sq = &it->second;
    Fifo* bq = usable && !backend_.empty() ? &backend_ : nullptr;
    // The one that waited longer, as process_srv_queue() compares the heads.
    Fifo* from = sq && bq ? (bq->front()->since < sq->front()->since ? bq : sq) : (sq ? sq : bq);
    if (!from) return false;
    w = std::move(from->front());
    from->pop_front();
    --waiting_;
    if (from == bq) --backend_count_;
    if (sq && sq->empty()) servers_.erase(server);
    w->server = server;
    w->state = QueueWaiter::State::Granted;
  }
  if (w->wake) w->wake();
  return true;
}

int BackendQueue::grant_free(const void* server, bool usable, const std::function<bool()>& take,
                             const std::function<void()>& give_back) {
  int n = 0;
  while (has_waiters() && take()) {
    if (!release(server, usable)) {
      give_back();
      break;
    }
    ++n;
  }
  return n;
}

bool BackendQueue::erase(Fifo& q, const QueueWaiter& w) {
  auto it = std::find_if(q.begin(), q.end(), [&](const auto& p) { return p.get() == &w; });
  if (it == q.end()) return false;
  q.erase(it);
  return true;
}

bool BackendQueue::cancel(QueueWaiter& w) {
  std::lock_guard<std::mutex> lock(mu_);
  if (w.state != QueueWaiter::State::Waiting) return w.state == QueueWaiter::State::Cancelled;
  if (w.server) {
    if (auto it = servers_.find(w.server); it != servers_.end()) {
      erase(it->second, w);
      if (it->second.empty()) servers_.erase(it);
    }
  } else if (erase(backend_, w)) {
    --backend_count_;
  }
  --waiting_;
  w.state = QueueWaiter::State::Cancelled;
  return true;
}

size_t BackendQueue::backend_length() const {
  std::lock_guard<std::mutex> lock(mu_);
  return backend_.size();
}

size_t BackendQueue::server_length(const void* server) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = servers_.find(server);
  return it == servers_.end() ? 0 : it->second.size();
}

}  // namespace herd::proxy
