#!/usr/bin/env bash
# Installs what herd needs, builds it, runs herd in the foreground on the
# bundled example (examples/demo: the lab's haproxy.cfg plus a gossip
# membership file) and starts three demo web applications on loopback, each
# under `herd agent`, which joins herd's cluster by gossip: they appear in the
# pool without any file or process being touched.
#   http://127.0.0.1:8080/   the balanced demo app
#   http://127.0.0.1:1936/   the stats page
#   127.0.0.1:9999           the runtime API (echo 'show members' | socat - TCP:127.0.0.1:9999)
#   build/herd members -rpc-addr 127.0.0.1:17373
# Ctrl-C stops everything it started (the web apps leave the cluster first).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --runtime
HERD_TARGETS="herd herd-webapp" scripts/build.sh
export HERD_PORT=${HERD_PORT:-8080} HERD_STATS_PORT=${HERD_STATS_PORT:-1936} HERD_CLI_PORT=${HERD_CLI_PORT:-9999}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait || true; }
trap cleanup EXIT INT TERM
build/herd -db -f examples/demo/haproxy.cfg --membership examples/demo/membership.yaml & pids+=($!)
sleep 1
for i in 1 2 3; do
  build/herd agent -node "web$i" -bind "127.0.0.1:1795$i" -rpc-addr "127.0.0.1:1738$i" -join 127.0.0.1:17946 \
    -tag role=backend -tag "port=300$i" -- build/herd-webapp --bind 127.0.0.1 --port "300$i" --tag "web$i" &
  pids+=($!)
done
echo "herd: http://127.0.0.1:$HERD_PORT/  stats: http://127.0.0.1:$HERD_STATS_PORT/  runtime API: 127.0.0.1:$HERD_CLI_PORT"
wait "${pids[0]}"
