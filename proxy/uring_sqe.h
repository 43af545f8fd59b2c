// proxy/uring_sqe.h — force-included (-include) into the io_uring copy of the
// workers (proxy/CMakeLists.txt), before Asio: every submission queue entry
// Asio takes starts with user_data 0.
//
// Why: Asio 1.81 prepares its cancel and timeout-remove entries without
// setting user_data, and liburing 2.3's io_uring_prep_*() leave the field as
// it was, so such an entry keeps the user_data of the request that last used
// its ring slot: often another socket's operation queue. The kernel copies it
// into the cancel's completion, and Asio then completes that other socket's
// pending operation with the cancel's result (0, -ENOENT, -EALREADY): a read
// that "completed" with nothing read, a wait that ended while its socket was
// idle, and the real completion arriving later for an operation that is no
// longer there. Seen as lost reads and stuck connections when many sessions
// cancelled their waits at once (test_io_backends: bursts of keep-alive
// connections). Asio only reads user_data it set itself, after the prep call,
// so clearing it at get_sqe time is all the fix needs. Nothing else includes
// this file.
#pragma once

#include <liburing.h>

static inline struct io_uring_sqe* herd_io_uring_get_sqe(struct io_uring* ring) {
  struct io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe) io_uring_sqe_set_data(sqe, nullptr);
  return sqe;
}
#define io_uring_get_sqe herd_io_uring_get_sqe
