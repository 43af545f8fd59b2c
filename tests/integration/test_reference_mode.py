"""Reference mode (issue 7): `herd --engine haproxy` supervises a real haproxy on
the same config and applies gossip membership through haproxy's runtime API,
without reload. A `serf agent -join` backend next to a harness.Backend:
  * join -> traffic through haproxy reaches it, haproxy's pid unchanged;
  * `serf leave` under continuous load -> gone from `show servers state`, zero
    failed requests;
  * kill -9 of haproxy -> herd restarts it and re-adds the member's server.
Loopback 127.0.0.30 (herd + haproxy + a config server) and 127.0.0.31 (the backend host).
Every process is stopped by PID; every loop is bounded."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import HAPROXY_BIN, HERD_BIN, Backend, Load, free_port, get, runtime_api, server_of, wait_port

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
    port: {bport}
    server: check inter 500ms
"""


def cli(port, cmd):
    return runtime_api(port, cmd, host=LB_IP)


def haproxy_pid(port):
    m = re.search(r"^Pid: (\d+)$", cli(port, "show info"), re.M)
    return int(m.group(1)) if m else None


def servers_state(port):
    return [l.split()[3] for l in cli(port, "show servers state nodes").splitlines()[2:]
            if len(l.split()) > 3]


@unittest.skipUnless(os.path.exists(SERF), "serf binary absent")
@unittest.skipUnless(os.path.exists(HAPROXY_BIN), "haproxy binary absent")
class TestReferenceMode(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(HERD_BIN):
            self.skipTest(f"{HERD_BIN} not built")
        self.procs, self.backends = [], []
        self.dir = tempfile.mkdtemp(prefix="herd-ref-")

    def tearDown(self):
        for p, log in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait(10)
            log.close()
        for b in self.backends:
            b.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def spawn(self, name, args):
        log = open(os.path.join(self.dir, name + ".log"), "w+")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((p, log))
        return p, log

    def output(self, log):
        log.flush()
        log.seek(0)
        return log.read()

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

    def reaches(self, name):
        for _ in range(4):
            st, _, body = get(self.port, "/", host=LB_IP)
            if st == 200 and server_of(body) == name:
                return True
        return False

    def test_join_leave_and_restart(self):
        bport, sport = free_port(), free_port()
        self.backends.append(Backend("static", port=sport, host=LB_IP))
        self.port, self.cli_port, self.rpc = free_port(), free_port(), free_port()
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(ip=LB_IP, cli=self.cli_port, port=self.port, sport=sport))
        yml = os.path.join(self.dir, "membership.yaml")
        with open(yml, "w") as f:
            f.write(MEMBERSHIP_YAML.format(ip=LB_IP, rpc=self.rpc, bport=bport))
        self.backends.append(Backend("web1", port=bport, host=NODE_IP))
        self.herd, self.herd_log = self.spawn(
            "herd", [HERD_BIN, "--engine", "haproxy", "--haproxy-bin", HAPROXY_BIN, "-db",
                     "-f", cfg, "--membership", yml])
        try:
            wait_port(self.port, host=LB_IP)
            wait_port(self.rpc, host=LB_IP)
        except TimeoutError:
            self.fail("herd/haproxy did not start: " + self.output(self.herd_log))
        pid0 = haproxy_pid(self.cli_port)
        self.assertIsNotNone(pid0)
        self.assertNotEqual(pid0, self.herd.pid)

        # join -> served by haproxy, no reload
        t0 = time.time()
        self.spawn("serf-web1", [SERF, "agent", "-node", "web1", "-bind", f"{NODE_IP}:7946",
                                 "-rpc-addr", f"{NODE_IP}:7373", "-join", f"{LB_IP}:7946",
                                 "-tag", "role=backend"])
        t1 = self.wait(lambda: self.reaches("web1"), 15, "traffic to web1 through haproxy")
        print(f"\njoin -> first request through haproxy: {t1 - t0:.2f}s")
        self.assertEqual(haproxy_pid(self.cli_port), pid0, "haproxy was reloaded")
        self.assertIn("web1", servers_state(self.cli_port))

        # kill -9 haproxy -> restarted and re-populated
        os.kill(pid0, signal.SIGKILL)
        t2 = time.time()
        self.wait(lambda: (haproxy_pid(self.cli_port) or pid0) != pid0, 15, "haproxy restarted")
        t3 = self.wait(lambda: self.reaches("web1"), 15, "web1 re-added after restart")
        print(f"kill -9 haproxy -> web1 served again: {t3 - t2:.2f}s")
        pid1 = haproxy_pid(self.cli_port)

        # serf leave under load -> drained, deleted, zero failures
        load = Load(self.port, host=LB_IP)
        time.sleep(1.0)
        r = subprocess.run([SERF, "leave", "-rpc-addr", f"{NODE_IP}:7373"], capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        t4 = self.wait(lambda: "web1" not in servers_state(self.cli_port), 20,
                       "web1 deleted from haproxy")
        time.sleep(0.5)
        load.stop()
        print(f"serf leave -> deleted from haproxy in {time.time() - t4:.2f}s ago; "
              f"{load.ok} ok during the test")
        self.assertGreater(load.by_server.get("web1", 0), 0)
        self.assertEqual(load.failed, [], load.failed[:10])
        self.assertEqual(haproxy_pid(self.cli_port), pid1, "haproxy was reloaded")
        herd_out = self.output(self.herd_log)
        self.assertIn("deleted from haproxy", herd_out)
        if os.environ.get("HERD_REF_LOG"):
            print(herd_out)

        # SIGTERM: herd leaves and stops haproxy
        self.herd.send_signal(signal.SIGTERM)
        self.herd.wait(15)
        self.wait(lambda: not os.path.exists(f"/proc/{pid1}") or
                  "zombie" in open(f"/proc/{pid1}/status").read().lower(), 10, "haproxy stopped")


if __name__ == "__main__":
    unittest.main()
