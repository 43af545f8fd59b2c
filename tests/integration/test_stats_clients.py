"""Real clients against herd (issue 3): the tools people point at HAProxy must
work unchanged against herd. Each client runs against real haproxy 2.6 and
against herd with the same lab config (listen stats, frontend localnodes,
backend nodes with s1/s2, a unix and a TCP stats socket) and what it saw is
compared:

* prometheus-haproxy-exporter 0.14 scraping the CSV over HTTP (`/;csv`), the
  unix socket and the TCP socket: `haproxy_up 1`, no CSV parse failures, and
  the same metric names and label sets as against haproxy; with `check`
  servers, the same as the capture tests/data/haproxy-captures/
  exporter-metrics-*.txt;
* hatop 0.8.2 in a tmux pane on the unix and the TCP socket: the STATUS view
  lists the proxies and the servers with their status and check (`-`/`none`
  without checks, `UP`/`L7OK` with), no "socket error", its CLI view runs
  `get weight nodes/s1`, and it quits with status 0;
* headless Chromium rendering the stats page: a 1400x900 non-trivial PNG
  (kept under $HERD_ARTIFACTS, default <build dir>/test-artifacts, with the
  exporter scrapes and hatop screens), no console messages, and a DOM with
  the proxy tables (`table.tbl`), the server anchors and haproxy's row classes.

The main tests use servers without `check`, so the state is settled at once
and the same on both engines. The `*_with_checks_*`/`*_check_status_*` tests
use `check` and wait for L7OK, as in the captures.

A test whose tool is not installed is skipped (scripts/install-deps.sh
installs them all). Every process started here is stopped by its PID (tmux by
its private server socket); everything listens on 127.0.0.1 only. Each test
takes under ~30 s.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import HERD_BIN, LB, CAPTURES, Backend, free_port, have_haproxy, wait_port

ENGINES = ["haproxy", "herd"] if have_haproxy() else ["herd"]
ARTIFACTS = os.environ.get("HERD_ARTIFACTS") or os.path.join(
    os.path.dirname(os.path.abspath(HERD_BIN)), "test-artifacts")

EXPORTER = shutil.which("prometheus-haproxy-exporter")
HATOP = shutil.which("hatop")
TMUX = shutil.which("tmux")
CHROMIUM = shutil.which("chromium")


def save_artifact(name, text):
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, name), "w") as f:
        f.write(text)


def need(test, *tools):
    for name, path in tools:
        if not path:
            test.skipTest(f"{name} is not installed (scripts/install-deps.sh installs it)")


LAB_CFG = """
global
    stats socket {sock} mode 600 level admin
    stats socket ipv4@127.0.0.1:{cli} level admin
    stats timeout 30s
defaults
    mode http
    option httplog
    option dontlognull
    timeout connect 5000
    timeout client 50000
    timeout server 50000
listen stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /
frontend localnodes
    bind 127.0.0.1:{port}
    mode http
    default_backend nodes
backend nodes
    mode http
    option httpchk HEAD /
    balance roundrobin
    option forwardfor
    server s1 {s1}{check}
    server s2 {s2}{check}
"""


def cli(port_or_path, data, timeout=3.0):
    """One non-interactive runtime API exchange; reads until the server closes."""
    if isinstance(port_or_path, int):
        s = socket.create_connection(("127.0.0.1", port_or_path), timeout=timeout)
    else:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(port_or_path)
    try:
        s.sendall(data)
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d
    finally:
        s.close()


class Lab:
    """The lab config on one engine, with two backends. With checks=True the
    servers have `check` and the lab waits until both passed their first
    health check (UP, L7OK); without, they are `no check` at once. Either way
    every client sees a settled state, the same on both engines."""

    def __init__(self, engine, checks=False):
        self.engine = engine
        self.backends = [Backend("s1"), Backend("s2")]
        self.dir = tempfile.mkdtemp(prefix=f"clients-{engine}-")
        self.sock = os.path.join(self.dir, "lb.sock")
        self.port, self.stats, self.cli = free_port(), free_port(), free_port()
        cfg = LAB_CFG.format(sock=self.sock, cli=self.cli, stats=self.stats, port=self.port,
                             s1=self.backends[0].addr, s2=self.backends[1].addr,
                             check=" check" if checks else "")
        self.lb = None
        try:
            self.lb = LB(cfg, engine=engine)
            for p in (self.port, self.stats, self.cli):
                try:
                    wait_port(p, timeout=15)
                except TimeoutError as e:
                    raise AssertionError(f"{engine} did not open {p} (rc {self.lb.proc.poll()}):\n"
                                         f"{self.lb.output()}") from e
            if checks:
                self._wait_checked()
        except Exception:
            self.close()
            raise

    def _wait_checked(self, timeout=8.0):
        end = time.time() + timeout
        last = b""
        while time.time() < end:
            last = cli(self.cli, b"show stat\n")
            rows = [l.split(b",") for l in last.splitlines() if l.startswith(b"nodes,s")]
            if len(rows) == 2 and all(r[17] == b"UP" and r[36] == b"L7OK" for r in rows):
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.engine}: servers not UP/L7OK after {timeout}s:\n{last.decode()}")

    def _close_backends(self):
        for b in self.backends:
            b.close()

    def close(self):
        if self.lb:
            self.lb.stop()
        self._close_backends()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def stop_pid(proc, timeout=5):
    """Stops a process we started, by its PID: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


# ---------------------------------------------------------------------------
# prometheus-haproxy-exporter

METRIC_RE = re.compile(r'^(haproxy_[a-zA-Z0-9_]+)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
# Labels whose values name the build, not the proxies: compared by name only.
VERSION_LABELS = {"version", "release_date", "revision", "goversion", "branch"}


def parse_metrics(text):
    """{(name, ((label, value), ...)): value} of the `haproxy_*` samples."""
    out = {}
    for line in text.splitlines():
        m = METRIC_RE.match(line)
        if not m:
            continue
        labels = tuple(sorted(LABEL_RE.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = m.group(3)
    return out


def metric_keys(metrics):
    """Names and label sets, with build/version label values blanked."""
    keys = set()
    for name, labels in metrics:
        keys.add((name, tuple((k, "*" if k in VERSION_LABELS else v) for k, v in labels)))
    return keys


def exporter_scrape(uri, timeout=20):
    """Runs the exporter on `uri`, fetches /metrics once and stops it. The
    exporter runs under `timeout` so it cannot outlive a crashed test."""
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(["timeout", "-s", "KILL", str(timeout), EXPORTER,
                             f"--web.listen-address=127.0.0.1:{port}",
                             f"--haproxy.scrape-uri={uri}", "--haproxy.timeout=5s"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, timeout=10)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            return r.read().decode()
    except Exception as e:
        log.seek(0)
        raise AssertionError(f"exporter on {uri}: {e}\n{log.read().decode(errors='replace')}")
    finally:
        stop_pid(proc)
        log.close()


def captured_keys(transport):
    path = os.path.join(CAPTURES, f"exporter-metrics-{transport}.txt")
    with open(path) as f:  # in the repository: a missing capture fails the test
        return metric_keys(parse_metrics(f.read()))


# Server metrics the exporter takes from the check columns, which are empty
# (so not exported) for servers without `check`.
CHECK_METRICS = {"haproxy_server_check_duration_seconds", "haproxy_server_check_failures_total",
                 "haproxy_server_downtime_seconds_total"}


class TestPrometheusExporter(unittest.TestCase):
    def scrape_all(self, engine, checks=False):
        with Lab(engine, checks=checks) as lab:
            out = {
                "http": exporter_scrape(f"http://127.0.0.1:{lab.stats}/;csv"),
                "unix": exporter_scrape(f"unix:{lab.sock}"),
                "tcp": exporter_scrape(f"tcp://127.0.0.1:{lab.cli}"),
            }
        tag = "-checks" if checks else ""
        for t, text in out.items():
            save_artifact(f"exporter-{engine}-{t}{tag}.txt", text)
        return out

    def check_scrape(self, engine, transport, text):
        m = parse_metrics(text)
        where = f"{engine} over {transport}"
        self.assertEqual(m.get(("haproxy_up", ())), "1", where)
        self.assertEqual(m.get(("haproxy_exporter_csv_parse_failures_total", ())), "0", where)
        for srv in ("s1", "s2"):
            self.assertEqual(m.get(("haproxy_server_up", (("backend", "nodes"), ("server", srv)))),
                             "1", f"{where}: server {srv}")
        self.assertEqual(m.get(("haproxy_backend_up", (("backend", "nodes"),))), "1", where)
        self.assertIn(("haproxy_frontend_current_sessions", (("frontend", "localnodes"),)), m, where)
        if transport != "http":  # `show info` is read only over a socket
            self.assertTrue(any(k[0] == "haproxy_version_info" for k in m), where)
        self.assertGreaterEqual(len(m), 170, where)
        return metric_keys(m)

    def assert_same_keys(self, got, want, what):
        self.assertEqual(sorted(got - want), [], f"{what}: only herd has")
        self.assertEqual(sorted(want - got), [], f"{what}: missing in herd")

    def test_exporter_http_unix_tcp(self):
        """Servers without checks: herd's scrape has the same metric names and
        label sets as the live haproxy's, over each transport."""
        need(self, ("prometheus-haproxy-exporter", EXPORTER))
        keys = {}
        for engine in ENGINES:
            for transport, text in self.scrape_all(engine).items():
                keys[(engine, transport)] = self.check_scrape(engine, transport, text)
        for transport in ("http", "unix", "tcp"):
            herd = keys[("herd", transport)]
            if "haproxy" in ENGINES:
                want = keys[("haproxy", transport)]
            else:  # the capture (servers with checks), less the check metrics
                want = captured_keys(transport)
                if want is None:
                    continue
                want = {k for k in want if k[0] not in CHECK_METRICS}
            self.assert_same_keys(herd, want, f"herd over {transport}")

    # With `check`, as in the lab the captures exporter-metrics-*.txt come from.
    def run_checked(self, engine):
        need(self, ("prometheus-haproxy-exporter", EXPORTER))
        for transport, text in self.scrape_all(engine, checks=True).items():
            got = self.check_scrape(engine, transport, text)
            want = captured_keys(transport)
            self.assert_same_keys(got, want, f"{engine} over {transport} vs the capture")

    def test_exporter_with_checks_haproxy(self):
        if not have_haproxy():
            self.skipTest("haproxy is not installed")
        self.run_checked("haproxy")

    def test_exporter_with_checks_herd(self):
        self.run_checked("herd")


# ---------------------------------------------------------------------------
# hatop in tmux

class Tmux:
    """A private tmux server (its own socket) running commands in panes."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="clients-tmux-")
        self.sock = os.path.join(self.dir, "tmux.sock")
        self.started = False

    def run(self, *args, check=True):
        return subprocess.run([TMUX, "-S", self.sock, *args], capture_output=True, text=True,
                              timeout=10, check=check)

    def new(self, name, command):
        # The pane keeps the command's last words (and exit status) on screen.
        sh = f"{command}; echo \"EXIT $?\"; sleep 60"
        self.run("new-session", "-d", "-s", name, "-x", "160", "-y", "45", "sh", "-c", sh)
        self.started = True

    def keys(self, name, *keys):
        self.run("send-keys", "-t", name, *keys)

    def screen(self, name):
        return self.run("capture-pane", "-p", "-t", name).stdout

    def close(self):
        if self.started:
            pid = self.run("display-message", "-p", "#{pid}", check=False).stdout.strip()
            self.run("kill-server", check=False)
            if pid.isdigit():
                end = time.time() + 3
                while time.time() < end:
                    try:
                        os.kill(int(pid), 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.05)
                else:
                    os.kill(int(pid), signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


# NAME, W, STATUS (verbatim from the CSV: "UP", "UP 1/3", "no check", ...), CHECK.
SERVER_ROW_RE = re.compile(
    r'^\s*(s1|s2)\s+(\d+)\s+(no check|-|[A-Z]+(?: \d+/\d+)?)(?:\s+([A-Za-z][A-Za-z0-9]*))?')


def hatop_view(screen):
    """What a parity check can compare in hatop's STATUS screen."""
    rows = []
    for line in screen.splitlines():
        m = SERVER_ROW_RE.match(line)
        if m:
            rows.append((m.group(1), m.group(2), m.group(3), m.group(4) or ""))
    proxies = re.findall(r'>>> (\S+)', screen)
    counts = re.search(r'Proxies:\s*(\d+)\s+Services:\s*(\d+)', screen)
    return {"servers": rows, "proxies": proxies, "counts": counts.groups() if counts else None}


class TestHatop(unittest.TestCase):
    def run_hatop(self, engine, checks=False):
        """hatop on the unix and the TCP socket at once; returns the STATUS
        screen, the CLI screen after `get weight nodes/s1` and the screen
        after quitting, for each."""
        out = {}
        with Lab(engine, checks=checks) as lab:
            tm = Tmux()
            try:
                targets = {"unix": f"-s {lab.sock}", "tcp": f"-t 127.0.0.1:{lab.cli}"}
                for t, arg in targets.items():
                    tm.new(t, f"{HATOP} {arg} -i 1")
                time.sleep(3)
                for t in targets:
                    out[t] = {"status": tm.screen(t)}
                    tm.keys(t, "Escape", "5")  # CLI view
                time.sleep(0.5)
                for t in targets:
                    tm.keys(t, "-l", "get weight nodes/s1")
                    tm.keys(t, "Enter")
                time.sleep(1)
                for t in targets:
                    out[t]["cli"] = tm.screen(t)
                    tm.keys(t, "Escape", "1")
                    tm.keys(t, "q")
                time.sleep(0.5)
                for t in targets:
                    out[t]["exit"] = tm.screen(t)
            finally:
                tm.close()
        tag = "-checks" if checks else ""
        for t, s in out.items():
            save_artifact(f"hatop-{engine}-{t}{tag}.txt",
                          "".join(f"=== {k} ===\n{v}\n" for k, v in s.items()))
        return out

    def check_screens(self, engine, transport, s, servers):
        where = f"hatop on {engine} over {transport}"
        status = s["status"]
        self.assertNotIn("socket error", status, f"{where}:\n{status}")
        self.assertNotIn("error", s["exit"].lower(), f"{where} at exit:\n{s['exit']}")
        self.assertIn("HATop version", status, f"{where}:\n{status}")
        self.assertIn("HAProxy Version:", status, where)
        v = hatop_view(status)
        self.assertEqual(v["proxies"], ["stats", "localnodes", "nodes"], f"{where}:\n{status}")
        self.assertEqual(v["servers"], servers, f"{where}:\n{status}")
        self.assertEqual(v["counts"], ("3", "6"), f"{where}:\n{status}")
        self.assertIn("1 (initial 1)", s["cli"], f"{where} CLI view:\n{s['cli']}")
        self.assertIn("EXIT 0", s["exit"], f"{where} did not quit cleanly:\n{s['exit']}")
        return v

    def test_hatop_unix_and_tcp(self):
        """Servers without checks (`no check` in the CSV, which hatop shows
        as status "-", check "none"): the same view on both engines."""
        need(self, ("hatop", HATOP), ("tmux", TMUX))
        views = {}
        want = [("s1", "1", "-", "none"), ("s2", "1", "-", "none")]
        for engine in ENGINES:
            for transport, s in self.run_hatop(engine).items():
                views[(engine, transport)] = self.check_screens(engine, transport, s, want)
        if set(ENGINES) == {"haproxy", "herd"}:
            for transport in ("unix", "tcp"):
                self.assertEqual(views[("herd", transport)], views[("haproxy", transport)], transport)

    # With `check`: hatop shows "UP" and "L7OK" as in hatop-screen-*.txt.
    CHECKED = [("s1", "1", "UP", "L7OK"), ("s2", "1", "UP", "L7OK")]

    def test_hatop_check_status_haproxy(self):
        need(self, ("hatop", HATOP), ("tmux", TMUX))
        if not have_haproxy():
            self.skipTest("haproxy is not installed")
        for transport, s in self.run_hatop("haproxy", checks=True).items():
            self.check_screens("haproxy", transport, s, self.CHECKED)

    def test_hatop_check_status_herd(self):
        need(self, ("hatop", HATOP), ("tmux", TMUX))
        for transport, s in self.run_hatop("herd", checks=True).items():
            self.check_screens("herd", transport, s, self.CHECKED)


# ---------------------------------------------------------------------------
# headless Chromium on the stats page

def chromium(args, url, timeout=25):
    """Runs headless Chromium once with a throw-away profile; returns
    (returncode, stdout, stderr)."""
    prof = tempfile.mkdtemp(prefix="clients-chromium-")
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
           "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={prof}", *args, url]
    env = dict(os.environ, HOME=prof)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group Chromium's launcher started
        proc.communicate()
        raise AssertionError(f"chromium did not finish in {timeout}s: {cmd}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(prof, ignore_errors=True)


def png_size(data):
    """(width, height) from a PNG's IHDR, or None."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# `--enable-logging=stderr` prints every console message (and uncaught
# exception) of the page as `...:INFO:CONSOLE:<line>] "<text>", source: <url>`.
CONSOLE_RE = re.compile(r':CONSOLE[:(]')


ROW_RE = re.compile(r'<tr class="([a-z_]+)">')
PAGE_ROWS = ["titre"] * 3 + ["frontend", "backend"] + ["titre"] * 3 + ["frontend"] + \
    ["titre"] * 3 + ["active_no_check", "active_no_check", "backend"]


class TestChromiumStatsPage(unittest.TestCase):
    def render(self, engine):
        """Screenshot (with console logging) and DOM dump of the stats page."""
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, f"stats-page-{engine}.png")
        if os.path.exists(shot):
            os.unlink(shot)
        with Lab(engine) as lab:
            url = f"http://127.0.0.1:{lab.stats}/"
            rc, _, err = chromium([f"--screenshot={shot}", "--window-size=1400,900",
                                   "--hide-scrollbars", "--enable-logging=stderr", "--v=0"], url)
            self.assertTrue(os.path.exists(shot), f"{engine}: no screenshot (rc {rc}):\n{err}")
            rc2, dom, err2 = chromium(["--dump-dom", "--enable-logging=stderr", "--v=0"], url)
        console = [l for l in (err + err2).splitlines() if CONSOLE_RE.search(l)]
        with open(shot, "rb") as f:
            png = f.read()
        return {"png": png, "dom": dom, "console": console, "rc": (rc, rc2), "stderr": err2}

    def check(self, engine, r):
        where = f"stats page of {engine}"
        self.assertEqual(png_size(r["png"]), (1400, 900), where)
        # A blank 1400x900 PNG is a few KB; the page with its tables is much more.
        self.assertGreater(len(r["png"]), 20000, where)
        self.assertEqual(r["console"], [], f"{where}: console errors")
        dom = r["dom"]
        self.assertEqual(r["rc"][1], 0, f"{where}: --dump-dom failed:\n{r['stderr']}")
        self.assertIn("Statistics Report for HAProxy", dom, where)
        # Two table.tbl per proxy (title bar + data): stats, localnodes, nodes.
        self.assertEqual(dom.count('class="tbl"'), 6, f"{where}:\n{dom[:3000]}")
        for name in ("stats", "localnodes", "nodes"):
            self.assertIn(f'<a name="{name}"></a>', dom, where)
        for srv in ("s1", "s2"):
            self.assertRegex(dom, rf'<a name="nodes/{srv}"></a>', where)
        return dom

    def run_engine(self, engine):
        need(self, ("chromium", CHROMIUM))
        if engine == "haproxy" and not have_haproxy():
            self.skipTest("haproxy is not installed")
        dom = self.check(engine, self.render(engine))
        # The rows haproxy's page has for the lab (stats-page.html in the
        # captures, whose servers have checks: active_up), by their classes.
        self.assertEqual(ROW_RE.findall(dom), PAGE_ROWS, engine)

    # One test per engine keeps each under ~15 s (Chromium starts twice).
    def test_stats_page_renders_herd(self):
        self.run_engine("herd")

    def test_stats_page_renders_haproxy(self):
        self.run_engine("haproxy")


if __name__ == "__main__":
    unittest.main()
