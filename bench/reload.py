#!/usr/bin/env python3
"""Reload loop (issue 16): N soft reloads (`-sf <old pid>`) in N seconds under
wrk keep-alive load, herd and haproxy side by side in one run, counting the
requests that failed: wrk's socket errors (connect, read, write, timeout)
plus non-2xx/3xx answers.

  bench/reload.py [--reloads 10] [--interval 1] [--connections 50]
                  [--modes sf,x] [--engines haproxy,herd] [--threads 1]
                  [--herd build/herd] [--herd-before OLD] [--markdown]

Modes: `sf` reloads with `-sf` alone (the new process binds its own
SO_REUSEPORT listeners; the old one's accept queue is lost when it closes);
`x` adds `-x <stats socket>` and `stats socket ... expose-fd listeners`, so
the new process takes the old one's listening sockets. Both engines run the
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
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (nginx backends, ports, the LB config)

ROOT = compare.ROOT


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


def run(engine, mode, a, tmp, backend_ports):
    port = compare.free_port()
    sock = os.path.join(tmp, f"{engine}-{mode}.sock") if mode == "x" else None
    cfg_path = os.path.join(tmp, f"{engine}-{mode}.cfg")
    with open(cfg_path, "w") as f:
        f.write(config(port, backend_ports, a.threads, sock))
    binary = {"herd": a.herd, "before": a.herd_before}.get(engine) or shutil.which("haproxy")
    log = open(os.path.join(tmp, f"{engine}-{mode}.log"), "w")
    procs, drains, ends = [], [], {}

    def start(old=None):
        args = [binary, "-db", "-f", cfg_path]
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
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    log.close()
    reqs, failed, detail = wrk_failures(out)
    drains = sorted(ends.values())
    return dict(engine=engine, mode=mode, requests=reqs, failed=failed, detail=detail,
                failed_starts=failed_starts,
                drain_max=max(drains) if drains else 0.0,
                drain_median=drains[len(drains) // 2] if drains else 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reloads", type=int, default=10)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--modes", default="sf,x")
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
                r = run(engine, mode, a, tmp, backend_ports)
                rows.append(r)
                print(f"{engine:8} -sf{' -x' if mode == 'x' else '   '}  requests {r['requests']:7}  "
                      f"failed {r['failed']:4}  ({r['detail'] or 'no errors'})  "
                      f"new process failed to start {r['failed_starts']}  "
                      f"old process exit after reload: median {r['drain_median']:.2f} s, "
                      f"max {r['drain_max']:.2f} s", flush=True)
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
        print("| engine | reload | requests | failed | old process exits after (median / max) |")
        print("|---|---|---:|---:|---|")
        for r in rows:
            print(f"| {r['engine']} | `-sf`{' `-x`' if r['mode'] == 'x' else ''} | {r['requests']} | "
                  f"{r['failed']} | {r['drain_median']:.2f} s / {r['drain_max']:.2f} s |")


if __name__ == "__main__":
    main()
