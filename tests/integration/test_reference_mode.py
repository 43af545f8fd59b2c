"""Reference mode (issue 7): `herd --engine haproxy` supervises a real haproxy
(master-worker, -W) on the same config and applies gossip membership through
haproxy's runtime API, without reload. Real `serf agent -join` backends next
to harness.Backends. The membership scenarios of test_membership_serf.py
(native engine) run here on the reference engine, asserted on haproxy's own
`show servers state` and on traffic:
  * join -> traffic through haproxy reaches it, haproxy's worker pid unchanged;
  * `serf leave` under continuous load -> gone from `show servers state`, zero
    failed requests;
  * kill -9 of a serf agent (its web server gone) -> server removed from
    haproxy, zero failed requests: connection failures and the request the
    web server had received when it died are retried and redispatched
    (retries 3 + option redispatch + retry-on all-retryable-errors: without
    retry-on, haproxy 2.6 answers that one request 502);
  * kill -9 of haproxy -> herd restarts it and re-adds the member's server;
  * `kill -USR2 <herd>` under load -> haproxy reloads (new worker pid), the
    member's server is re-added to the new worker and serves, zero failures;
  * herd's `--cli` `show members` (a herd-only view);
  * a member's port tag changes -> `set server addr` in haproxy;
  * SIGUSR1 -> haproxy finishes in-flight requests, herd leaves, exits 0.
Loopback 127.0.0.30-38 (one LB address and one backend host per test; each
agent binds 7946 on its own address), none used by other test files.
Every process is stopped by PID; every loop is bounded."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (HAPROXY_BIN, HERD_BIN, Backend, Load, free_port, get, kill_procs, log_text,
                     runtime_api, server_of, spawn_logged, wait_port)

SERF = "/usr/bin/serf"
LB_IP = "127.0.0.30"
NODE_IP = "127.0.0.31"

HAPROXY_CFG = """
global
    stats socket ipv4@{ip}:{cli} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    retries 3
    option redispatch
    retry-on all-retryable-errors
frontend f
    bind {ip}:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    server static {ip}:{sport}
"""

MEMBERSHIP_YAML = """
node: herd-lb
bind: {ip}:7946
rpc: {ip}:{rpc}
tags: {{ role: balancer }}
pools:
  - backend: nodes
    match: {{ role: backend }}
    {port}
    server: check inter 500ms
"""


def cli(port, cmd, host=LB_IP):
    return runtime_api(port, cmd, host=host)


def haproxy_pid(port, host=LB_IP):
    m = re.search(r"^Pid: (\d+)$", cli(port, "show info", host), re.M)
    return int(m.group(1)) if m else None


def parse_servers_state(text):
    """{server name: row} of `show servers state` output."""
    rows = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) > 18 and not line.startswith("#"):
            rows[f[3]] = f
    return rows


def servers_state(port, host=LB_IP):
    return list(parse_servers_state(cli(port, "show servers state nodes", host)))


def worker_and_servers(port, host=LB_IP):
    """(worker pid, {server: row}) from one connection, so both come from the
    same haproxy worker (during a reload two may answer)."""
    out = cli(port, "show info;show servers state nodes", host)
    m = re.search(r"^Pid: (\d+)$", out, re.M)
    return (int(m.group(1)) if m else None), parse_servers_state(out.split("\n\n", 1)[-1])


@unittest.skipUnless(os.path.exists(SERF), "serf binary absent")
@unittest.skipUnless(os.path.exists(HAPROXY_BIN), "haproxy binary absent")
class TestReferenceMode(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(HERD_BIN):
            self.skipTest(f"{HERD_BIN} not built")
        self.procs, self.backends = [], []
        self.dir = tempfile.mkdtemp(prefix="herd-ref-")
        self.herd_log = None

    def tearDown(self):
        kill_procs(self.procs)
        for b in self.backends:
            b.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def spawn(self, name, args):
        return spawn_logged(self.procs, self.dir, name, args)

    def output(self, log):
        return log_text(log)

    def wait(self, cond, timeout, what):
        end = time.time() + timeout
        while time.time() < end:
            try:
                if cond():
                    return time.time()
            except (OSError, EOFError):
                pass
            time.sleep(0.05)
        self.fail(f"timed out: {what}\n" + self.output(self.herd_log))

    def backend(self, name, ip, port):
        b = Backend(name, port=port, host=ip)
        self.backends.append(b)
        return b

    def start_herd(self, lb_ip, port_rule, cli_port=None):
        """herd --engine haproxy on `lb_ip`, with a config server `static`
        (a harness.Backend on lb_ip) and a membership pool rule for role=backend."""
        self.lb_ip = lb_ip
        sport = free_port()
        self.backend("static", lb_ip, sport)
        self.port, self.cli_port, self.rpc = free_port(), free_port(), free_port()
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(ip=lb_ip, cli=self.cli_port, port=self.port, sport=sport))
        yml = os.path.join(self.dir, "membership.yaml")
        with open(yml, "w") as f:
            f.write(MEMBERSHIP_YAML.format(ip=lb_ip, rpc=self.rpc, port=port_rule))
        args = [HERD_BIN, "--engine", "haproxy", "--haproxy-bin", HAPROXY_BIN, "-db",
                "-f", cfg, "--membership", yml]
        if cli_port:
            args += ["--cli", f"ipv4@{lb_ip}:{cli_port}"]
        self.herd, self.herd_log = self.spawn("herd", args)
        try:
            wait_port(self.port, host=lb_ip)
            wait_port(self.rpc, host=lb_ip)
        except TimeoutError:
            self.fail("herd/haproxy did not start: " + self.output(self.herd_log))

    def serf_agent(self, name, ip, tags=("role=backend",)):
        args = [SERF, "agent", "-node", name, "-bind", f"{ip}:7946", "-rpc-addr", f"{ip}:7373",
                "-join", f"{self.lb_ip}:7946"]
        for t in tags:
            args += ["-tag", t]
        return self.spawn("serf-" + name, args)[0]

    def serf(self, *args):
        r = subprocess.run([SERF, *args], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def reaches(self, name, n=4):
        for _ in range(n):
            st, _, body = get(self.port, "/", host=self.lb_ip)
            if st == 200 and server_of(body) == name:
                return True
        return False

    def hpid(self):
        return haproxy_pid(self.cli_port, self.lb_ip)

    def state(self):
        return servers_state(self.cli_port, self.lb_ip)

    def test_join_leave_and_restart(self):
        bport = free_port()
        self.backend("web1", NODE_IP, bport)
        self.start_herd(LB_IP, f"port: {bport}")
        pid0 = self.hpid()
        self.assertIsNotNone(pid0)
        self.assertNotEqual(pid0, self.herd.pid)

        # join -> served by haproxy, no reload
        t0 = time.time()
        self.serf_agent("web1", NODE_IP)
        t1 = self.wait(lambda: self.reaches("web1"), 15, "traffic to web1 through haproxy")
        print(f"\njoin -> first request through haproxy: {t1 - t0:.2f}s")
        self.assertEqual(self.hpid(), pid0, "haproxy was reloaded")
        self.assertIn("web1", self.state())

        # kill -9 haproxy (its worker: the master exits too) -> restarted and re-populated
        os.kill(pid0, signal.SIGKILL)
        t2 = time.time()
        self.wait(lambda: (self.hpid() or pid0) != pid0, 15, "haproxy restarted")
        t3 = self.wait(lambda: self.reaches("web1"), 15, "web1 re-added after restart")
        print(f"kill -9 haproxy -> web1 served again: {t3 - t2:.2f}s")
        pid1 = self.hpid()

        # serf leave under load -> drained, deleted, zero failures
        load = Load(self.port, host=LB_IP)
        time.sleep(1.0)
        self.serf("leave", "-rpc-addr", f"{NODE_IP}:7373")
        t4 = self.wait(lambda: "web1" not in self.state(), 20, "web1 deleted from haproxy")
        time.sleep(0.5)
        load.stop()
        print(f"serf leave -> deleted from haproxy in {time.time() - t4:.2f}s ago; "
              f"{load.ok} ok during the test")
        self.assertGreater(load.by_server.get("web1", 0), 0)
        self.assertEqual(load.failed, [], load.failed[:10])
        self.assertEqual(self.hpid(), pid1, "haproxy was reloaded")
        herd_out = self.output(self.herd_log)
        self.assertIn("deleted from haproxy", herd_out)
        if os.environ.get("HERD_REF_LOG"):
            print(herd_out)

        # SIGTERM: herd leaves and stops haproxy
        self.herd.send_signal(signal.SIGTERM)
        self.herd.wait(15)
        self.wait(lambda: not os.path.exists(f"/proc/{pid1}") or
                  "zombie" in open(f"/proc/{pid1}/status").read().lower(), 10, "haproxy stopped")

    def test_membership_join_leave_crash(self):
        """test_membership_serf's join / graceful leave / crash on the reference engine."""
        lb, n1, n2 = "127.0.0.32", "127.0.0.33", "127.0.0.34"
        bport = free_port()
        self.backend("web1", n1, bport)
        b2 = self.backend("web2", n2, bport)
        self.start_herd(lb, f"port: {bport}")
        pid0 = self.hpid()
        t0 = time.time()
        self.serf_agent("web1", n1)
        a2 = self.serf_agent("web2", n2)
        self.wait(lambda: self.reaches("web1", 6), 15, "traffic to web1")
        t1 = self.wait(lambda: self.reaches("web2", 6), 15, "traffic to web2")
        print(f"\ntwo joins -> both served through haproxy: {t1 - t0:.2f}s")
        self.assertEqual(sorted(self.state()), ["static", "web1", "web2"])

        # Graceful leave under load: drained, deleted from haproxy, zero failures.
        load = Load(self.port, host=lb)
        time.sleep(0.5)
        tl = time.time()
        self.serf("leave", "-rpc-addr", f"{n1}:7373")
        tg = self.wait(lambda: "web1" not in self.state(), 20, "web1 deleted from haproxy")
        print(f"leave -> deleted from haproxy: {tg - tl:.2f}s")
        time.sleep(0.5)
        load.stop()
        self.assertEqual(load.failed, [], f"failed requests during leave: {load.failed[:5]}")
        self.assertGreater(load.ok, 20)

        # Crash: kill -9 the agent and stop its web server; haproxy retries and redispatches.
        load = Load(self.port, host=lb)
        time.sleep(0.5)
        tc = time.time()
        a2.send_signal(signal.SIGKILL)
        a2.wait(5)
        b2.close()
        tg = self.wait(lambda: "web2" not in self.state(), 30, "web2 deleted from haproxy")
        print(f"crash -> deleted from haproxy: {tg - tc:.2f}s")
        time.sleep(0.5)
        load.stop()
        self.assertEqual(load.failed, [], f"failed requests during crash: {load.failed[:5]}")
        self.assertGreater(load.by_server.get("static", 0), 0)
        self.assertEqual(self.state(), ["static"])
        self.assertEqual(self.hpid(), pid0, "haproxy was reloaded")
        members = self.serf("members", "-rpc-addr", f"{lb}:{self.rpc}")
        self.assertRegex(members, r"web1\s+\S+\s+left")
        self.assertRegex(members, r"web2\s+\S+\s+failed")

    def test_reload_show_members_and_soft_stop(self):
        lb, n1 = "127.0.0.35", "127.0.0.36"
        bport, herd_cli = free_port(), free_port()
        self.backend("web1", n1, bport)
        self.start_herd(lb, f"port: {bport}", cli_port=herd_cli)
        self.serf_agent("web1", n1)
        self.wait(lambda: self.reaches("web1"), 15, "traffic to web1")

        # herd's own runtime API (--cli): the members view is herd-only (no
        # haproxy equivalent), so it is tested here and not in a parity suite.
        sm = cli(herd_cli, "show members", lb)
        self.assertRegex(sm, r"web1 .*nodes/web1", sm)
        self.assertIn("herd-lb", sm)

        # SIGUSR2 to herd under load: haproxy reloads (new worker), herd re-adds web1.
        w0, rows = worker_and_servers(self.cli_port, lb)
        self.assertIn("web1", rows)
        load = Load(self.port, host=lb)
        time.sleep(0.5)
        t0 = time.time()
        self.herd.send_signal(signal.SIGUSR2)

        def new_worker_has_web1():
            w, rows = worker_and_servers(self.cli_port, lb)
            # srv_admin_state (col 6) 0: ready, not MAINT as a fresh dynamic server is
            return w not in (None, w0) and "web1" in rows and rows["web1"][6] == "0"

        t1 = self.wait(new_worker_has_web1, 15, "web1 in the new haproxy worker")
        print(f"\nSIGUSR2 -> web1 ready in the new worker: {t1 - t0:.2f}s")
        before = load.by_server.get("web1", 0)
        self.wait(lambda: load.by_server.get("web1", 0) > before + 5, 10, "web1 served after reload")
        time.sleep(0.5)
        load.stop()
        self.assertEqual(load.failed, [], f"failed requests during reload: {load.failed[:5]}")
        w1 = self.hpid()
        self.assertNotIn(w1, (None, w0), "haproxy worker pid did not change")
        self.assertIn("haproxy worker changed", self.output(self.herd_log))
        self.assertIsNone(self.herd.poll())
        # Only the new worker serves: every request reaches it after the old one stopped.
        self.wait(lambda: not os.path.exists(f"/proc/{w0}") or
                  "zombie" in open(f"/proc/{w0}/status").read().lower(), 10, "old worker exited")
        self.assertTrue(self.reaches("web1"))

        # SIGUSR1: haproxy finishes the in-flight request, herd leaves the cluster, exits 0.
        slow = {}

        def slow_request():
            try:
                slow["r"] = get(self.port, "/?sleep=1.5", host=lb)
            except (OSError, EOFError) as e:
                slow["r"] = repr(e)

        t = threading.Thread(target=slow_request, daemon=True)
        t.start()
        time.sleep(0.4)
        self.herd.send_signal(signal.SIGUSR1)
        t.join(10)
        self.assertEqual(self.herd.wait(15), 0, self.output(self.herd_log))
        self.assertIsInstance(slow.get("r"), tuple, slow.get("r"))
        self.assertEqual(slow["r"][0], 200)
        self.assertFalse(os.path.exists(f"/proc/{w1}") and
                         "zombie" not in open(f"/proc/{w1}/status").read().lower(), "haproxy still runs")
        members = self.serf("members", "-rpc-addr", f"{n1}:7373")
        self.assertRegex(members, r"herd-lb\s+\S+\s+left", members)

    def test_member_port_change_updates_haproxy_addr(self):
        """A member's port tag changes (pool rule `port_tag`): herd updates the
        server in place, which reaches haproxy as `set server addr ... port`."""
        lb, n1 = "127.0.0.37", "127.0.0.38"
        p1, p2 = free_port(), free_port()
        self.backend("web1-a", n1, p1)
        self.backend("web1-b", n1, p2)
        self.start_herd(lb, "port_tag: port")
        self.serf_agent("web1", n1, tags=("role=backend", f"port={p1}"))
        self.wait(lambda: self.reaches("web1-a"), 15, "traffic to web1 on its first port")
        pid0 = self.hpid()
        load = Load(self.port, host=lb)
        time.sleep(0.5)
        t0 = time.time()
        self.serf("tags", "-rpc-addr", f"{n1}:7373", "-set", f"port={p2}")

        def moved():
            rows = parse_servers_state(cli(self.cli_port, "show servers state nodes", lb))
            return "web1" in rows and rows["web1"][18] == str(p2)  # srv_port

        t1 = self.wait(moved, 15, "web1's port updated in haproxy")
        self.wait(lambda: load.by_server.get("web1-b", 0) > 3, 10, "traffic to web1's new port")
        print(f"\nport tag change -> haproxy's server updated: {t1 - t0:.2f}s")
        load.stop()
        self.assertEqual(load.failed, [], f"failed requests: {load.failed[:5]}")
        self.assertEqual(self.hpid(), pid0, "haproxy was reloaded")
        self.assertIn(f"{n1}", cli(self.cli_port, "show servers state nodes", lb))
        after = {server_of(get(self.port, "/", host=lb)[2]) for _ in range(6)}
        self.assertNotIn("web1-a", after)


if __name__ == "__main__":
    unittest.main()
