"""End to end in Docker (issue 6): the FROM-scratch image, docker/compose.yml
with `ha` and a scalable `webapp` (`herd agent -join ha -tag role=backend --
herd-webapp --port 3000`), scaled 1 -> 5 -> 2 under continuous HTTP load.

Asserts: no failed request while webapps join or stop gracefully; the stats
CSV (published port 1936) lists exactly the running webapps after each step,
without restarting ha; `docker kill` of a webapp is detected and its server
removed; `docker stop` of ha soft-stops herd (exit 0) within its grace
period. `docker-compose down` always runs in cleanup.

Skipped (with the reason) when no Docker Engine is reachable or
docker-compose is missing. Takes about 1-2 minutes; bounded by DEADLINE_S.
The image is built by docker/build.sh from the binaries next to HERD_BIN
(herd and herd-webapp) when both exist there, else in build-docker/; it is
tagged herd-lb:e2e and left in the image cache. Only 127.0.0.1 is contacted
(the published ports); containers run on the project's own network.
"""
import csv
import http.client
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
import unittest

from harness import HERD_BIN, free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
COMPOSE_FILE = os.path.join(ROOT, "docker", "compose.yml")
IMAGE = os.environ.get("HERD_E2E_IMAGE", "herd-lb:e2e")
DEADLINE_S = 280  # the whole test, cleanup excluded


def run(cmd, timeout=120, check=True, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def docker_unavailable():
    if shutil.which("docker") is None:
        return "no docker client"
    if shutil.which("docker-compose") is None:
        return "no docker-compose"
    try:
        p = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"docker info failed: {e}"
    if p.returncode != 0 or not p.stdout.strip():
        return f"no Docker Engine reachable: {p.stderr.strip()[:200]}"
    return None


class Load:
    """Continuous GETs on a few keep-alive connections to 127.0.0.1:port.
    Every answer must be 200 with the webapp's JSON; anything else (status,
    reset, timeout) is a failure, tagged with the phase it happened in."""

    def __init__(self, port, threads=4):
        self.port = port
        self.phase = "start"
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = {}        # phase -> count
        self.failures = []  # (phase, time, text)
        self.hosts = {}     # phase -> {host: count}
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)

    def failed(self, phases):
        with self.lock:
            return [f for f in self.failures if f[0] in phases]

    def _loop(self):
        conn = None
        end = time.time() + DEADLINE_S
        while not self.stop.is_set() and time.time() < end:
            phase = self.phase
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/")
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise RuntimeError(f"status {r.status}: {body[:200]!r}")
                doc = json.loads(body)
                with self.lock:
                    self.ok[phase] = self.ok.get(phase, 0) + 1
                    h = self.hosts.setdefault(phase, {})
                    h[doc["host"]] = h.get(doc["host"], 0) + 1
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - every failure is recorded
                # Under the phase at the time of the failure: a request sent
                # in "at2" that fails because "kill" began meanwhile (seen
                # once: two 502s a moment before the killed server's check
                # timed out) belongs to "kill".
                with self.lock:
                    self.failures.append((self.phase, time.time(), f"{type(e).__name__}: {e}"))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn is not None:
            conn.close()


class DockerE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.environ.get("HERD_SANITIZER"):
            # The image is FROM scratch around the release binary; an
            # instrumented one needs its sanitizer runtime (the plain run
            # covers this test).
            raise unittest.SkipTest("the image holds a release binary, not a sanitizer build")
        why = docker_unavailable()
        if why:
            raise unittest.SkipTest(why)

    def setUp(self):
        self.t0 = time.time()
        self.project = f"herde2e{os.getpid()}{secrets.token_hex(3)}"
        self.http_port, self.stats_port, self.api_port = free_port(), free_port(), free_port()
        self.env = dict(os.environ, HERD_IMAGE=IMAGE, HERD_HTTP_PORT=str(self.http_port),
                        HERD_STATS_PORT=str(self.stats_port), HERD_API_PORT=str(self.api_port),
                        HERD_PUBLISH_IP="127.0.0.1", COMPOSE_PROJECT_NAME=self.project)
        self.addCleanup(self._down)
        self._build_image()

    # -- helpers ---------------------------------------------------------

    def _build_image(self):
        cmd = [os.path.join(ROOT, "docker", "build.sh"), "--tag", IMAGE]
        bin_dir = os.path.dirname(os.path.abspath(HERD_BIN))
        if os.path.exists(os.path.join(bin_dir, "herd-webapp")) and os.path.exists(HERD_BIN):
            cmd += ["--bin-dir", bin_dir]
        p = run(cmd, timeout=1200)
        print(p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "", flush=True)

    def compose(self, *args, timeout=120, check=True):
        return run(["docker-compose", "-p", self.project, "-f", COMPOSE_FILE, *args],
                   timeout=timeout, check=check, env=self.env)

    def _down(self):
        if getattr(self, "_failed_logs", False) or os.environ.get("HERD_E2E_LOGS"):
            p = self.compose("logs", "--no-color", "-t", "--tail", "60", check=False)
            print(p.stdout[-8000:], flush=True)
        self.compose("down", "-v", "--remove-orphans", "-t", "5", timeout=180, check=False)

    def fail_with_logs(self, msg):
        self._failed_logs = True
        self.fail(msg)

    def running_webapps(self):
        ids = self.compose("ps", "-q", "webapp").stdout.split()
        names = set()
        for cid in ids:
            p = run(["docker", "inspect", "-f", "{{.State.Running}} {{.Config.Hostname}}", cid])
            running, host = p.stdout.split()
            if running == "true":
                names.add(host)
        return names

    def stats_rows(self):
        c = http.client.HTTPConnection("127.0.0.1", self.stats_port, timeout=5)
        try:
            c.request("GET", "/;csv")
            r = c.getresponse()
            text = r.read().decode()
        finally:
            c.close()
        if r.status != 200:
            raise AssertionError(f"stats: {r.status}")
        text = text.lstrip("# ")
        return [row for row in csv.DictReader(io.StringIO(text))
                if row.get("pxname") == "nodes" and row.get("svname") not in ("FRONTEND", "BACKEND")]

    def wait_pool(self, expected, timeout, up=True):
        """Until the stats CSV lists exactly `expected` servers (all UP when
        `up`). Returns the rows; fails with what it last saw."""
        end = time.time() + timeout
        last = None
        while time.time() < end:
            try:
                rows = self.stats_rows()
                last = {r["svname"]: r["status"] for r in rows}
                if set(last) == set(expected) and (not up or all(
                        s.startswith("UP") for s in last.values())):
                    return rows
            except (OSError, AssertionError, http.client.HTTPException) as e:
                last = f"{type(e).__name__}: {e}"
            time.sleep(0.25)
        self.fail_with_logs(f"pool never became {sorted(expected)} (up={up}); last: {last}\n"
                            f"runtime API `show members`:\n{self.api('show members')}")

    def api(self, command):
        """One runtime API command on the published port 9999 of ha."""
        try:
            with socket.create_connection(("127.0.0.1", self.api_port), timeout=5) as s:
                s.sendall(command.encode() + b"\n")
                out = b""
                while chunk := s.recv(65536):
                    out += chunk
            return out.decode(errors="replace")
        except OSError as e:
            return f"({type(e).__name__}: {e})"

    def scale(self, n):
        self.compose("up", "-d", "--no-recreate", "--scale", f"webapp={n}", timeout=180)

    def ha_id(self):
        return self.compose("ps", "-q", "ha").stdout.strip()

    # -- the test --------------------------------------------------------

    def test_scale_under_load(self):
        self.compose("up", "-d", "--scale", "webapp=1", timeout=180)
        ha = self.ha_id()
        ha_started = run(["docker", "inspect", "-f", "{{.State.StartedAt}}", ha]).stdout.strip()

        names = self.running_webapps()
        self.assertEqual(len(names), 1)
        self.wait_pool(names, timeout=60)

        # The webapp's answer through herd: the lab's JSON and cookie.
        c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=5)
        c.request("GET", "/")
        r = c.getresponse()
        doc = json.loads(r.read())
        c.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(set(doc), {"hello", "ip", "host", "tag", "sessionViews", "id"})
        self.assertIn(doc["host"], names)
        self.assertTrue(doc["ip"].endswith(":3000"))
        self.assertIn("NODESESSID=", r.getheader("Set-Cookie", ""))

        load = Load(self.http_port)
        load.start()
        self.addCleanup(load.finish)
        try:
            time.sleep(1)
            load.phase = "scale5"
            self.scale(5)
            names5 = self.running_webapps()
            self.assertEqual(len(names5), 5)
            self.assertTrue(names <= names5, "scaling up recreated the first webapp")
            self.wait_pool(names5, timeout=60)
            time.sleep(2)  # traffic reaches all five
            load.phase = "at5"
            time.sleep(2)

            load.phase = "scale2"
            self.scale(2)
            names2 = self.running_webapps()
            self.assertEqual(len(names2), 2)
            self.wait_pool(names2, timeout=60)
            load.phase = "at2"
            time.sleep(2)

            # docker kill: no leave, gossip must declare it failed.
            victim_host = sorted(names2)[0]
            victim = next(cid for cid in self.compose("ps", "-q", "webapp").stdout.split()
                          if run(["docker", "inspect", "-f", "{{.Config.Hostname}}", cid])
                          .stdout.strip() == victim_host)
            load.phase = "kill"
            t_kill = time.time()
            run(["docker", "kill", victim])
            self.wait_pool(names2 - {victim_host}, timeout=60, up=False)
            kill_detect_s = time.time() - t_kill
            load.phase = "after_kill"
            time.sleep(2)
        finally:
            load.finish()

        graceful = ("start", "scale5", "at5", "scale2", "at2")
        with load.lock:
            ok = dict(load.ok)
            hosts = {k: dict(v) for k, v in load.hosts.items()}
            failures = list(load.failures)
        print(f"\nrequests ok per phase: {ok}\nfailures: {len(failures)} "
              f"(kill phase: {len([f for f in failures if f[0] == 'kill'])})\n"
              f"kill detected and removed in {kill_detect_s:.1f} s", flush=True)
        bad = [f for f in failures if f[0] in graceful or f[0] == "after_kill"]
        if bad:
            self.fail_with_logs(f"{len(bad)} failed requests on joins/graceful stops: {bad[:10]}")
        self.assertGreater(sum(ok.get(p, 0) for p in graceful), 200)
        self.assertEqual(set(hosts.get("at5", {})), names5, "not all five webapps got traffic")
        self.assertEqual(set(hosts.get("at2", {})), names2)
        self.assertEqual(set(hosts.get("after_kill", {})), names2 - {victim_host})

        # ha was never restarted.
        self.assertEqual(self.ha_id(), ha)
        self.assertEqual(
            run(["docker", "inspect", "-f", "{{.State.StartedAt}}", ha]).stdout.strip(), ha_started)
        self.assertEqual(
            run(["docker", "inspect", "-f", "{{.RestartCount}}", ha]).stdout.strip(), "0")

        # docker stop ha: SIGUSR1 (soft stop), exit 0 well within the 10 s grace.
        t = time.time()
        run(["docker", "stop", "-t", "10", ha], timeout=60)
        stop_s = time.time() - t
        code = run(["docker", "inspect", "-f", "{{.State.ExitCode}}", ha]).stdout.strip()
        print(f"docker stop ha: {stop_s:.1f} s, exit code {code}", flush=True)
        if code != "0" or stop_s >= 9.5:
            self.fail_with_logs(f"ha did not stop gracefully: exit {code} after {stop_s:.1f} s")
        self.assertLess(time.time() - self.t0, DEADLINE_S + 60)


if __name__ == "__main__":
    unittest.main()
