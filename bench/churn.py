#!/usr/bin/env python3
"""Membership churn benchmark (issue 4): backends joining, leaving and crashing
under continuous HTTP load, side by side for

  lab   the course lab's way: haproxy 2.6 + a real `serf agent` on the LB with
        event handlers (bench/lab/) that regenerate haproxy.cfg from
        `serf members` and reload haproxy with `-sf` (no master-worker);
  herd  herd -f cfg --membership yaml (pool mutated in place, no reload);
  herd+haproxy  herd --engine haproxy, when the binary has that option
        (otherwise the column says n/a).

  bench/churn.py [--cycles 5] [--crashes 1] [--threads 6] [--herd build/herd]
                 [--herd-haproxy other/herd]
                 [--approaches lab,herd,herd-haproxy] [--keep]

Backends: 5 Python keep-alive HTTP servers on 127.0.0.41..45:18080, each next
to a real `serf agent -node webN -bind 127.0.0.4N:7946 -join 127.0.0.40:7946
-tag role=backend`. The LB listens on 127.0.0.40:18000 (runtime API on
:18001). Load: --threads keep-alive clients (GET /, paced). A request that
fails on a *reused* keep-alive connection with a connection-level error
(closed/reset by the LB before any response byte) is retried once on a new
connection, as HTTP clients do for idempotent requests (RFC 9110 9.2.2); these
are counted apart as "keep-alive closes". Everything else is a failure.

Per approach:
  1. web1 joins (no load yet), load starts, web2..web5 join one by one: (a).
  2. --crashes times: kill -9 of webN's agent and web server: (c); restarted.
  3. --cycles times, for web1..web5 in turn: `serf leave` (b), wait until it
     is gone from `show stat`, restart its agent, wait for its first proxied
     request (a). Failures over the whole phase: (d).

Loopback only; every wait is bounded; every process is stopped by PID at the
end, also on errors (haproxy processes by the PIDs the lab handler logged).
"""
import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(ROOT, "bench", "lab")
SERF = shutil.which("serf") or "/usr/bin/serf"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
LB_IP = "127.0.0.40"
LB_PORT, CLI_PORT, BACKEND_PORT = 18000, 18001, 18080
NAMES = [f"web{i}" for i in range(1, 6)]
IP = {f"web{i}": f"127.0.0.4{i}" for i in range(1, 6)}

WEB = r"""
import http.server, sys
name, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = (name + "\n").encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(s):
        # One write per response: headers + body in two sends would hit
        # Nagle + delayed ACK (~40 ms per request through any LB).
        s.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n%s"
                      % (len(body), body))
    def log_message(s, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
S((ip, port), H).serve_forever()
"""

MEMBERSHIP_YAML = f"""node: lb
bind: {LB_IP}:7946
rpc: {LB_IP}:7373
tags: {{ role: balancer }}
pools:
  - backend: nodes
    match: {{ role: backend }}
    port: {BACKEND_PORT}
"""


def now():
    return time.monotonic()


def wait_port(ip, port, timeout=10):
    end = now() + timeout
    while now() < end:
        try:
            socket.create_connection((ip, port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def cli(cmd):
    s = socket.create_connection((LB_IP, CLI_PORT), timeout=2)
    s.settimeout(2)
    s.sendall(cmd.encode() + b"\n")
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    return out.decode(errors="replace")


def pool():
    """Server names of backend `nodes` per `show stat` (None when unreachable)."""
    try:
        out = cli("show stat")
    except OSError:
        return None
    names = set()
    for line in out.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0] == "nodes" and f[1] not in ("FRONTEND", "BACKEND"):
            names.add(f[1])
    return names


class Load:
    """Keep-alive GET / from `threads` clients, paced, bounded by `limit` s."""

    def __init__(self, threads, limit, pace=0.002):
        self.limit, self.pace = limit, pace
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = []      # (time, what)
        self.ka_closes = []   # (time, what): retried on a new connection
        self.last_seen = {}   # name -> time of its latest response
        self.first = {}       # name -> time of its first response since arm(name)
        self._stop = threading.Event()
        self.ts = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.ts:
            t.start()

    def arm(self, name):
        with self.lock:
            self.first.pop(name, None)

    def _one(self, conn):
        conn.request("GET", "/")
        r = conn.getresponse()
        body = r.read()
        return r.status, body, r.will_close

    def _run(self):
        end = now() + self.limit
        conn, reused = None, False
        while not self._stop.is_set() and now() < end:
            if conn is None:
                conn, reused = http.client.HTTPConnection(LB_IP, LB_PORT, timeout=5), False
            try:
                try:
                    st, body, close = self._one(conn)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                    if not reused:
                        raise
                    with self.lock:
                        self.ka_closes.append((now(), type(e).__name__))
                    conn.close()
                    conn = http.client.HTTPConnection(LB_IP, LB_PORT, timeout=5)
                    st, body, close = self._one(conn)
                t = now()
                if st == 200:
                    name = body.split(b"\n", 1)[0].decode()
                    with self.lock:
                        self.ok += 1
                        self.last_seen[name] = t
                        self.first.setdefault(name, t)
                else:
                    with self.lock:
                        self.failed.append((t, f"HTTP {st}"))
                if close:
                    conn.close()
                    conn = None
                else:
                    reused = True
            except (OSError, http.client.HTTPException, ValueError) as e:
                with self.lock:
                    self.failed.append((now(), type(e).__name__))
                conn.close()
                conn = None
            time.sleep(self.pace)
        if conn:
            conn.close()

    def failures(self, t0, t1=None):
        with self.lock:
            return [w for t, w in self.failed if t >= t0 and (t1 is None or t <= t1)]

    def closes(self, t0, t1=None):
        with self.lock:
            return [w for t, w in self.ka_closes if t >= t0 and (t1 is None or t <= t1)]

    def stop(self):
        self._stop.set()
        for t in self.ts:
            t.join(10)


class Run:
    """One approach: its processes, its measurements."""

    def __init__(self, approach, args, tmp):
        self.approach, self.a, self.tmp = approach, args, tmp
        self.procs = []   # (name, Popen, log)
        self.web, self.agent = {}, {}
        self.join, self.leave_gone, self.leave_last, self.crash = [], [], [], []
        self.leave_failed, self.leave_closes = [], []
        self.crash_failed, self.crash_closes = [], []
        self.churn = None
        self.reloads = 0
        self.notes = []
        self.load = None

    # -- processes --------------------------------------------------------
    def spawn(self, name, argv, env=None):
        log = open(os.path.join(self.tmp, name + ".log"), "a")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                             stdin=subprocess.DEVNULL)
        self.procs.append((name, p, log))
        return p

    def start_web(self, n):
        self.web[n] = self.spawn(f"web-{n}", [sys.executable, "-c", WEB, n, IP[n], str(BACKEND_PORT)])
        if not wait_port(IP[n], BACKEND_PORT):
            raise RuntimeError(f"web server {n} did not start")

    def start_agent(self, n):
        self.agent[n] = self.spawn(f"serf-{n}", [
            SERF, "agent", "-node", n, "-bind", f"{IP[n]}:7946", "-rpc-addr", f"{IP[n]}:7373",
            "-join", f"{LB_IP}:7946", "-tag", "role=backend"])

    def kill(self, p, sig=signal.SIGKILL, wait=10):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def start_lb(self):
        if self.approach == "lab":
            env = dict(os.environ, LAB_DIR=self.tmp, LAB_RPC=f"{LB_IP}:7373", LB_IP=LB_IP,
                       LB_PORT=str(LB_PORT), CLI_PORT=str(CLI_PORT), BACKEND_PORT=str(BACKEND_PORT),
                       HAPROXY=HAPROXY, SERF=SERF)
            argv = [SERF, "agent", "-node", "lb", "-bind", f"{LB_IP}:7946", "-rpc-addr", f"{LB_IP}:7373",
                    "-tag", "role=balancer"]
            for ev in ("member-join", "member-leave", "member-failed"):
                argv += ["-event-handler", f"{ev}={os.path.join(LAB, ev + '.sh')}"]
            self.spawn("serf-lb", argv, env=env)
            if not wait_port(LB_IP, 7373):
                raise RuntimeError("lab serf agent did not start")
            # First haproxy (empty backend), as the lab's boot script did.
            subprocess.run([os.path.join(LAB, "regen.sh")], env=dict(env, SERF_EVENT="init"),
                           stdin=subprocess.DEVNULL, check=True, timeout=20)
        else:
            with open(os.path.join(LAB, "haproxy.cfg.tmpl")) as f:
                cfg = (f.read().replace("@LB_IP@", LB_IP).replace("@PORT@", str(LB_PORT))
                       .replace("@CLI_PORT@", str(CLI_PORT)))
            cpath, ypath = os.path.join(self.tmp, "herd.cfg"), os.path.join(self.tmp, "membership.yaml")
            with open(cpath, "w") as f:
                f.write(cfg)
            with open(ypath, "w") as f:
                f.write(MEMBERSHIP_YAML)
            argv = [self.a.herd, "-db", "-f", cpath, "--membership", ypath]
            if self.approach == "herd-haproxy":
                argv = [self.a.herd_haproxy or self.a.herd, "-db", "-f", cpath, "--membership", ypath,
                        "--engine", "haproxy"]
            self.herd = self.spawn("herd", argv)
        if not wait_port(LB_IP, LB_PORT) or not wait_port(LB_IP, CLI_PORT):
            raise RuntimeError(f"{self.approach}: load balancer did not start")

    def stop_all(self):
        if self.load:
            self.load.stop()
        for _, p, log in reversed(self.procs):
            self.kill(p)
            log.close()
        # haproxy processes started by the lab's handler: by their logged PIDs.
        path = os.path.join(self.tmp, "haproxy-pids.log")
        if os.path.exists(path):
            for pid in {int(x) for x in open(path).read().split() if x.isdigit()}:
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().strip() != "haproxy":
                            continue
                    os.kill(pid, signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            rl = os.path.join(self.tmp, "reloads.log")
            if os.path.exists(rl):
                self.reloads = len(open(rl).read().splitlines())

    # -- measurements -----------------------------------------------------
    def wait_first(self, n, t0, timeout=15):
        end = now() + timeout
        while now() < end:
            t = self.load.first.get(n) if self.load else None
            if t is not None and t >= t0:
                return t
            if not self.load and pool() and n in pool():
                return now()
            time.sleep(0.005)
        raise RuntimeError(f"{self.approach}: {n} got no request within {timeout}s")

    def wait_gone(self, n, timeout):
        end = now() + timeout
        while now() < end:
            p = pool()
            if p is not None and n not in p:
                return now()
            time.sleep(0.02)
        raise RuntimeError(f"{self.approach}: {n} still in the pool after {timeout}s")

    def join_one(self, n, measure=True):
        if self.load:
            self.load.arm(n)
        t0 = now()
        self.start_agent(n)
        t1 = self.wait_first(n, t0)
        if measure:
            self.join.append(t1 - t0)

    def leave_one(self, n):
        t0 = now()
        subprocess.run([SERF, "leave", "-rpc-addr", f"{IP[n]}:7373"], capture_output=True, timeout=20)
        tg = self.wait_gone(n, 20)
        self.kill(self.agent[n], signal.SIGTERM, 10)  # exits by itself after a leave
        time.sleep(0.3)
        self.leave_gone.append(tg - t0)
        last = self.load.last_seen.get(n, t0)
        self.leave_last.append(max(0.0, last - t0))
        self.leave_failed += self.load.failures(t0)
        self.leave_closes += self.load.closes(t0)

    def crash_one(self, n):
        t0 = now()
        self.kill(self.agent[n])
        self.kill(self.web[n])
        tg = self.wait_gone(n, 45)
        time.sleep(0.5)
        self.crash.append(tg - t0)
        self.crash_failed += self.load.failures(t0)
        self.crash_closes += self.load.closes(t0)
        self.start_web(n)
        self.join_one(n)

    def run(self):
        for n in NAMES:
            self.start_web(n)
        self.start_lb()
        self.join_one("web1", measure=False)
        self.load = Load(self.a.threads, limit=self.a.max_seconds)
        time.sleep(0.5)
        for n in NAMES[1:]:
            self.join_one(n)
        for i in range(self.a.crashes):
            self.crash_one(NAMES[(4 - i) % 5])
        t0 = now()
        ok0 = self.load.ok
        for _ in range(self.a.cycles):
            for n in NAMES:
                self.leave_one(n)
                self.join_one(n)
        time.sleep(0.5)
        self.churn = (self.load.failures(t0), self.load.closes(t0), self.load.ok - ok0, now() - t0)
        self.total_ok = self.load.ok
        self.load.stop()


def has_engine_option(herd):
    try:
        out = subprocess.run([herd, "--help"], capture_output=True, text=True, timeout=5)
        text = out.stdout + out.stderr
    except OSError:
        return False
    if "--engine" in text:
        return True
    with open(herd, "rb") as f:
        return b"--engine" in f.read()


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def fmt_dist(xs):
    if not xs:
        return "–"
    return f"{statistics.median(xs):.2f} / {pct(xs, 95):.2f} / {max(xs):.2f} s (n={len(xs)})"


def fmt_fail(failed, closes, total=None):
    s = f"{len(failed)}"
    if total is not None:
        s += f" of {total:,}"
    if failed:
        kinds = {}
        for w in failed:
            kinds[w] = kinds.get(w, 0) + 1
        s += " (" + ", ".join(f"{k} ×{v}" for k, v in sorted(kinds.items())) + ")"
    s += f"; ka closes {len(closes)}"
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--crashes", type=int, default=1)
    ap.add_argument("--threads", type=int, default=6)
    ap.add_argument("--max-seconds", type=int, default=300, help="bound of the load per approach")
    ap.add_argument("--herd", default=os.path.join(ROOT, "build", "herd"))
    ap.add_argument("--herd-haproxy", default=None,
                    help="herd binary for the herd-haproxy column (default: --herd)")
    ap.add_argument("--approaches", default="lab,herd,herd-haproxy")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories (logs)")
    a = ap.parse_args()
    if not os.path.exists(SERF):
        sys.exit("serf not found")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    results, na = {}, {}
    for approach in a.approaches.split(","):
        if approach == "herd-haproxy" and not has_engine_option(a.herd_haproxy or a.herd):
            na[approach] = "n/a (no --engine in this herd build)"
            continue
        tmp = tempfile.mkdtemp(prefix=f"herd-churn-{approach}-")
        r = Run(approach, a, tmp)
        t_start = now()
        try:
            r.run()
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            na[approach] = f"failed: {e}"
            print(f"{approach}: {e} (logs in {tmp})", file=sys.stderr)
            a.keep = True
        finally:
            r.stop_all()
            if not a.keep:
                shutil.rmtree(tmp, ignore_errors=True)
        print(f"{approach}: done in {now() - t_start:.0f}s", file=sys.stderr)
        if approach not in na:
            results[approach] = r

    cols = [("lab", "lab: haproxy + serf handlers + reload"), ("herd", "herd native"),
            ("herd-haproxy", "herd driving haproxy")]

    def cell(key, f):
        if key in results:
            return f(results[key])
        return na.get(key, "n/a")

    rows = [
        ("(a) join → first proxied request, p50 / p95 / max", "p95 ≤ 1 s", lambda r: fmt_dist(r.join)),
        ("(b) graceful leave → last request served", "", lambda r: fmt_dist(r.leave_last)),
        ("(b) graceful leave → gone from `show stat`", "", lambda r: fmt_dist(r.leave_gone)),
        ("(b) failed requests during leaves", "0", lambda r: fmt_fail(r.leave_failed, r.leave_closes)),
        ("(c) kill -9 → gone from `show stat`", "≤ suspicion window", lambda r: fmt_dist(r.crash)),
        ("(c) failed requests during crashes", "0", lambda r: fmt_fail(r.crash_failed, r.crash_closes)),
        (f"(d) failed requests, {a.cycles} cycles × 5 leave+join", "0",
         lambda r: fmt_fail(r.churn[0], r.churn[1], r.churn[2] + len(r.churn[0]))
         + f" in {r.churn[3]:.0f} s"),
        ("haproxy reloads", "", lambda r: str(r.reloads) if r.approach == "lab" else "0"),
    ]
    print("| measure | target | " + " | ".join(c[1] for c in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for label, target, f in rows:
        print(f"| {label} | {target} | " + " | ".join(cell(k, f) for k, _ in cols) + " |")
    print(f"\n{a.threads} keep-alive client threads (GET /, 2 ms pause), 5 Python backends, "
          f"serf {subprocess.run([SERF, 'version'], capture_output=True, text=True).stdout.splitlines()[0]}, "
          f"haproxy {subprocess.run([HAPROXY, '-v'], capture_output=True, text=True).stdout.split()[2]}, "
          f"{os.cpu_count()} cores; ka closes = requests retried once on a new connection after the "
          "LB closed a reused keep-alive connection")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
