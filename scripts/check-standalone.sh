#!/usr/bin/env bash
# The repository stands alone: nothing in it may read or name a path outside
# the clone. Two checks, run by scripts/test.sh after the main build:
#
# 1. No tracked file (this one aside) names a sibling folder or a machine
#    path: the shared reference folder beside the clone, an absolute path of
#    the development machine, or the variable that once pointed there.
# 2. The tests that read fixtures (every unit test, and the integration
#    tests that replay captured haproxy bytes) run in a private mount
#    namespace where the clone's parent folder is an empty tmpfs holding only
#    the clone: a test that reaches outside the repository finds nothing and
#    fails.
#
#   scripts/check-standalone.sh [build-dir]     (default: build)
# Needs root (mount namespace); CI runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
build=${1:-build}

# --- 1. references -----------------------------------------------------------
# This file is left out: it spells the patterns.
dots='\.\.'
patterns=("${dots}/shared" "/work/(shared|main)" "HERD_SHARED""_DOCS" "shared/""docs")
bad=0
for p in "${patterns[@]}"; do
  if hits=$(git ls-files -z -- . ':!scripts/check-standalone.sh' |
    xargs -0 grep -nIE -- "$p" 2>/dev/null); then
    echo "check-standalone: tracked files name a path outside the repository ($p):" >&2
    echo "$hits" >&2
    bad=1
  fi
done
if ((bad)); then exit 1; fi
echo "check-standalone: no tracked file names a path outside the repository"

# --- 2. fixture-reading tests with the parent folder emptied ----------------
parent=$(dirname "$repo")
name=$(basename "$repo")
if [[ $parent == / ]]; then
  echo "check-standalone: the clone sits at /$name; cannot empty /, step 2 needs a parent folder" >&2
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "check-standalone: step 2 needs root (a mount namespace); run as root" >&2
  exit 1
fi
# A place to keep the clone reachable while its parent is covered: one not
# under the parent.
stash_root=
for d in /run /dev/shm /tmp /var/tmp; do
  if [[ $d/ != "$parent"/* && -d $d && -w $d ]]; then
    stash_root=$d
    break
  fi
done
if [[ -z $stash_root ]]; then
  echo "check-standalone: no folder outside $parent to stash the clone in" >&2
  exit 1
fi
stash=$(mktemp -d "$stash_root/herd-standalone.XXXXXX")
trap 'rmdir "$stash" 2>/dev/null || true' EXIT
# The integration tests that read fixtures; the unit tests are all run.
integ='^integ\.(test_proxy_parity|test_stats_clients|test_config_census)$'
unshare --mount --propagation private bash -euo pipefail -c '
  repo=$1 parent=$2 name=$3 stash=$4 build=$5 integ=$6
  mount --bind "$repo" "$stash"
  mount -t tmpfs -o mode=755 herd-standalone "$parent"
  mkdir "$parent/$name"
  mount --bind "$stash" "$parent/$name"
  cd "$parent/$name"
  echo "check-standalone: $parent now holds only: $(ls -A "$parent")"
  cd "$build"
  # As in test.sh: a test that fails (timing, on a busy machine) runs once
  # more, alone; a second failure fails the check.
  ctest --output-on-failure -j"$(nproc)" --timeout 600 -L unit ||
    ctest --output-on-failure --timeout 600 --rerun-failed
  ctest --output-on-failure --timeout 600 -R "$integ" ||
    ctest --output-on-failure --timeout 600 --rerun-failed
' check-standalone "$repo" "$parent" "$name" "$stash" "$build" "$integ"
echo "check-standalone: the fixture-reading tests pass with nothing beside the clone"
