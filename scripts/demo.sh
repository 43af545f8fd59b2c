#!/usr/bin/env bash
# Installs what herd needs, builds it, starts three demo web applications on
# loopback and runs herd in the foreground on the bundled example config:
#   http://127.0.0.1:8080/   the balanced demo app
#   http://127.0.0.1:1936/   the stats page
#   127.0.0.1:9999           the runtime API (echo 'show stat' | socat - TCP:127.0.0.1:9999)
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export HERD_PORT=${HERD_PORT:-8080} HERD_STATS_PORT=${HERD_STATS_PORT:-1936} HERD_CLI_PORT=${HERD_CLI_PORT:-9999}
export WEBAPP_1_IP=127.0.0.1 WEBAPP_2_IP=127.0.0.1 WEBAPP_3_IP=127.0.0.1
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
for i in 1 2 3; do
  python3 examples/demo/webapp.py 127.0.0.1 300$i "web$i" & pids+=($!)
done
echo "herd: http://127.0.0.1:$HERD_PORT/  stats: http://127.0.0.1:$HERD_STATS_PORT/  runtime API: 127.0.0.1:$HERD_CLI_PORT"
build/herd -db -f examples/demo/haproxy.cfg & pids+=($!)
wait "${pids[-1]}"
