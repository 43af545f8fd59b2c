"""Pool safety with real `serf agent`s: when herd loses contact with every
member at once (here the three agents are frozen with SIGSTOP while their web
servers keep serving, which herd cannot tell from a partition of its own),
the members are declared failed one after the other, but the panic threshold
keeps at least half of the backend's servers in the pool: traffic goes on
with 0 failed requests, the pool is never empty, and herd logs why. When the
agents come back, every member is alive and mapped again and nothing stays
held.

Loopback addresses 127.0.0.90-93, one per node, used by no other test.
Every process is stopped by PID;
every loop is bounded."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import (HERD_BIN, Backend, Load, free_port, kill_procs, log_text, runtime_api,
                     spawn_logged, wait_port)
from test_membership_serf import MEMBERSHIP_YAML
from test_membership_serf_queries import spawn_herd

SERF = "/usr/bin/serf"
LB_IP = "127.0.0.90"
AGENTS = (("web1", "127.0.0.91"), ("web2", "127.0.0.92"), ("web3", "127.0.0.93"))


@unittest.skipUnless(os.path.exists(SERF), "serf binary absent")
class TestMembershipPoolSafety(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(HERD_BIN):
            self.skipTest(f"{HERD_BIN} not built")
        self.procs, self.backends, self.stopped = [], [], []
        self.dir = tempfile.mkdtemp(prefix="herd-panic-")

    def tearDown(self):
        for p in self.stopped:
            try:
                p.send_signal(signal.SIGCONT)
            except OSError:
                pass
        kill_procs(self.procs)
        for b in self.backends:
            b.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def pool(self):
        out = runtime_api(self.cli_port, "show servers state nodes", host=LB_IP)
        return sorted(f[3] for f in (l.split() for l in out.splitlines())
                      if len(f) > 5 and f[1] == "nodes")

    def members(self):
        r = subprocess.run([SERF, "members", f"-rpc-addr={LB_IP}:{self.rpc}"],
                           capture_output=True, text=True, timeout=10)
        return {f[0]: f[2] for f in (l.split() for l in r.stdout.splitlines()) if len(f) >= 3}

    def test_losing_every_member_keeps_the_pool(self):
        bport = free_port()
        self.port, self.cli_port, self.rpc = free_port(), free_port(), free_port()
        herd, herd_log = spawn_herd(self, LB_IP, MEMBERSHIP_YAML.format(
            ip=LB_IP, rpc=self.rpc, bport=bport, encrypt=""))
        wait_port(self.port, host=LB_IP)
        agents = []
        for name, ip in AGENTS:
            self.backends.append(Backend(name, port=bport, host=ip))
            p, _ = spawn_logged(self.procs, self.dir, "serf-" + name,
                                [SERF, "agent", "-node", name, "-bind", f"{ip}:7946",
                                 "-rpc-addr", f"{ip}:7373", "-join", f"{LB_IP}:7946",
                                 "-tag", "role=backend"])
            agents.append(p)
        end = time.time() + 15
        while time.time() < end and self.pool() != ["web1", "web2", "web3"]:
            time.sleep(0.1)
        self.assertEqual(self.pool(), ["web1", "web2", "web3"], log_text(herd_log))

        load = Load(self.port, host=LB_IP, limit=150)
        time.sleep(0.5)
        t0 = time.time()
        for p in agents:
            p.send_signal(signal.SIGSTOP)
            self.stopped.append(p)
        smallest = 3
        # Lifeguard stretches herd's probe interval as its own probes fail
        # (awareness up to 8x), so the last member fails late.
        end = time.time() + 60
        while time.time() < end:
            smallest = min(smallest, len(self.pool()))
            if all(s == "failed" for n, s in self.members().items() if n != "herd-lb"):
                break
            time.sleep(0.2)
        t_failed = time.time() - t0
        self.assertTrue(all(s == "failed" for n, s in self.members().items() if n != "herd-lb"),
                        self.members())
        time.sleep(1)
        kept = self.pool()
        smallest = min(smallest, len(kept))
        log = log_text(herd_log)
        print(f"\nall 3 members failed after {t_failed:.1f}s; servers kept: {kept} "
              f"(smallest pool seen: {smallest})")
        self.assertGreaterEqual(len(kept), 2, log)  # at least half of 3
        self.assertGreaterEqual(smallest, 2)
        self.assertRegex(log, r"keeping server nodes/web\d although its member failed")
        self.assertIn("(held:_member_failed)", runtime_api(self.cli_port, "show members",
                                                           host=LB_IP))

        # The agents come back: every member alive and mapped, nothing held.
        for p in agents:
            p.send_signal(signal.SIGCONT)
        self.stopped.clear()
        end = time.time() + 40
        while time.time() < end:
            sm = runtime_api(self.cli_port, "show members", host=LB_IP)
            if self.pool() == ["web1", "web2", "web3"] and "held" not in sm and \
                    all(s == "alive" for s in self.members().values()):
                break
            time.sleep(0.2)
        load.stop()
        self.assertEqual(self.pool(), ["web1", "web2", "web3"], log_text(herd_log))
        self.assertNotIn("held", runtime_api(self.cli_port, "show members", host=LB_IP))
        print(f"requests: {load.ok} ok, {len(load.failed)} failed, by server {load.by_server}")
        self.assertEqual(load.failed, [], load.failed[:5])
        self.assertIsNone(herd.poll())


if __name__ == "__main__":
    unittest.main()
