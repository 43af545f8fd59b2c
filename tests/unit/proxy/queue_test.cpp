// Unit tests of the server queue (proxy/queue.h): FIFO order, the server
// and backend queues, maxqueue, wake-ups from another thread, cancellation
// racing a grant. No sockets, no Asio.
#include "proxy/queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace herd::proxy {
namespace {

struct Waiters {
  std::vector<std::shared_ptr<QueueWaiter>> all;
  std::vector<int> woken;  // indexes, in wake order
  std::shared_ptr<QueueWaiter> make() {
    auto w = std::make_shared<QueueWaiter>();
    int i = static_cast<int>(all.size());
    w->wake = [this, i] { woken.push_back(i); };
    all.push_back(w);
    return w;
  }
};

const int kS1 = 1, kS2 = 2;
const void* s1 = &kS1;
const void* s2 = &kS2;

TEST(BackendQueue, ReleaseWithNobodyWaitingKeepsTheSlotFree) {
  BackendQueue q;
  EXPECT_FALSE(q.has_waiters());
  EXPECT_FALSE(q.release(s1, true));
}

TEST(BackendQueue, BackendWaitersAreServedInArrivalOrder) {
  BackendQueue q;
  Waiters ws;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.push(ws.make(), nullptr, 0));
  EXPECT_TRUE(q.backend_waiting());
  EXPECT_EQ(q.backend_length(), 3u);
  EXPECT_TRUE(q.release(s1, true));
  EXPECT_TRUE(q.release(s2, true));
  EXPECT_EQ(ws.woken, (std::vector<int>{0, 1}));
  EXPECT_EQ(ws.all[0]->state, QueueWaiter::State::Granted);
  EXPECT_EQ(ws.all[0]->server, s1);
  EXPECT_EQ(ws.all[1]->server, s2);
  EXPECT_EQ(ws.all[2]->state, QueueWaiter::State::Waiting);
  EXPECT_EQ(q.backend_length(), 1u);
}

TEST(BackendQueue, AnUnusableServerServesOnlyItsOwnQueue) {
  BackendQueue q;
  Waiters ws;
  ASSERT_TRUE(q.push(ws.make(), nullptr, 0));  // any server
  EXPECT_FALSE(q.release(s1, false));          // s1 draining: not for the backend queue
  ASSERT_TRUE(q.push(ws.make(), s1, 0));       // persistent on s1
  EXPECT_TRUE(q.release(s1, false));
  EXPECT_EQ(ws.woken, (std::vector<int>{1}));
}

TEST(BackendQueue, TheOlderOfTheServerAndBackendHeadsGoesFirst) {
  BackendQueue q;
  Waiters ws;
  ASSERT_TRUE(q.push(ws.make(), s1, 0));
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(q.push(ws.make(), nullptr, 0));
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(q.push(ws.make(), s1, 0));
  EXPECT_TRUE(q.release(s1, true));
  EXPECT_TRUE(q.release(s1, true));
  EXPECT_TRUE(q.release(s1, true));
  EXPECT_EQ(ws.woken, (std::vector<int>{0, 1, 2}));
  EXPECT_FALSE(q.has_waiters());
}

TEST(BackendQueue, MaxqueueBoundsAServerQueueOnly) {
  BackendQueue q;
  Waiters ws;
  EXPECT_TRUE(q.push(ws.make(), s1, 2));
  EXPECT_TRUE(q.push(ws.make(), s1, 2));
  EXPECT_FALSE(q.push(ws.make(), s1, 2));
  EXPECT_EQ(q.server_length(s1), 2u);
  EXPECT_TRUE(q.push(ws.make(), nullptr, 2));  // the backend queue has no maxqueue
  EXPECT_TRUE(q.push(ws.make(), nullptr, 2));
  EXPECT_TRUE(q.push(ws.make(), nullptr, 2));
  EXPECT_EQ(q.backend_length(), 3u);
}

TEST(BackendQueue, CancelRemovesAWaiterAndLosesToAnEarlierGrant) {
  BackendQueue q;
  Waiters ws;
  auto a = ws.make(), b = ws.make();
  ASSERT_TRUE(q.push(a, nullptr, 0));
  ASSERT_TRUE(q.push(b, nullptr, 0));
  EXPECT_TRUE(q.cancel(*a));  // timed out while waiting: removed
  EXPECT_EQ(a->state, QueueWaiter::State::Cancelled);
  EXPECT_TRUE(q.release(s1, true));  // b gets it
  EXPECT_FALSE(q.cancel(*b));        // too late: b holds the slot
  EXPECT_EQ(b->state, QueueWaiter::State::Granted);
  EXPECT_EQ(ws.woken, (std::vector<int>{1}));
  EXPECT_FALSE(q.has_waiters());
  EXPECT_FALSE(q.backend_waiting());
}

// A server that comes up takes waiters while it has free slots: its own
// queue's and, when usable, the backend's; a slot nobody takes goes back.
TEST(BackendQueue, GrantFreeHandsNewCapacityToWaiters) {
  BackendQueue q;
  Waiters ws;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.push(ws.make(), nullptr, 0));
  ASSERT_TRUE(q.push(ws.make(), s2, 0));  // pinned to s2 (cookie)
  int slots = 2, given_back = 0;
  auto take = [&] { return slots > 0 ? (--slots, true) : false; };
  auto give_back = [&] { ++slots, ++given_back; };
  // s1 has two free slots: the two oldest backend waiters, not s2's.
  EXPECT_EQ(q.grant_free(s1, true, take, give_back), 2);
  EXPECT_EQ(ws.woken, (std::vector<int>{0, 1}));
  EXPECT_EQ(ws.all[0]->server, s1);
  EXPECT_EQ(given_back, 0);
  // Not usable (draining): only its own queue may take its slots.
  slots = 5;
  EXPECT_EQ(q.grant_free(s1, false, take, give_back), 0);
  EXPECT_EQ(given_back, 1);
  EXPECT_EQ(slots, 5);
  // s2 up with unlimited slots: its own waiter and the last backend one.
  EXPECT_EQ(q.grant_free(s2, true, take, give_back), 2);
  EXPECT_EQ(ws.woken, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_FALSE(q.has_waiters());
  EXPECT_EQ(slots, 3);
}

// Slots freed on other threads wake every waiter exactly once.
TEST(BackendQueue, ReleasesFromManyThreadsWakeEachWaiterOnce) {
  BackendQueue q;
  constexpr int kWaiters = 400;
  std::vector<std::shared_ptr<QueueWaiter>> ws;
  std::atomic<int> wakes{0};
  for (int i = 0; i < kWaiters; ++i) {
    auto w = std::make_shared<QueueWaiter>();
    w->wake = [&wakes] { ++wakes; };
    ASSERT_TRUE(q.push(w, i % 2 ? s1 : nullptr, 0));
    ws.push_back(w);
  }
  std::atomic<int> granted{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      while (granted.load() < kWaiters)
        if (q.release(s1, true)) ++granted;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(wakes.load(), kWaiters);
  EXPECT_FALSE(q.has_waiters());
  for (auto& w : ws) EXPECT_EQ(w->state, QueueWaiter::State::Granted);
}

}  // namespace
}  // namespace herd::proxy
