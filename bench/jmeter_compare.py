#!/usr/bin/env python3
"""JMeter comparison (the course lab's setup): haproxy vs herd, same config, same
nginx backends (from compare.py), JMeter non-GUI with bench/jmeter/keepalive.jmx.
Run through bench/jmeter.sh. Warm-up and measurement run in one JVM; samples of the
first --warmup seconds are dropped. Reports throughput, p50/p90/p99, errors from
JMeter's CSV results, and CPU µs/request of JMeter itself and of the LB over the
measured window (/proc/PID/stat). Alternating repeats, medians.
"""
import argparse
import csv
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import (ROOT, cpu_seconds, free_port, lb_config, raise_nofile,  # noqa: E402
                     start_nginx, wait_port)

JHOME = "/usr/share/jmeter"


def summarise(jtl, t_from, t_to):
    """(req/s, p50, p90, p99, errors, samples) over samples that ended in [t_from, t_to) ms."""
    lat, errors = [], 0
    with open(jtl, newline="") as f:
        for row in csv.DictReader(f):
            try:
                end = int(row["timeStamp"]) + int(row["elapsed"])
            except (KeyError, ValueError):
                continue
            if t_from <= end < t_to:
                lat.append(int(row["elapsed"]))
                if row.get("success") != "true":
                    errors += 1
    if not lat:
        return 0.0, 0, 0, 0, 0, 0
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    return len(lat) / ((t_to - t_from) / 1000), pct(.5), pct(.9), pct(.99), errors, len(lat)


def run_jmeter(a, tmp, classes, port, lb_pid, tag):
    jtl, log = os.path.join(tmp, f"{tag}.jtl"), os.path.join(tmp, f"{tag}.log")
    total = a.warmup + a.duration
    cmd = ["java", "-Xms1g", "-Xmx1g", f"-Djmeter.home={JHOME}",
           "-cp", f"{JHOME}/bin/ApacheJMeter.jar:{classes}", "Launcher",
           "-n", "-t", os.path.join(ROOT, "bench", "jmeter", "keepalive.jmx"), "-l", jtl, "-j", log,
           "-Jjmeterengine.nongui.port=0", "-Jjmeter.save.saveservice.output_format=csv",
           "-Jjmeter.save.saveservice.print_field_names=true",
           f"-Jthreads={a.threads_jm}", f"-Jduration={total}", "-Jhost=127.0.0.1", f"-Jport={port}"]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         preexec_fn=raise_nofile, cwd=tmp)
    try:
        # CPU of JMeter and of the LB over the measured window only.
        time.sleep(max(0.0, t0 + 2 + a.warmup - time.time()))
        w0 = time.time()
        j0, l0 = cpu_seconds(p.pid), cpu_seconds(lb_pid)
        time.sleep(max(0.0, w0 + a.duration - 2 - time.time()))
        w1 = time.time()
        j1, l1 = cpu_seconds(p.pid), cpu_seconds(lb_pid)
        out, _ = p.communicate(timeout=total + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate(timeout=10)
    bad = ["(no jmeter.log)"]
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            bad = [l for l in f if "ERROR -" in l]
    if "end of run" not in out:
        print(out[-2000:], file=sys.stderr)
    ok = "end of run" in out and not bad and os.path.getsize(jtl) > 0 if os.path.exists(jtl) else False
    r = summarise(jtl, int(w0 * 1000), int(w1 * 1000)) if os.path.exists(jtl) else (0,) * 6
    os.unlink(jtl) if os.path.exists(jtl) else None  # ~50 MB per run
    n = max(1, r[5])
    if not ok or (r[4] / n) > a.max_error_rate:
        print(f"jmeter run {tag} failed: end-of-run={'end of run' in out} errors-in-log={len(bad)} "
              f"error-rate={r[4] / n:.3f}", file=sys.stderr)
        for l in bad[:5]:
            print("  " + l.rstrip(), file=sys.stderr)
    return r + (1e6 * (j1 - j0) / n, 1e6 * (l1 - l0) / n, (j1 - j0) / (w1 - w0), ok)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1", help="LB nbthread list")
    ap.add_argument("--jmeter-threads", dest="threads_jm", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=15)
    ap.add_argument("--duration", type=int, default=15, help="measured seconds after warm-up")
    ap.add_argument("--backends", type=int, default=2)
    ap.add_argument("--max-error-rate", type=float, default=0.01)
    ap.add_argument("--herd", default=os.path.join(ROOT, "build", "herd"))
    ap.add_argument("--classes", required=True, help="directory with the compiled Launcher")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="herd-jmeter-")
    os.chmod(tmp, 0o755)
    ports = [free_port() for _ in range(a.backends)]
    nginx = start_nginx(tmp, ports, 0)
    rows = []
    try:
        for nt in [int(x) for x in a.threads.split(",")]:
            res = {"haproxy": [], "herd": []}
            for r in range(a.repeats):
                for eng in (["haproxy", "herd"] if r % 2 == 0 else ["herd", "haproxy"]):
                    port = free_port()
                    cfg = os.path.join(tmp, f"{eng}.cfg")
                    with open(cfg, "w") as f:
                        f.write(lb_config(port, ports, nt))
                    exe = a.herd if eng == "herd" else "haproxy"
                    p = subprocess.Popen([exe, "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, preexec_fn=raise_nofile)
                    try:
                        wait_port(port)
                        res[eng].append(run_jmeter(a, tmp, a.classes, port, p.pid, f"{eng}-{nt}-{r}"))
                    finally:
                        p.send_signal(signal.SIGTERM)
                        p.wait(10)
            rows.append((nt, {e: [statistics.median(x[i] for x in v) for i in range(9)]
                              + [sum(x[4] for x in v), all(x[9] for x in v)]
                              for e, v in res.items()}))
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    print("| nbthread | engine | req/s | p50 ms | p90 ms | p99 ms | errors | JMeter CPU µs/req | "
          "JMeter cores | LB CPU µs/req | req/s herd/haproxy | LB CPU/req haproxy/herd |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for nt, m in rows:
        ratio = m["herd"][0] / m["haproxy"][0] if m["haproxy"][0] else float("nan")
        eff = m["haproxy"][7] / m["herd"][7] if m["herd"][7] else float("nan")
        for e in ("haproxy", "herd"):
            v = m[e]
            last = f"{ratio:.2f} | {eff:.2f}" if e == "herd" else " | "
            flag = "" if v[10] else " (run failed)"
            print(f"| {nt} | {e}{flag} | {v[0]:,.0f} | {v[1]:.0f} | {v[2]:.0f} | {v[3]:.0f} | {v[9]} | "
                  f"{v[6]:.1f} | {v[8]:.2f} | {v[7]:.1f} | {last} |")
    print(f"\nJMeter 2.13 non-GUI, {a.threads_jm} threads, keep-alive, HttpClient4, {a.warmup} s warm-up "
          f"dropped + {a.duration} s measured, {a.repeats} alternating repeats (medians, errors summed), "
          f"{a.backends} nginx backends, machine: {os.cpu_count()} cores; latency in ms "
          "(JMeter's resolution)")


if __name__ == "__main__":
    sys.exit(main())
