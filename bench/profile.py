#!/usr/bin/env python3
"""Per-request cost profile of herd and haproxy (issue 5: where a target is
missed, a profile says why): user-space instructions per request (valgrind
callgrind) and system calls per request (strace -c), for small keep-alive
responses through the same config and nginx backends as bench/compare.py.

  bench/profile.py [--engines haproxy,herd-epoll,herd-io_uring] [--herd build/herd]
                   [--requests 1000,3000] [--connections 10] [--size <body bytes>]
                   [--upload <request body bytes>]

With --upload, each request is a POST with a body of that many bytes (the
shape of compare.py's post16k and post1m scenarios), answered "ok".

Each engine runs twice under each tool, once per request count; the cost of
one request is the difference divided by the difference in requests, so
start-up and shutdown cancel out. Instruction counts are repeatable for a
given binary and input, whatever else the machine is doing; they leave out
the kernel, which is why the system calls are counted too. Both engines run
with nbthread 1. Everything listens on 127.0.0.1.
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402


def client(port, total, conns, upload=0):
    """`total` GETs (or POSTs of `upload` bytes) over `conns` keep-alive
    connections, one at a time each, round robin; every answer is read whole
    (Content-Length)."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(conns)]
    req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    if upload:
        req = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Length: " + str(upload).encode() + b"\r\n\r\n" + b"x" * upload)
    for i in range(total):
        s = socks[i % conns]
        s.sendall(req)
        buf = b""
        while True:
            buf += s.recv(65536)
            h = buf.find(b"\r\n\r\n")
            if h < 0:
                continue
            m = re.search(rb"content-length:\s*(\d+)", buf[:h], re.I)
            if len(buf) >= h + 4 + (int(m.group(1)) if m else 0):
                break
        if not buf.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"request {i}: {buf[:60]!r}")
    for s in socks:
        s.close()


def run(tool, exe, cfg, env, port, n, conns, out, upload=0):
    if tool == "callgrind":
        pre = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"]
    else:
        pre = ["strace", "-f", "-c", "-o", out]
    p = subprocess.Popen(pre + [exe, "-db", "-f", cfg], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=compare.raise_nofile)
    try:
        compare.wait_port(port, 120)
        time.sleep(1.0)  # start-up done (health checks none, listeners open)
        client(port, n, conns, upload)
    finally:
        target = p.pid
        if tool == "strace":  # signal the traced engine, not strace
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                target = int(f.read().split()[0])
        os.kill(target, signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:  # io_uring under valgrind may not stop: its dump is done
            os.kill(target, signal.SIGKILL)
            p.wait(60)
    with open(out) as f:
        text = f.read()
    if tool == "callgrind":
        m = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
        return int(m.group(1)) if m else float("nan")  # killed before its dump
    # strace -c's rows: "% time  seconds  usecs/call  calls  [errors]  syscall",
    # the last one "total": {syscall: (calls, errors)}
    rows = {}
    for m in re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)$", text, re.M):
        rows[m.group(3)] = (int(m.group(1)), int(m.group(2) or 0))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="haproxy,herd-epoll,herd-io_uring")
    ap.add_argument("--herd", default=os.path.join(compare.ROOT, "build", "herd"))
    ap.add_argument("--requests", default="1000,3000")
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--size", type=int, default=0, help="response body bytes (0: 2 bytes)")
    ap.add_argument("--upload", type=int, default=0, help="request body bytes (0: GET)")
    a = ap.parse_args()
    n1, n2 = (int(x) for x in a.requests.split(","))
    tmp = tempfile.mkdtemp(prefix="herd-profile-")
    os.chmod(tmp, 0o755)  # nginx workers run as nobody and read the body file
    ports = [compare.free_port(), compare.free_port()]
    nginx = compare.start_nginx(tmp, ports, a.size)
    rows = []
    try:
        for eng in a.engines.split(","):
            port = compare.free_port()
            cfg = os.path.join(tmp, f"{eng}.cfg")
            with open(cfg, "w") as f:
                f.write(compare.lb_config(port, ports, 1))
            exe = "haproxy" if eng == "haproxy" else a.herd
            env = dict(os.environ)
            if eng.startswith("herd-"):
                env["HERD_IO"] = eng[len("herd-"):]
            res = {}
            for tool in ("callgrind", "strace"):
                c = [run(tool, exe, cfg, env, port, n, a.connections,
                         os.path.join(tmp, f"{tool}.{eng}.{n}"), a.upload) for n in (n1, n2)]
                if tool == "callgrind":
                    res[tool] = (c[1] - c[0]) / (n2 - n1)
                    continue
                per = {}
                for name in set(c[0]) | set(c[1]):
                    d = [(c[1].get(name, (0, 0))[i] - c[0].get(name, (0, 0))[i]) / (n2 - n1)
                         for i in (0, 1)]
                    if d[0] >= 0.01:
                        per[name] = d
                res[tool] = per
            rows.append((eng, res["callgrind"], res["strace"]))
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(10)
    print("| engine | user-space instructions / request | system calls / request |")
    print("|---|---|---|")
    for eng, ins, sc in rows:
        print(f"| {eng} | {ins:,.0f} | {sc.get('total', (0, 0))[0]:.2f} |")
    print("\nSystem calls per request by name (calls, of which failed, e.g. EAGAIN):\n")
    for eng, ins, sc in rows:
        parts = [f"{k} {v[0]:.2f}" + (f" ({v[1]:.2f} failed)" if v[1] >= 0.01 else "")
                 for k, v in sorted(sc.items(), key=lambda kv: -kv[1][0]) if k != "total"]
        print(f"- {eng}: " + ", ".join(parts))
    print(f"\n{n2 - n1} requests' difference, {a.connections} keep-alive connections, "
          f"nbthread 1, 2 nginx backends, {a.size or 2}-byte body"
          + (f", {a.upload}-byte uploads" if a.upload else ""))


if __name__ == "__main__":
    main()
