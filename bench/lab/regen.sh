#!/bin/sh
# The course lab's way: a Serf event handler regenerates haproxy.cfg from
# `serf members` (the lab used a Handlebars template; sed + awk here) and
# reloads haproxy with `-sf` (no master-worker, no seamless reload).
# Environment (set by bench/churn.py on the LB's serf agent, which passes it
# on to its handlers): LAB_DIR LAB_RPC LB_IP LB_PORT CLI_PORT BACKEND_PORT
# HAPROXY SERF.
set -eu
: "${LAB_DIR:?}" "${LAB_RPC:?}" "${LB_IP:?}" "${LB_PORT:?}" "${CLI_PORT:?}" "${BACKEND_PORT:?}"
HAPROXY=${HAPROXY:-haproxy}
SERF=${SERF:-serf}
here=$(cd "$(dirname "$0")" && pwd)
cat > /dev/null || true   # serf writes the changed members on stdin; we re-read them all
exec 9> "$LAB_DIR/regen.lock"
flock 9
cfg="$LAB_DIR/haproxy.cfg"
pidfile="$LAB_DIR/haproxy.pid"
sed -e "s/@LB_IP@/$LB_IP/g" -e "s/@PORT@/$LB_PORT/g" -e "s/@CLI_PORT@/$CLI_PORT/g" \
    "$here/haproxy.cfg.tmpl" > "$cfg.new"
members=$("$SERF" members -rpc-addr "$LAB_RPC" -status alive -tag role=backend)
printf '%s\n' "$members" |
    awk -v port="$BACKEND_PORT" 'NF >= 3 { split($2, a, ":"); printf "    server %s %s:%s\n", $1, a[1], port }' \
    >> "$cfg.new"
mv "$cfg.new" "$cfg"
if [ -s "$pidfile" ]; then
    # shellcheck disable=SC2046
    "$HAPROXY" -f "$cfg" -p "$pidfile" -D -sf $(cat "$pidfile") 9>&-
else
    "$HAPROXY" -f "$cfg" -p "$pidfile" -D 9>&-
fi
cat "$pidfile" >> "$LAB_DIR/haproxy-pids.log"
echo "$(date +%s.%N) ${SERF_EVENT:-init} $(grep -c "^    server " "$cfg" || true) servers" >> "$LAB_DIR/reloads.log"
