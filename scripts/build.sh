#!/usr/bin/env bash
# Configures and builds herd and its tests into build/ (or $HERD_BUILD_DIR).
#   scripts/build.sh [extra cmake -D options]
# HERD_SANITIZE=thread|address selects a sanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${HERD_BUILD_DIR:-build}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [[ ! -f $dir/CMakeCache.txt ]]; then
  cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=${HERD_BUILD_TYPE:-RelWithDebInfo} \
    -DHERD_SANITIZE="${HERD_SANITIZE:-}" "$@"
fi
targets=()
for t in ${HERD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$dir" -j"$(nproc)" "${targets[@]}"
