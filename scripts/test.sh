#!/usr/bin/env bash
# The README's test command: installs dependencies, builds once (ccache), runs
# the whole suite with ctest in parallel, then the ThreadSanitizer build of
# the pool/concurrency tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/herd-ccache}
scripts/build.sh
(cd build && ctest --output-on-failure -j"$(nproc)" --timeout 600)
if [[ "${HERD_SKIP_TSAN:-0}" != 1 ]]; then
  HERD_BUILD_DIR=build-tsan HERD_SANITIZE=thread scripts/build.sh
  (cd build-tsan && ctest --output-on-failure -j"$(nproc)" -L tsan --timeout 900)
fi
