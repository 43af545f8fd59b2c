#!/usr/bin/env bash
# The README's test command: installs dependencies, builds once (ccache), runs
# the whole suite with ctest in parallel (integration tests on both I/O
# backends), then a ThreadSanitizer build of herd
# and the pool tests runs the concurrency tests (ctest label `tsan`).
#   HERD_SKIP_TSAN=1 scripts/test.sh   skips the ThreadSanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/herd-ccache}
jobs=$(nproc)
scripts/build.sh
(cd build && ctest --output-on-failure -j"$jobs" --timeout 600)
# herd's proxy has two I/O backends (--io, $HERD_IO). The run above used the
# default (auto: io_uring where the machine allows it); the integration tests
# run again on the other one. Unit tests do not touch the I/O backend.
if build/herd -vv | grep -q "will use io_uring"; then
  (cd build && HERD_IO=epoll ctest --output-on-failure -j"$jobs" -L integration --timeout 600)
else
  echo "test.sh: io_uring is unavailable here (herd -vv below); only epoll was tested" >&2
  build/herd -vv | grep -A3 "polling systems" >&2
fi
if [[ "${HERD_SKIP_TSAN:-0}" != 1 ]]; then
  HERD_BUILD_DIR=build-tsan HERD_SANITIZE=thread HERD_TARGETS="herd herd_balancing_tests" scripts/build.sh
  (cd build-tsan && ctest --output-on-failure -j"$jobs" -L tsan --timeout 900)
fi
