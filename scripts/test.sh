#!/usr/bin/env bash
# The README's test command: installs dependencies, builds once (ccache), runs
# the whole suite with ctest in parallel, then a ThreadSanitizer build of herd
# and the pool tests runs the concurrency tests (ctest label `tsan`).
#   HERD_SKIP_TSAN=1 scripts/test.sh   skips the ThreadSanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/herd-ccache}
jobs=$(nproc)
scripts/build.sh
(cd build && ctest --output-on-failure -j"$jobs" --timeout 600)
if [[ "${HERD_SKIP_TSAN:-0}" != 1 ]]; then
  HERD_BUILD_DIR=build-tsan HERD_SANITIZE=thread HERD_TARGETS="herd herd_balancing_tests" scripts/build.sh
  (cd build-tsan && ctest --output-on-failure -j"$jobs" -L tsan --timeout 900)
fi
