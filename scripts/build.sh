#!/usr/bin/env bash
# Configures and builds herd and its tests into build/ (or $HERD_BUILD_DIR).
#   scripts/build.sh [extra cmake -D options]
# HERD_SANITIZE=thread|address selects a sanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${HERD_BUILD_DIR:-build}
# One compiler cache for every build of herd on this machine (demo, tests,
# sanitizers, any clone folder): ccache hashes paths relative to the clone
# (CCACHE_BASEDIR) and not the working directory (CCACHE_NOHASHDIR), so a
# fresh clone in another folder builds warm.
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/herd-ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [[ ! -f $dir/CMakeCache.txt ]]; then
  cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=${HERD_BUILD_TYPE:-RelWithDebInfo} \
    -DHERD_SANITIZE="${HERD_SANITIZE:-}" "$@"
else
  # Configure again: a build folder first configured without googletest
  # (scripts/demo.sh installs only the runtime packages) finds it now and
  # gains the unit tests.
  cmake -S . -B "$dir" "$@" >/dev/null
fi
targets=()
for t in ${HERD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$dir" -j"$(nproc)" "${targets[@]}"
