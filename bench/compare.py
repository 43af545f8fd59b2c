#!/usr/bin/env python3
"""Side-by-side benchmark: herd and haproxy, same config, same nginx backends,
same nbthread, wrk with keep-alive, alternating repeats, medians.

  bench/compare.py [--threads 1,2] [--repeats 3] [--duration 5] [--connections 50]
                   [--size 0] [--herd build/herd] [--markdown]

Everything runs on 127.0.0.1. Each run is bounded by --duration; the whole
benchmark by repeats x threads x 2 engines x duration. Prints a table of
req/s, p50/p99 latency and the herd/haproxy ratio.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not open")


def start_nginx(tmp, ports, size):
    with open(os.path.join(tmp, "body"), "wb") as f:
        f.write(b"x" * size if size else b"ok")
    servers = "\n".join(
        f"""  server {{ listen 127.0.0.1:{p} reuseport; keepalive_requests 1000000;
    root {tmp}; location / {{ default_type text/plain; try_files /body =404; }} }}""" for p in ports)
    conf = f"""worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx.err;
daemon off;
events {{ worker_connections 20000; }}
http {{ access_log off; keepalive_timeout 600s;
{servers}
}}
"""
    path = os.path.join(tmp, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    p = subprocess.Popen(["nginx", "-c", path, "-p", tmp], stderr=subprocess.DEVNULL)
    for port in ports:
        wait_port(port)
    return p


def lb_config(port, backend_ports, nbthread):
    servers = "\n".join(f"    server s{i+1} 127.0.0.1:{p}" for i, p in enumerate(backend_ports))
    return f"""global
    nbthread {nbthread}
    maxconn 9000
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
    option forwardfor
    http-request set-header X-Forwarded-Port %[dst_port]
{servers}
"""


def run_wrk(port, duration, connections, threads=1):
    out = subprocess.run(
        ["wrk", "--latency", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
         f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=duration + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def lat(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else (v * 1000 if unit == "s" else v)

    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    if errors:
        print("wrk reported errors:", [l for l in out.splitlines() if "errors" in l or "Non-2xx" in l],
              file=sys.stderr)
    return rps, lat(50), lat(99), errors


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--size", type=int, default=0, help="response body bytes")
    ap.add_argument("--backends", type=int, default=2)
    ap.add_argument("--herd", default=os.path.join(ROOT, "build", "herd"))
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="herd-bench-")
    os.chmod(tmp, 0o755)  # nginx workers run as nobody and read the body file
    backend_ports = [free_port() for _ in range(a.backends)]
    nginx = start_nginx(tmp, backend_ports, a.size)
    rows = []
    try:
        for nt in [int(x) for x in a.threads.split(",")]:
            res = {"haproxy": [], "herd": []}
            cpu = {"haproxy": 0.0, "herd": 0.0}
            for r in range(a.repeats):
                order = ["haproxy", "herd"] if r % 2 == 0 else ["herd", "haproxy"]
                for eng in order:
                    port = free_port()
                    cfg = os.path.join(tmp, f"{eng}.cfg")
                    with open(cfg, "w") as f:
                        f.write(lb_config(port, backend_ports, nt))
                    exe = a.herd if eng == "herd" else "haproxy"
                    p = subprocess.Popen([exe, "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
                    try:
                        wait_port(port)
                        run_wrk(port, 1, a.connections)  # warm-up
                        c0 = cpu_seconds(p.pid)
                        r_ = run_wrk(port, a.duration, a.connections)
                        used = cpu_seconds(p.pid) - c0
                        # CPU microseconds per request: insensitive to how the
                        # 2 cores were shared during the run.
                        res[eng].append(r_ + (1e6 * used / max(1.0, r_[0] * a.duration),))
                        cpu[eng] += used
                    finally:
                        p.send_signal(signal.SIGTERM)
                        p.wait(10)
            med = {e: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
                       statistics.median(x[2] for x in v), sum(x[3] for x in v),
                       statistics.median(x[4] for x in v))
                   for e, v in res.items()}
            rows.append((nt, med, cpu))
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    hdr = ("| nbthread | engine | req/s | p50 ms | p99 ms | errors | CPU µs/req | "
           "req/s herd/haproxy | CPU/req haproxy/herd |")
    print(hdr)
    print("|---|---|---|---|---|---|---|---|---|")
    for nt, med, cpu in rows:
        ratio = med["herd"][0] / med["haproxy"][0] if med["haproxy"][0] else float("nan")
        eff = med["haproxy"][4] / med["herd"][4] if med["herd"][4] else float("nan")
        for e in ("haproxy", "herd"):
            rps, p50, p99, err, us = med[e]
            last = f"{ratio:.2f} | {eff:.2f}" if e == "herd" else " | "
            print(f"| {nt} | {e} | {rps:,.0f} | {p50:.3f} | {p99:.3f} | {err} | {us:.1f} | {last} |")
    print(f"\nwrk -c{a.connections} -d{a.duration}s keep-alive, {a.repeats} alternating repeats (medians), "
          f"{a.backends} nginx backends, body {a.size or 2} bytes, machine: {os.cpu_count()} cores")


if __name__ == "__main__":
    sys.exit(main())
