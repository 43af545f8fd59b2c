#!/usr/bin/env bash
# Builds herd's libFuzzer targets (tests/fuzz, clang + ASan + UBSan) into
# build-fuzz/ and runs each for a bounded time on a copy of its seed corpus
# (tests/fuzz/corpus/<target>/ is never written). See docs/testing.md.
#
#   scripts/fuzz.sh                    every target, HERD_FUZZ_SECONDS each (default 20)
#   scripts/fuzz.sh config lzw         only these targets (names without fuzz_)
#   HERD_FUZZ_SECONDS=600 scripts/fuzz.sh http1_request
#
# A crash, sanitizer report, leak, slow input (-timeout), memory blow-up
# (-rss_limit_mb) or failed invariant makes the script exit 1 after all
# targets ran; the reproducer's path is printed. Replay one with
#   build-fuzz/tests/fuzz/fuzz_<target> <reproducer>
# Other settings: HERD_FUZZ_RSS_MB (default 2048), HERD_FUZZ_JOBS (targets
# run at once, default nproc), HERD_FUZZ_BUILD_DIR
# (default build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${HERD_FUZZ_BUILD_DIR:-build-fuzz}
secs=${HERD_FUZZ_SECONDS:-20}
rss=${HERD_FUZZ_RSS_MB:-2048}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/herd-ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}

if ! command -v clang++ >/dev/null; then
  scripts/install-deps.sh
fi
if [[ ! -f $dir/CMakeCache.txt ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHERD_FUZZ=ON -DHERD_TESTS=OFF
fi
cmake --build "$dir" -j"$(nproc)" --target herd_fuzz

targets=("$@")
if ((${#targets[@]} == 0)); then
  IFS=';' read -r -a all <"$dir/fuzz_targets.txt"
  for t in "${all[@]}"; do targets+=("${t#fuzz_}"); done
fi

run=$dir/fuzz-run
mkdir -p "$run"
# One target per core at a time (HERD_FUZZ_JOBS, default nproc): each is
# single-threaded, so the run takes secs * targets / cores.
par=${HERD_FUZZ_JOBS:-$(nproc)}
fuzz_one() {
  local t=$1 bin=$dir/tests/fuzz/fuzz_$1 corpus=$run/$1/corpus log=$run/$1/log status=0
  rm -rf "${run:?}/$t"
  mkdir -p "$corpus" "$run/$t/artifacts"
  cp -r "tests/fuzz/corpus/$t/." "$corpus/"
  "$bin" -max_total_time="$secs" -rss_limit_mb="$rss" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$run/$t/artifacts/" "$corpus" </dev/null >"$log" 2>&1 || status=$?
  echo "$status" >"$run/$t/status"
}
for t in "${targets[@]}"; do
  [[ -x $dir/tests/fuzz/fuzz_$t ]] || { echo "fuzz.sh: no target fuzz_$t" >&2; exit 2; }
done
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= par)); do wait -n || true; done
  fuzz_one "$t" &
done
wait
failed=()
for t in "${targets[@]}"; do
  bin=$dir/tests/fuzz/fuzz_$t
  log=$run/$t/log
  status=$(cat "$run/$t/status" 2>/dev/null || echo 1)
  # The last status line: "#<execs> <event> cov: <edges> ft: <features> corp: <n>/<bytes> ...".
  stats=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 | tr -s ' \t' ' ' || true)
  if ((status != 0)); then
    echo "fuzz.sh: fuzz_$t FAILED (exit $status); last lines of $log:" >&2
    tail -40 "$log" >&2
    repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "fuzz.sh: reproducer: ${repro:-none written} (replay: $bin ${repro:-<file>})" >&2
    failed+=("$t")
  else
    echo "fuzz.sh: fuzz_$t ok, ${secs}s: ${stats:-no stats}"
  fi
done
if ((${#failed[@]} > 0)); then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
