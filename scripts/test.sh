#!/usr/bin/env bash
# The README's test command: installs dependencies, builds once (ccache), runs
# the whole suite with ctest in parallel, the standalone check and the
# fuzzers, then the unit tests and the integration modules labelled asan
# again in an AddressSanitizer+UBSan build on the other I/O backend (epoll),
# then a ThreadSanitizer build of herd and the
# pool tests runs the concurrency tests (ctest label `tsan`).
#   HERD_SKIP_FUZZ=1 / HERD_SKIP_ASAN=1 / HERD_SKIP_TSAN=1 skip those passes
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage's start is logged with the seconds since this script began, so
# that a CI log shows where the time goes (the budget is 40 minutes).
stage() { echo "test.sh: [${SECONDS}s] $*" >&2; }
stage "install-deps"
scripts/install-deps.sh
jobs=$(nproc)
stage "build"
scripts/build.sh
# The build must define every test the tree has: a build folder configured
# without googletest (or a test file left out) would otherwise pass quietly
# with fewer tests. Each TEST/TEST_F/TEST_P macro is at least one ctest test,
# each tests/integration/test_*.py exactly one.
count_check() {
  local want_unit want_integ got_unit got_integ
  want_unit=$(grep -rhoE '^(TEST|TEST_F|TEST_P|TYPED_TEST)\(' tests/unit | wc -l)
  want_integ=$(find tests/integration -maxdepth 1 -name 'test_*.py' | wc -l)
  got_unit=$(cd build && ctest -N -L unit | grep -cE '^ *Test +#' || true)
  got_integ=$(cd build && ctest -N -L integration | grep -cE '^ *Test +#' || true)
  echo "test.sh: the tree defines >= $want_unit unit and $want_integ integration tests;" \
    "the build has $got_unit and $got_integ"
  if ((got_unit < want_unit || got_integ != want_integ)); then
    echo "test.sh: FAILED: the build lacks tests the tree defines (see the counts above)" >&2
    exit 1
  fi
}
count_check
# Integration tests run real processes (haproxy, serf, nginx, docker) on a
# shared 2-core machine. A test that fails is run once more, alone, and named
# on stderr either way: a second failure fails the run.
ctest_once_more() {
  local dir=$1
  shift
  if ! (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600 "$@"); then
    echo "test.sh: FAILED in $dir, running these once more, alone:" \
      "$(cut -d: -f2 "$dir/Testing/Temporary/LastTestsFailed.log" | tr '\n' ' ')" >&2
    (cd "$dir" && ctest --output-on-failure --rerun-failed --timeout 600)
    echo "test.sh: the re-run passed; the first failure is above" >&2
  fi
}
# The sanitizer builds (below) run meanwhile at the lowest priority: the
# integration tests spend most of their time waiting on peers and timers,
# and the compilers take the idle cores without slowing them (nice 19 gets
# about 1/70 of a core a test process wants). Their logs are in
# build/sanitizer-builds.log; the passes below wait for them.
sanitizer_builds() {
  if [[ "${HERD_SKIP_ASAN:-0}" != 1 ]]; then
    HERD_BUILD_DIR=build-asan HERD_SANITIZE=address scripts/build.sh || return 1
  fi
  if [[ "${HERD_SKIP_TSAN:-0}" != 1 ]]; then
    HERD_BUILD_DIR=build-tsan HERD_SANITIZE=thread HERD_TARGETS="herd herd_balancing_tests" \
      scripts/build.sh || return 1
  fi
}
# (In a process group of their own, set -m, so that an early exit, a failed
# test, stops them all.)
set -m
(nice -n 19 bash -c "$(declare -f sanitizer_builds); sanitizer_builds" >build/sanitizer-builds.log 2>&1) &
sanitizer_builds_pid=$!
set +m
trap 'kill -- -"$sanitizer_builds_pid" 2>/dev/null || true' EXIT
wait_sanitizer_builds() {
  if ! wait "$sanitizer_builds_pid"; then
    tail -60 build/sanitizer-builds.log >&2
    echo "test.sh: FAILED: a sanitizer build (build/sanitizer-builds.log)" >&2
    exit 1
  fi
}
stage "unit and integration tests"
ctest_once_more build
stage "standalone check"
# Nothing in the tree reads or names a path outside the clone.
scripts/check-standalone.sh build
# libFuzzer targets (clang, ASan+UBSan) for the HTTP/1, config and gossip
# decoders, each for a bounded time on a copy of its seed corpus
# (docs/testing.md).   HERD_SKIP_FUZZ=1 skips them.
if [[ "${HERD_SKIP_FUZZ:-0}" != 1 ]]; then
  stage "fuzz"
  scripts/fuzz.sh
fi
# herd's proxy has two I/O backends (--io, $HERD_IO). The run above used the
# default (auto: io_uring where the machine allows it); the sanitizer pass
# below runs the integration tests again on epoll (the container's default).
if ! build/herd -vv | grep -q "will use io_uring"; then
  echo "test.sh: io_uring is unavailable here (herd -vv below); only epoll was tested" >&2
  build/herd -vv | grep -A3 "polling systems" >&2
fi
# AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on, UB fatal):
# a second build runs the unit tests again and the integration modules
# labelled asan (tests/CMakeLists.txt: all but those spent on peers, scale
# and timing), on the epoll backend. Each integration module runs behind
# tests/integration/sanitizer_gate.py, which fails it on any report a process
# it started left (docs/testing.md).   HERD_SKIP_ASAN=1 skips it.
stage "waiting for the sanitizer builds"
wait_sanitizer_builds
if [[ "${HERD_SKIP_ASAN:-0}" != 1 ]]; then
  stage "ASan pass"
  HERD_IO=epoll ctest_once_more build-asan -L "unit|asan"
fi
if [[ "${HERD_SKIP_TSAN:-0}" != 1 ]]; then
  stage "TSan pass"
  (cd build-tsan && ctest --output-on-failure -j"$jobs" -L tsan --timeout 900)
fi
stage "done"
