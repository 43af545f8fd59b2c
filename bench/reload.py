#!/usr/bin/env python3
"""Reload loop (issue 16): N soft reloads (`-sf <old pid>`) in N seconds under
wrk keep-alive load, herd and haproxy side by side in one run, counting the
requests that failed: wrk's socket errors (connect, read, write, timeout)
plus non-2xx/3xx answers.

  bench/reload.py [--reloads 10] [--interval 1] [--connections 50]
                  [--modes sf,x,membership] [--engines haproxy,herd] [--threads 1]
                  [--herd build/herd] [--herd-before OLD] [--markdown]

Modes: `sf` reloads with `-sf` alone (the new process binds its own
SO_REUSEPORT listeners; the old one's accept queue is lost when it closes);
`x` adds `-x <stats socket>` and `stats socket ... expose-fd listeners`, so
the new process takes the old one's listening sockets. `membership`: herd
runs with `--membership` and its backend has no `server` line: each nginx
backend is a real `serf agent` (`-tag role=backend -tag port=<its port>`,
gossip on 127.0.0.1, joined to herd's member) that herd maps to a server;
the reloads are `-sf -x`, so the gossip and RPC sockets and the member and
server states go over too. The serf agents' event handler logs every
member event and the first agent's `serf members` is polled every 0.2 s:
the row reports the member-leave/member-failed events for the balancer and
the polls that did not see it alive. haproxy has no membership: its row in
this mode is the plain `-sf -x` one, run next to herd's. Both engines run the
same config (nginx backends, `timeout http-keep-alive 2s`) and the same wrk
command; `--herd-before OLD --engines haproxy,before,herd` also runs another
herd binary (e.g. the build before a change) in the same run. wrk runs for
the reloads plus 2 s, every process is started with
-db and ended by PID. Everything listens on 127.0.0.1.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (nginx backends, ports, the LB config)

ROOT = compare.ROOT


SERF = shutil.which("serf") or "/usr/bin/serf"

MEMBERSHIP_YAML = """node: herd-lb
bind: 127.0.0.1:{gossip}
rpc: 127.0.0.1:{rpc}
pools:
  - backend: be
    match: {{ role: backend }}
    port_tag: port
"""

HANDLER = """#!/bin/sh
while read -r line; do echo "$SERF_EVENT $line" >> {log}; done
"""


def config(port, backend_ports, nbthread, sock):
    cfg = compare.lb_config(port, backend_ports, nbthread)
    cfg = cfg.replace("    timeout server 50s\n",
                      "    timeout server 50s\n    timeout http-keep-alive 2s\n", 1)
    if sock:
        cfg = cfg.replace("global\n", f"global\n    stats socket {sock} level admin expose-fd listeners\n", 1)
    return cfg


def wrk_failures(out):
    """(requests, failed, detail) from wrk's output."""
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    failed, detail = 0, []
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        failed += sum(int(x) for x in m.groups())
        detail.append(m.group(0))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        failed += int(m.group(1))
        detail.append(m.group(0))
    return reqs, failed, "; ".join(detail)


def stats_socket(path, cmd):
    """One runtime API command on the Unix socket `path`: the answer, read until it closes."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(cmd.encode() + b"\n")
        return b"".join(iter(lambda: s.recv(65536), b"")).decode()


class Members:
    """Membership mode: a real `serf agent` per backend port, joined to the
    balancer's gossip port; their event handler's log and a watcher polling
    the first agent's `serf members` for the balancer's status."""

    def __init__(self, tmp, backend_ports, gossip):
        self.events = os.path.join(tmp, "serf-events.log")
        handler = os.path.join(tmp, "serf-handler.sh")
        with open(handler, "w") as f:
            f.write(HANDLER.format(log=self.events))
        os.chmod(handler, 0o755)
        self.log = open(os.path.join(tmp, "serf.log"), "w")
        self.agents, self.rpcs, self.views = [], [], []
        for i, p in enumerate(backend_ports):
            rpc = compare.free_port()
            self.rpcs.append(rpc)
            self.agents.append(subprocess.Popen(
                [SERF, "agent", "-node", f"web{i + 1}", "-bind", f"127.0.0.1:{compare.free_port()}",
                 "-rpc-addr", f"127.0.0.1:{rpc}", "-join", f"127.0.0.1:{gossip}",
                 "-tag", "role=backend", "-tag", f"port={p}", "-event-handler", handler],
                stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        self._stop = threading.Event()
        self.watcher = None

    def herd_status(self):
        out = subprocess.run([SERF, "members", "-rpc-addr", f"127.0.0.1:{self.rpcs[0]}"],
                             capture_output=True, text=True, timeout=5).stdout
        return next((l.split()[2] for l in out.splitlines() if l.startswith("herd-lb ")), "absent")

    def watch(self):
        def loop():
            while not self._stop.is_set():
                try:
                    self.views.append(self.herd_status())
                except subprocess.TimeoutExpired:
                    self.views.append("timeout")
                time.sleep(0.2)
        self.watcher = threading.Thread(target=loop, daemon=True)
        self.watcher.start()

    def verdict(self):
        """(leave/failed events for herd-lb, polls not seeing it alive, polls)."""
        self._stop.set()
        if self.watcher:
            self.watcher.join(10)
        evs = open(self.events).read().splitlines() if os.path.exists(self.events) else []
        bad = [e for e in evs if e.split()[:2] in (["member-leave", "herd-lb"],
                                                    ["member-failed", "herd-lb"])]
        return len(bad), sum(v != "alive" for v in self.views), len(self.views)

    def stop(self):
        self._stop.set()
        for p in self.agents:
            if p.poll() is None:
                p.kill()
            p.wait(10)
        self.log.close()


def run(engine, mode, a, tmp, backend_ports):
    port = compare.free_port()
    members = mode == "membership"
    sock = os.path.join(tmp, f"{engine}-{mode}.sock") if mode in ("x", "membership") else None
    cfg_path = os.path.join(tmp, f"{engine}-{mode}.cfg")
    with open(cfg_path, "w") as f:
        f.write(config(port, [] if members else backend_ports, a.threads, sock))
    extra = []
    if members:
        gossip = compare.free_port()
        yml = os.path.join(tmp, "membership.yaml")
        with open(yml, "w") as f:
            f.write(MEMBERSHIP_YAML.format(gossip=gossip, rpc=compare.free_port()))
        extra = ["--membership", yml]
    binary = {"herd": a.herd, "before": a.herd_before}.get(engine) or shutil.which("haproxy")
    log = open(os.path.join(tmp, f"{engine}-{mode}.log"), "w")
    procs, drains, ends = [], [], {}

    def start(old=None):
        args = [binary, "-db", "-f", cfg_path, *extra]
        if old is not None:
            args += ["-sf", str(old.pid)] + (["-x", sock] if sock else [])
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    def watch_exit(p, t0):
        p.wait(60)
        ends[p.pid] = time.time() - t0

    cur = start()
    compare.wait_port(port)
    if sock:
        end = time.time() + 5
        while not os.path.exists(sock) and time.time() < end:
            time.sleep(0.02)
    serf = None
    if members:
        serf = Members(tmp, backend_ports, gossip)
        end = time.time() + 15
        while time.time() < end:  # both members' servers in the pool, and herd-lb alive
            state = stats_socket(sock, "show servers state be")
            if all(f"web{i + 1}" in state for i in range(len(backend_ports))):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the serf agents' servers never came in herd's pool")
        serf.watch()
    duration = int(a.reloads * a.interval + 2)
    wrk = subprocess.Popen(["wrk", "-t1", f"-c{a.connections}", f"-d{duration}s",
                            f"http://127.0.0.1:{port}/"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    time.sleep(1)
    failed_starts = 0
    for _ in range(a.reloads):
        old = cur
        t0 = time.time()
        cur = start(old)
        threading.Thread(target=watch_exit, args=(old, t0), daemon=True).start()
        time.sleep(a.interval)
        if cur.poll() is not None:  # the new process did not start: keep the old one
            failed_starts += 1
            cur = old
    out, _ = wrk.communicate(timeout=duration + 30)
    seen = None
    if serf:
        # Long enough for serf to suspect and declare failed a silent member
        # (probe interval 1 s, suspicion 4 x 1 s), before herd is stopped
        # (its SIGTERM leaves the cluster, which the handler would log).
        time.sleep(5)
        seen = serf.verdict()
        pool = stats_socket(sock, "show servers state be")
        seen += (sum(f"web{i + 1}" in pool for i in range(len(backend_ports))),)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    log.close()
    if serf:
        serf.stop()
    reqs, failed, detail = wrk_failures(out)
    drains = sorted(ends.values())
    return dict(engine=engine, mode=mode, requests=reqs, failed=failed, detail=detail,
                failed_starts=failed_starts, seen=seen,
                drain_max=max(drains) if drains else 0.0,
                drain_median=drains[len(drains) // 2] if drains else 0.0)


LABEL = {"sf": "-sf", "x": "-sf -x", "membership": "-sf -x --membership"}
MD_LABEL = {"sf": "`-sf`", "x": "`-sf` `-x`", "membership": "`-sf` `-x`, `--membership`"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reloads", type=int, default=10)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--modes", default="sf,x", help="sf, x, membership (comma-separated)")
    ap.add_argument("--engines", default="haproxy,herd")
    ap.add_argument("--herd", default=os.path.join(ROOT, "build", "herd"))
    ap.add_argument("--herd-before", default="")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the logs (their folder is printed)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="herd-reload-")
    os.chmod(tmp, 0o755)  # nginx workers (another user when run as root) read the body there
    backend_ports = [compare.free_port() for _ in range(2)]
    nginx = compare.start_nginx(tmp, backend_ports, 0)
    rows = []
    try:
        for mode in a.modes.split(","):
            for engine in a.engines.split(","):
                # haproxy has no membership: the plain -sf -x row beside herd's.
                r = run(engine, "x" if mode == "membership" and engine == "haproxy" else mode,
                        a, tmp, backend_ports)
                rows.append(r)
                seen = ""
                if r["seen"]:
                    seen = (f"  serf: herd-lb leave/failed events {r['seen'][0]}, polls not alive "
                            f"{r['seen'][1]} of {r['seen'][2]}, member servers in the pool at the "
                            f"end {r['seen'][3]}")
                print(f"{engine:8} {LABEL[r['mode']]:22}  requests {r['requests']:7}  "
                      f"failed {r['failed']:4}  ({r['detail'] or 'no errors'})  "
                      f"new process failed to start {r['failed_starts']}  "
                      f"old process exit after reload: median {r['drain_median']:.2f} s, "
                      f"max {r['drain_max']:.2f} s{seen}", flush=True)
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(10)
        if a.keep:
            print("logs in", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if a.markdown:
        print(f"\n{a.reloads} reloads, one every {a.interval:g} s, under `wrk -t1 -c{a.connections}` "
              f"keep-alive (nbthread {a.threads}):\n")
        members = any(r["seen"] for r in rows)
        print("| engine | reload | requests | failed | old process exits after (median / max) |" +
              (" serf saw the balancer leave/fail (events; polls not alive) |" if members else ""))
        print("|---|---|---:|---:|---|" + ("---|" if members else ""))
        for r in rows:
            seen = ""
            if members:
                seen = (f" {r['seen'][0]}; {r['seen'][1]} of {r['seen'][2]} |" if r["seen"]
                        else " (no membership) |")
            print(f"| {r['engine']} | {MD_LABEL[r['mode']]} | {r['requests']} | "
                  f"{r['failed']} | {r['drain_median']:.2f} s / {r['drain_max']:.2f} s |{seen}")


if __name__ == "__main__":
    main()
