#!/usr/bin/env python3
"""Side-by-side benchmark: herd and haproxy, same config, same nginx backends,
same nbthread, wrk with keep-alive, alternating repeats, medians.

  bench/compare.py [--threads 1,2] [--repeats 3] [--duration 5] [--connections 50]
                   [--size 0] [--herd build/herd] [--markdown]
  bench/compare.py --scenario small,16k,1m,newconn,c1000,c10000,post16k,post1m,rss10k,tls,tlsnew,...
                   [--threads 1] [--repeats 2] [--duration 3] [--json out.json]
  --engines haproxy,herd-epoll,herd-io_uring   compares herd's two I/O backends
                   (HERD_IO) with haproxy in the same run (default haproxy,herd)
  --herd-before OLD --engines haproxy,before-epoll,herd-epoll,...   also runs
                   another herd binary (e.g. the build before a change) as the
                   engines before, before-epoll, before-io_uring, in the same run

Scenarios (issue 5): small (2-byte body, as without --scenario), 16k and 1m
(response bodies), newconn (wrk -H 'Connection: close': a new connection per
request), c1000 and c10000 (concurrent keep-alive connections; the fd soft
limit of the children is raised to the hard limit and `global maxconn` set
to what that limit allows, for both engines), post16k and post1m (16 KiB and
1 MiB POST uploads, bench/post16k.lua, bench/post1m.lua) and rss10k (10 000 idle keep-alive client connections, each
after one request; VmRSS of the LB process before and with them). TLS
(issue 18): tls and tlsrsa (keep-alive over TLS with an ECDSA P-256 or RSA
2048 certificate), tlsnew and tlsrsanew (a new TLS connection per request),
tlsresume (new TLS connections that resume the session of the first one:
`openssl s_time -reuse`, one connection at a time, every one checked to be a
resumption; req/s is resumed handshakes per second) and rsstls (2 000 idle
TLS connections, each after one request: VmRSS of the LB before and with
them, per connection) and tlsserver (plain keep-alive clients, TLS to the
servers: nginx over TLS, `server ... ssl verify none`).

Everything runs on 127.0.0.1. Each run is bounded by --duration; the whole
benchmark by repeats x threads x 2 engines x duration. Prints a table of
req/s, p50/p99 latency and the herd/haproxy ratio.
"""
import argparse
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import ssl
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


def nofile_limit():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def raise_nofile():
    """preexec_fn: soft fd limit up to the hard one (raising the hard one needs privileges)."""
    hard = nofile_limit()
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_nginx(tmp, ports, size, crt=None):
    """nginx serving `size` bytes on `ports`; with `crt` (a PEM of certificate
    and key, make_cert's), over TLS."""
    with open(os.path.join(tmp, "body"), "wb") as f:
        f.write(b"x" * size if size else b"ok")
    tls = f" ssl; ssl_certificate {crt}.crt; ssl_certificate_key {crt}.key" if crt else ""
    # GET serves the body file; POST (post1m) is read, discarded and answered "ok".
    servers = "\n".join(
        f"""  server {{ listen 127.0.0.1:{p} reuseport backlog=4096{tls}; keepalive_requests 1000000;
    client_max_body_size 4m;
    root {tmp}; location / {{ default_type text/plain;
      if ($request_method = POST) {{ return 200 "ok"; }}
      try_files /body =404; }} }}""" for p in ports)
    fds = max(1024, nofile_limit() - 100)
    conf = f"""worker_processes 1;
worker_rlimit_nofile {fds};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx.err;
daemon off;
events {{ worker_connections {fds}; }}
http {{ access_log off; keepalive_timeout 600s;
{servers}
}}
"""
    path = os.path.join(tmp, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    p = subprocess.Popen(["nginx", "-c", path, "-p", tmp], stderr=subprocess.DEVNULL,
                         preexec_fn=raise_nofile)
    for port in ports:
        wait_port(port)
    return p


# Engine variants (a herd engine name with a suffix): the same binary with a
# `defaults` line added, e.g. herd-epoll:copy against herd-epoll (splicing).
VARIANTS = {"copy": "no option splice-auto", "splice": "option splice-auto"}


def lb_config(port, backend_ports, nbthread, maxconn=9000, crt=None, extra_defaults="",
              server_tls=False):
    tls = f" ssl crt {crt}" if crt else ""
    stls = " ssl verify none" if server_tls else ""
    servers = "\n".join(f"    server s{i+1} 127.0.0.1:{p}{stls}" for i, p in enumerate(backend_ports))
    extra = f"    {extra_defaults}\n" if extra_defaults else ""
    return f"""global
    nbthread {nbthread}
    maxconn {maxconn}
defaults
    mode http
{extra}    timeout connect 5s
    timeout client 50s
    timeout server 50s
frontend fe
    bind 127.0.0.1:{port}{tls}
    default_backend be
backend be
    balance roundrobin
    option forwardfor
    http-request set-header X-Forwarded-Port %[dst_port]
{servers}
"""


def run_wrk(port, duration, connections, threads=1, extra=(), scheme="http"):
    out = subprocess.run(
        ["wrk", "--latency", f"-t{threads}", f"-c{connections}", f"-d{duration}s", *extra,
         f"{scheme}://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=duration + 60,
        preexec_fn=raise_nofile).stdout
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
    run_wrk.p90 = lat(90)  # kept beside the 4-tuple its callers unpack
    return rps, lat(50), lat(99), errors


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


BENCH = os.path.dirname(os.path.abspath(__file__))
# name -> response body bytes, client connections (None: --connections), wrk args, idle conns
SCENARIOS = {
    "small": dict(size=0),
    "16k": dict(size=16384),
    "1m": dict(size=1048576),
    "newconn": dict(extra=["-H", "Connection: close"]),
    # Little's law: 10 000 connections at a few thousand req/s wait > 2 s per request,
    # so wrk's default 2 s timeout would count most of them as errors; connection
    # set-up alone takes seconds, hence the longer minimum duration.
    "c1000": dict(connections=1000, extra=["--timeout", "30s"]),
    "c10000": dict(connections=10000, extra=["--timeout", "30s"], min_duration=10),
    "post1m": dict(extra=["-s", os.path.join(BENCH, "post1m.lua")]),
    "post16k": dict(extra=["-s", os.path.join(BENCH, "post16k.lua")]),
    "rss10k": dict(idle=10000),
    # TLS termination (issue 18): keep-alive requests over TLS, and a new TLS
    # connection (full handshake) per request, ECDSA P-256 and RSA 2048
    # certificates made by `openssl` for the run (same files for both engines).
    "tls": dict(tls="ec"),
    "tlsnew": dict(tls="ec", extra=["-H", "Connection: close"]),
    "tlsrsa": dict(tls="rsa"),
    "tlsrsanew": dict(tls="rsa", extra=["-H", "Connection: close"]),
    "tlsresume": dict(tls="ec", resume=True, connections=1),
    "rsstls": dict(tls="ec", idle=2000),
    # TLS to the servers (`server ... ssl verify none`, nginx over TLS with an
    # ECDSA P-256 certificate): plain keep-alive clients.
    "tlsserver": dict(server_tls="ec"),
}


def make_cert(tmp, kind):
    """A self-signed certificate and key in one PEM file (ec: P-256, rsa: 2048)."""
    path = os.path.join(tmp, f"bench-{kind}.pem")
    if not os.path.exists(path):
        key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec" else \
            ["-newkey", "rsa:2048"]
        subprocess.run(["openssl", "req", "-x509", *key, "-nodes", "-keyout", path + ".key",
                        "-out", path + ".crt", "-subj", "/CN=bench.test", "-days", "2"],
                       check=True, capture_output=True)
        with open(path, "w") as out, open(path + ".crt") as c, open(path + ".key") as k:
            out.write(c.read() + k.read())
    return path


def fd_maxconn():
    """Largest maxconn whose fds (2 per proxied connection + a margin) fit the hard limit;
    haproxy refuses to start when maxconn needs more fds than it may open."""
    return (nofile_limit() - 100) // 2


def hold_idle_tls(port, n, deadline_s=60.0):
    """As hold_idle over TLS (any certificate accepted), one connection after
    the other: the handshake, one GET, its answer read whole, the socket kept."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    held, failed = [], 0
    end = time.time() + deadline_s
    while len(held) + failed < n and time.time() < end:
        try:
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5))
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            buf = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("closed")
                buf += chunk
                h = buf.find(b"\r\n\r\n")
                m = re.search(rb"content-length:\s*(\d+)", buf[:h], re.I) if h >= 0 else None
                if h >= 0 and (not m or len(buf) >= h + 4 + int(m.group(1))):
                    break
            held.append(s)
        except OSError:
            failed += 1
    return held, len(held), failed + (n - len(held) - failed)


def run_s_time(port, duration):
    """`openssl s_time -reuse` for `duration` seconds: new TLS connections, one
    at a time, each resuming the first one's session and fetching /. Returns
    wrk's 4-tuple (connections per second; latencies nan) and sets p90; a
    connection that was not a resumption counts as an error."""
    t0 = time.monotonic()
    out = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-www", "/",
                          "-reuse", "-time", str(duration)], capture_output=True, text=True,
                         timeout=duration + 60).stdout
    wall = time.monotonic() - t0
    m = re.search(r"(\d+) connections in [\d.]+ real seconds", out)
    n = int(m.group(1)) if m else 0
    marks = re.search(r"starting\s*\n([*r]*)", out)
    resumed = marks.group(1).count("r") if marks else 0
    run_wrk.p90 = float("nan")
    nan = float("nan")
    # (The first connection of the timed loop is a full handshake: "*".)
    return n / wall, nan, nan, max(0, n - resumed - 1)


def hold_idle(port, n, deadline_s=30.0, batch=500):
    """Opens n keep-alive connections, sends one GET on each, reads the answer and
    keeps the socket open (idle). Bounded by deadline_s. Returns (sockets, answered, failed)."""
    sel = selectors.DefaultSelector()
    req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    held, started, answered, failed, inflight = [], 0, 0, 0, 0
    end = time.time() + deadline_s
    while answered + failed < n and time.time() < end:
        while started < n and inflight < batch:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_WRITE, bytearray())
            started += 1
            inflight += 1
        for key, ev in sel.select(timeout=0.2):
            s, buf = key.fileobj, key.data
            try:
                if ev & selectors.EVENT_WRITE:
                    s.send(req)
                    sel.modify(s, selectors.EVENT_READ, buf)
                    continue
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("closed")
                buf += chunk
                h = buf.find(b"\r\n\r\n")
                if h < 0:
                    continue
                m = re.search(rb"content-length:\s*(\d+)", bytes(buf[:h]), re.I)
                if m and len(buf) < h + 4 + int(m.group(1)):
                    continue
                sel.unregister(s)
                held.append(s)
                answered += 1
                inflight -= 1
            except OSError:
                sel.unregister(s)
                s.close()
                failed += 1
                inflight -= 1
    for key in list(sel.get_map().values()):  # still pending at the deadline
        key.fileobj.close()
        failed += 1
    sel.close()
    return held, answered, failed


def tree_cpu_seconds(pid):
    """CPU seconds of a process and its direct children (nginx: master + workers)."""
    total = cpu_seconds(pid)
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        kids = []
    for k in kids:
        try:
            total += cpu_seconds(k)
        except OSError:
            pass
    return total


def run_engine(a, eng, tmp, backend_ports, nt, sc):
    """One run of one engine: (req/s, p50, p99, errors, CPU µs/req, peak RSS MiB, extra)."""
    conns = min(sc.get("connections") or a.connections, fd_maxconn())
    want = max(conns, sc.get("idle", 0)) + 100
    maxconn = max(9000, min(want, fd_maxconn()))
    port = free_port()
    cfg = os.path.join(tmp, f"{eng}.cfg")
    with open(cfg, "w") as f:
        base, _, variant = eng.partition(":")
        f.write(lb_config(port, backend_ports, nt, maxconn,
                          make_cert(tmp, sc["tls"]) if sc.get("tls") else None,
                          VARIANTS.get(variant, ""), server_tls=bool(sc.get("server_tls"))))
    scheme = "https" if sc.get("tls") else "http"
    exe = "haproxy" if eng == "haproxy" else a.herd_before if eng.startswith("before") else a.herd
    env = dict(os.environ)
    if "-" in base:  # herd-epoll, before-io_uring...: the I/O backend (--io)
        env["HERD_IO"] = base.split("-", 1)[1]
    p = subprocess.Popen([exe, "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=raise_nofile, env=env)
    try:
        wait_port(port)
        extra = sc.get("extra", [])
        run_wrk(port, 1, min(conns, 50), extra=extra, scheme=scheme)  # warm-up
        if sc.get("idle"):
            base = proc_status_kib(p.pid, "VmRSS")
            n = min(sc["idle"], maxconn - 20)
            held, answered, failed = (hold_idle_tls if sc.get("tls") else hold_idle)(port, n)
            time.sleep(1.0)  # idle: parked, buffers trimmed (both engines wait alike)
            with_idle = proc_status_kib(p.pid, "VmRSS")
            for s in held:
                s.close()
            per = (with_idle - base) / max(1, answered)
            return (float("nan"),) * 3 + (failed, float("nan"), with_idle / 1024,
                                          dict(base_mib=base / 1024, idle_mib=with_idle / 1024,
                                               kib_per_conn=per, answered=answered, conns=n))
        dur = max(a.duration, sc.get("min_duration", 0))
        c0 = cpu_seconds(p.pid)
        n0 = tree_cpu_seconds(a.nginx_pid)
        w0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        r_ = run_s_time(port, dur) if sc.get("resume") else run_wrk(port, dur, conns, extra=extra,
                                                                     scheme=scheme)
        w1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = cpu_seconds(p.pid) - c0
        hwm = proc_status_kib(p.pid, "VmHWM") / 1024
        return r_ + (1e6 * used / max(1.0, r_[0] * dur), hwm,
                     dict(conns=conns, cpu_s=used, duration=dur, p90_ms=run_wrk.p90,
                          wrk_cpu_s=(w1.ru_utime + w1.ru_stime) - (w0.ru_utime + w0.ru_stime),
                          nginx_cpu_s=tree_cpu_seconds(a.nginx_pid) - n0))
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--size", type=int, default=0, help="response body bytes")
    ap.add_argument("--backends", type=int, default=2)
    ap.add_argument("--herd", default=os.path.join(ROOT, "build", "herd"))
    ap.add_argument("--herd-before", default="",
                    help="a second herd binary, run as the engines before, before-epoll, before-io_uring")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--scenario", default="",
                    help="comma-separated: " + ",".join(SCENARIOS) + " (or 'all')")
    ap.add_argument("--json", default="", help="also write the medians to this file (for plot.py)")
    ap.add_argument("--engines", default="haproxy,herd",
                    help="haproxy first, then herd (I/O backend auto), herd-epoll, herd-io_uring; "
                         "a herd engine with :copy or :splice gets `no option splice-auto` or "
                         "`option splice-auto` in its defaults")
    a = ap.parse_args()
    engines = a.engines.split(",")
    herds = ("herd", "herd-epoll", "herd-io_uring")
    befores = ("before", "before-epoll", "before-io_uring") if a.herd_before else ()
    if engines[0] != "haproxy" or any(
            e.partition(":")[0] not in herds + befores or e.partition(":")[2] not in ("", *VARIANTS)
            for e in engines[1:]) or len(engines) < 2:
        ap.error("--engines: haproxy, then one or more of herd, herd-epoll, herd-io_uring"
                 " (and before, before-epoll, before-io_uring with --herd-before)")
    if a.scenario == "all":
        a.scenario = ",".join(SCENARIOS)
    names = [x for x in a.scenario.split(",") if x]
    for x in names:
        if x not in SCENARIOS:
            ap.error(f"unknown scenario {x!r}; known: {', '.join(SCENARIOS)}")
    if not names:  # classic mode: --size, table as before
        names = ["_"]
        SCENARIOS["_"] = dict(size=a.size)
    # this process holds the idle client sockets of rss10k
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile_limit(),) * 2)
    tmp = tempfile.mkdtemp(prefix="herd-bench-")
    os.chmod(tmp, 0o755)  # nginx workers run as nobody and read the body file
    rows = []
    try:
        for name in names:
            sc = SCENARIOS[name]
            backend_ports = [free_port() for _ in range(a.backends)]
            nginx = start_nginx(tmp, backend_ports, sc.get("size", 0),
                                make_cert(tmp, sc["server_tls"]) if sc.get("server_tls") else None)
            a.nginx_pid = nginx.pid
            try:
                for nt in [int(x) for x in a.threads.split(",")]:
                    res = {e: [] for e in engines}
                    for r in range(a.repeats):
                        # alternate: each repeat starts one engine later
                        order = engines[r % len(engines):] + engines[:r % len(engines)]
                        for eng in order:
                            res[eng].append(run_engine(a, eng, tmp, backend_ports, nt, sc))
                    med = {}
                    for e, v in res.items():
                        med[e] = tuple(statistics.median(x[i] for x in v) for i in (0, 1, 2)) + (
                            sum(x[3] for x in v), statistics.median(x[4] for x in v),
                            statistics.median(x[5] for x in v),
                            {k: statistics.median(x[6][k] for x in v) for k in v[0][6]})
                    rows.append((name, nt, med))
            finally:
                nginx.send_signal(signal.SIGTERM)
                nginx.wait(10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    classic = names == ["_"]
    if classic:
        print("| nbthread | engine | req/s | p50 ms | p99 ms | errors | CPU µs/req | "
              "req/s herd/haproxy | CPU/req haproxy/herd |")
        print("|---|---|---|---|---|---|---|---|---|")
    else:
        print("| scenario | nbthread | engine | conns | req/s | p50 ms | p90 ms | p99 ms | errors | "
              "CPU µs/req | CPU s LB / wrk / nginx | RSS MiB | req/s herd/haproxy | "
              "CPU/req haproxy/herd |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    out = []
    for name, nt, med in rows:
        for e in engines:
            ratio = med[e][0] / med["haproxy"][0] if med["haproxy"][0] else float("nan")
            eff = med["haproxy"][4] / med[e][4] if med[e][4] else float("nan")
            rps, p50, p99, err, us, rss, ex = med[e]
            out.append(dict(scenario=name, nbthread=nt, engine=e, rps=rps, p50_ms=p50, p99_ms=p99,
                            errors=err, cpu_us_per_req=us, rss_mib=rss, **ex))
            if classic:
                last = f"{ratio:.2f} | {eff:.2f}" if e != "haproxy" else " | "
                print(f"| {nt} | {e} | {rps:,.0f} | {p50:.3f} | {p99:.3f} | {err} | {us:.1f} | {last} |")
            elif "idle_mib" in ex:
                rr = med["haproxy"][6]["idle_mib"] / med[e][6]["idle_mib"]
                last = f"RSS haproxy/herd {rr:.2f} | " if e != "haproxy" else " | "
                print(f"| {name} | {nt} | {e} | {ex['answered']:.0f} idle | - | - | - | - | {err} | - | - | "
                      f"{ex['base_mib']:.1f} → {ex['idle_mib']:.1f} ({ex['kib_per_conn']:.1f} KiB/conn) | {last}|")
            else:
                last = f"{ratio:.2f} | {eff:.2f}" if e != "haproxy" else " | "
                print(f"| {name} | {nt} | {e} | {ex['conns']:.0f} | {rps:,.0f} | {p50:.3f} | "
                      f"{ex['p90_ms']:.3f} | {p99:.3f} | {err} | {us:.1f} | "
                      f"{ex['cpu_s']:.2f} / {ex['wrk_cpu_s']:.2f} / {ex['nginx_cpu_s']:.2f} | "
                      f"{rss:.1f} | {last} |")
    if a.json:
        import json
        with open(a.json, "w") as f:
            json.dump(dict(rows=out, duration=a.duration, repeats=a.repeats,
                           backends=a.backends, cores=os.cpu_count(),
                           nofile=nofile_limit()), f, indent=1)
    if classic:
        print(f"\nwrk -c{a.connections} -d{a.duration}s keep-alive, {a.repeats} alternating repeats (medians), "
              f"{a.backends} nginx backends, body {a.size or 2} bytes, machine: {os.cpu_count()} cores")
    else:
        print(f"\nwrk -t1 -d{a.duration}s (default -c{a.connections}), {a.repeats} alternating repeats "
              f"(medians; errors summed), {a.backends} nginx backends, machine: {os.cpu_count()} cores, "
              f"fd hard limit {nofile_limit()} (maxconn cap {fd_maxconn()}); RSS: VmHWM of the LB "
              f"after the run, for rss10k VmRSS before → with the idle connections")


if __name__ == "__main__":
    sys.exit(main())
