"""Serf queries, key rotation and network coordinates with herd in an encrypted cluster of real
`serf agent`s (Debian's /usr/bin/serf, 0.8): `serf query` acks and
responses (herd's `query:name=` handler answers), `serf reachability`,
`serf keys -list`, from an agent and against herd's RPC; then a full key
rotation (install, use, remove) under load, from an agent and from herd's
RPC, with herd keeping every backend in its pool and 0 failed requests; a
rotation that survives a restart through keyring_file; `serf rtt` between
herd and the agents, from an agent and against herd's RPC.

Loopback addresses 127.0.0.80-84, one per node, used by no other test.
Every process is stopped by PID;
every loop is bounded."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import types
import unittest

from harness import (HERD_BIN, Backend, Load, free_port, get, kill_procs, log_text, runtime_api,
                     server_of, spawn_logged, wait_port)
from test_membership_serf import HAPROXY_CFG

SERF = "/usr/bin/serf"
LB_IP = "127.0.0.80"
AGENTS = (("web1", "127.0.0.81"), ("web2", "127.0.0.82"))

MEMBERSHIP_YAML = """
node: herd-lb
bind: {ip}:7946
rpc: {ip}:{rpc}
tags: {{ role: balancer }}
{keyconf}
event_handlers:
  - "query:uptime=echo herd-up"
pools:
  - backend: nodes
    match: {{ role: backend }}
    port: {bport}
"""


def spawn_herd(t, ip, membership_yaml):
    """herd with HAPROXY_CFG (ports from t.port, t.cli_port) and the given
    membership settings, logged under t.dir; returns (process, log)."""
    cfg = os.path.join(t.dir, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(HAPROXY_CFG.format(ip=ip, cli=t.cli_port, port=t.port, stats=free_port()))
    yml = os.path.join(t.dir, "membership.yaml")
    with open(yml, "w") as f:
        f.write(membership_yaml)
    return spawn_logged(t.procs, t.dir, "herd", [HERD_BIN, "-db", "-f", cfg, "--membership", yml])


def keygen():
    return subprocess.run([SERF, "keygen"], capture_output=True, text=True,
                          timeout=10).stdout.strip()


@unittest.skipUnless(os.path.exists(SERF), "serf binary absent")
class TestMembershipSerfQueries(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(HERD_BIN):
            self.skipTest(f"{HERD_BIN} not built")
        self.procs, self.backends = [], []
        self.dir = tempfile.mkdtemp(prefix="herd-serfq-")

    def tearDown(self):
        kill_procs(self.procs)
        for b in self.backends:
            b.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def serf(self, *args, timeout=20):
        r = subprocess.run([SERF, *args], capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr

    def start_herd(self, keyconf):
        self.port, self.cli_port, self.rpc = free_port(), free_port(), free_port()
        self.herd, self.herd_log = spawn_herd(
            self, LB_IP, MEMBERSHIP_YAML.format(ip=LB_IP, rpc=self.rpc, bport=self.bport,
                                                keyconf=keyconf))
        wait_port(self.port, host=LB_IP)
        wait_port(self.rpc, host=LB_IP)
        self.herd_rpc = f"-rpc-addr={LB_IP}:{self.rpc}"

    def start_cluster(self, key, keyconf=None):
        self.bport = free_port()
        self.start_herd(keyconf or f"encrypt: {key}")
        for name, ip in AGENTS:
            self.backends.append(Backend(name, port=self.bport, host=ip))
            spawn_logged(self.procs, self.dir, "serf-" + name,
                         [SERF, "agent", "-node", name, "-bind", f"{ip}:7946", "-rpc-addr",
                          f"{ip}:7373", "-join", f"{LB_IP}:7946", "-tag", "role=backend",
                          "-encrypt", key])
        for name, _ in AGENTS:
            self.wait_traffic(name)
        self.agent_rpc = f"-rpc-addr={AGENTS[0][1]}:7373"
        # Every agent sees herd alive before queries start.
        end = time.time() + 10
        while time.time() < end:
            rc, out = self.serf("members", self.agent_rpc, "-status=alive")
            if "herd-lb" in out and all(n in out for n, _ in AGENTS):
                break
            time.sleep(0.1)

    def wait_traffic(self, name, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            try:
                st, _, body = get(self.port, "/", host=LB_IP)
                if st == 200 and server_of(body) == name:
                    return
            except (OSError, EOFError):
                pass
            time.sleep(0.02)
        self.fail(f"no traffic reached {name}: " + log_text(self.herd_log))

    def pool(self):
        """Servers of backend `nodes` and their operational state (show servers state)."""
        out = runtime_api(self.cli_port, "show servers state nodes", host=LB_IP)
        rows = {}
        for line in out.splitlines():
            f = line.split()
            if len(f) > 5 and f[1] == "nodes":
                rows[f[3]] = int(f[5])  # srv_name -> srv_op_state (2 = running)
        return rows

    def assert_query_ping(self, rpc, who):
        rc, out = self.serf("query", rpc, "ping")
        self.assertEqual(rc, 0, out)
        self.assertIn("Total Acks: 3", out, f"{who}: {out}")
        for n in ("herd-lb", "web1", "web2"):
            self.assertIn(f"Ack from '{n}'", out, f"{who}: {out}")

    def test_queries_reachability_keys_and_rotation_under_load(self):
        old = keygen()
        self.start_cluster(old)

        # serf query from an agent and against herd's RPC: 3 acks each.
        self.assert_query_ping(self.agent_rpc, "agent")
        self.assert_query_ping(self.herd_rpc, "herd")
        # herd's query:uptime handler answers with its stdout.
        rc, out = self.serf("query", self.agent_rpc, "uptime")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"Response from 'herd-lb': herd-up", out)
        rc, out = self.serf("query", self.agent_rpc, "-node=herd-lb", "uptime")
        self.assertIn("Total Acks: 1", out, out)
        rc, out = self.serf("query", self.agent_rpc, "-tag=role=bal.*", "uptime")
        self.assertIn("Total Acks: 1", out, out)
        self.assertIn("Ack from 'herd-lb'", out, out)
        # Counted on the runtime API (and /metrics).
        shown = dict(l.split(": ", 1) for l in runtime_api(
            self.cli_port, "show membership", host=LB_IP).splitlines() if ": " in l)
        self.assertGreaterEqual(int(shown["Queries_received"]), 5, shown)
        self.assertGreaterEqual(int(shown["Query_acks_sent"]), 4, shown)
        self.assertGreaterEqual(int(shown["Query_responses_sent"]), 3, shown)
        # A user query is refused the internal prefix.
        rc, out = self.serf("query", self.herd_rpc, "_serf_list-keys")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("cannot contain", out)

        for rpc, who in ((self.agent_rpc, "agent"), (self.herd_rpc, "herd")):
            rc, out = self.serf("reachability", rpc)
            self.assertEqual(rc, 0, f"{who}: {out}")
            self.assertIn("Successfully contacted all live nodes", out, f"{who}: {out}")
            self.assertIn("live members: 3", out, f"{who}: {out}")
            rc, out = self.serf("keys", "-list", rpc)
            self.assertEqual(rc, 0, f"{who}: {out}")
            self.assertIn(old, out)
            self.assertRegex(out, rf"{re.escape(old)}\s+\[3/3\]", out)

        # Rotation under load: from an agent, then from herd's RPC.
        self.assertEqual(self.pool(), {"web1": 2, "web2": 2}, self.pool())
        load = Load(self.port, host=LB_IP, limit=90)
        time.sleep(0.5)
        key = old
        timings = []
        for rpc, who in ((self.agent_rpc, "agent"), (self.herd_rpc, "herd")):
            new = keygen()
            t0 = time.time()
            for args in (("-install", new), ("-use", new), ("-remove", key)):
                rc, out = self.serf("keys", *args, rpc)
                self.assertEqual(rc, 0, f"{who} keys {args[0]}: {out}\n" + log_text(self.herd_log))
            timings.append((who, time.time() - t0))
            rc, out = self.serf("keys", "-list", rpc)
            self.assertEqual(rc, 0, out)
            self.assertIn(new, out)
            self.assertNotIn(key, out)
            key = new
        # Longer than the suspicion window (4 x probe interval x log10 n, ~5 s),
        # so that a member herd could no longer hear would be marked failed.
        end = time.time() + 8
        while time.time() < end:
            self.assertEqual(self.pool(), {"web1": 2, "web2": 2})
            time.sleep(0.5)
        load.stop()
        for who, dt in timings:
            print(f"\nrotation (install+use+remove) from {who}: {dt:.2f}s")
        print(f"requests during rotation: {load.ok} ok, {len(load.failed)} failed, "
              f"by server {load.by_server}")
        self.assertEqual(load.failed, [], load.failed[:5])
        self.assertGreater(load.by_server.get("web1", 0), 10)
        self.assertGreater(load.by_server.get("web2", 0), 10)
        rc, out = self.serf("members", self.herd_rpc)
        for n in ("herd-lb", "web1", "web2"):
            self.assertRegex(out, rf"{n}\s+\S+\s+alive", out)
        self.assertNotIn("failed", out)
        rc, out = self.serf("members", self.agent_rpc)
        self.assertRegex(out, r"herd-lb\s+\S+\s+alive", out)
        # Still talking after the rotation: a query reaches everyone.
        self.assert_query_ping(self.agent_rpc, "agent after rotation")
        self.assertIsNone(self.herd.poll())

    def test_rtt_from_agents_and_against_herd(self):
        self.start_cluster(keygen())
        herd_rpc = self.herd_rpc
        agent_rpc = self.agent_rpc
        # Coordinates come with probe acks (each member probes each other
        # every few seconds): retry until every pair has one.
        pairs = ((agent_rpc, "web1", "herd-lb"), (agent_rpc, "herd-lb", "web2"),
                 (herd_rpc, "herd-lb", "web1"), (herd_rpc, "web1", "web2"))
        results = {}
        end = time.time() + 30
        while time.time() < end and len(results) < len(pairs):
            for rpc, a, b in pairs:
                if (rpc, a, b) in results:
                    continue
                rc, out = self.serf("rtt", rpc, a, b)
                if rc == 0:
                    results[(rpc, a, b)] = out
            time.sleep(0.5)
        for rpc, a, b in pairs:
            self.assertIn((rpc, a, b), results, f"serf rtt {rpc} {a} {b}: {self.serf('rtt', rpc, a, b)}")
            out = results[(rpc, a, b)]
            m = re.search(rf"Estimated {a} <-> {b} rtt: ([0-9.]+) ms", out)
            self.assertTrue(m, out)
            print(f"\nserf rtt {rpc} {a} {b}: {m.group(1)} ms")
            self.assertLess(float(m.group(1)), 50.0)  # loopback
        rc, out = self.serf("rtt", herd_rpc, "nobody")
        self.assertNotEqual(rc, 0, out)

    def test_name_conflicts(self):
        key = keygen()
        self.start_cluster(key)
        # A serf agent starts with herd's name: the members answer its
        # _serf_conflict query with herd's address, so it is in the minority
        # and quits; herd keeps its name and place.
        p, log = spawn_logged(self.procs, self.dir, "serf-impostor",
                              [SERF, "agent", "-node", "herd-lb", "-bind", "127.0.0.83:7946",
                               "-rpc-addr", "127.0.0.83:7373", "-join", f"{AGENTS[0][1]}:7946",
                               "-encrypt", key])
        p.wait(20)
        self.assertRegex(log_text(log), r"minority in name conflict resolution, quitting \[0 / 2\]")
        rc, out = self.serf("members", self.agent_rpc)
        self.assertRegex(out, rf"herd-lb\s+{LB_IP}:7946\s+alive", out)

        # A second herd starts with web1's name: it refuses to steal a live
        # name, says so, and leaves the gossip; web1 stays where it is.
        other = types.SimpleNamespace(dir=os.path.join(self.dir, "herd2"), procs=self.procs,
                                      port=free_port(), cli_port=free_port())
        os.mkdir(other.dir)
        yml = MEMBERSHIP_YAML.format(ip="127.0.0.84", rpc=free_port(), bport=self.bport,
                                     keyconf=f"encrypt: {key}\njoin: [{AGENTS[1][1]}:7946]")
        yml = yml.replace("node: herd-lb", "node: web1")
        herd2, log2 = spawn_herd(other, "127.0.0.84", yml)
        end = time.time() + 20
        while time.time() < end and "will not steal a live name" not in log_text(log2):
            time.sleep(0.2)
        out2 = log_text(log2)
        self.assertRegex(out2, r"minority in name conflict resolution \[0 / 2\]", out2)
        self.assertIn("will not steal a live name", out2)
        self.assertIsNone(herd2.poll())  # the proxy keeps running
        for rpc in (self.agent_rpc, f"-rpc-addr={AGENTS[1][1]}:7373", self.herd_rpc):
            rc, out = self.serf("members", rpc)
            self.assertRegex(out, rf"web1\s+{AGENTS[0][1]}:7946\s+alive", out)
        self.wait_traffic("web1")
        self.assertIsNone(self.herd.poll())

        # `herd agent` with web2's name (on the serf impostor's address, free
        # again): in the minority it shuts its gossip member down (no leave)
        # and quits with status 0, as a serf agent does.
        p3, log3 = spawn_logged(self.procs, self.dir, "herd-agent-impostor",
                                [HERD_BIN, "agent", "-node", "web2", "-bind", "127.0.0.83:7946",
                                 "-rpc-addr", "127.0.0.83:7373", "-join",
                                 f"{AGENTS[0][1]}:7946", "-encrypt", key])
        self.assertEqual(p3.wait(20), 0, log_text(log3))
        out3 = log_text(log3)
        self.assertRegex(out3, r"minority in name conflict resolution \[0 / [1-9]\]", out3)
        self.assertIn("gossip member shut down, quitting", out3)
        rc, out = self.serf("members", self.agent_rpc)
        self.assertRegex(out, rf"web2\s+{AGENTS[1][1]}:7946\s+alive", out)

    def test_keyring_file_rotation_survives_restart(self):
        old, new = keygen(), keygen()
        ring = os.path.join(self.dir, "keyring.json")
        with open(ring, "w") as f:
            f.write(f'["{old}"]')
        # herd joins the agents itself after a restart (a left member is not
        # reconnected by the others).
        keyconf = (f"keyring_file: {ring}\n"
                   f"join: [{AGENTS[0][1]}:7946, {AGENTS[1][1]}:7946]")
        self.start_cluster(old, keyconf)
        self.assertIn("restored keyring with 1 keys", log_text(self.herd_log))
        rc, out = self.serf("keys", "-install", new, self.agent_rpc)
        self.assertEqual(rc, 0, out)
        with open(ring) as f:
            self.assertEqual(json.load(f), [old, new])
        self.assertEqual(os.stat(ring).st_mode & 0o777, 0o600)
        for args in (("-use", new), ("-remove", old)):
            rc, out = self.serf("keys", *args, self.agent_rpc)
            self.assertEqual(rc, 0, out)
        with open(ring) as f:
            self.assertEqual(json.load(f), [new])

        # Restart: graceful leave, then the same settings again.
        self.herd.terminate()
        self.herd.wait(20)
        t0 = time.time()
        self.start_herd(keyconf)
        for name, _ in AGENTS:
            self.wait_traffic(name)
        print(f"\nrestart with the rotated keyring -> both backends served: "
              f"{time.time() - t0:.2f}s")
        end = time.time() + 10
        while time.time() < end:
            rc, out = self.serf("members", self.agent_rpc)
            if re.search(r"herd-lb\s+\S+\s+alive", out):
                break
            time.sleep(0.2)
        self.assertRegex(out, r"herd-lb\s+\S+\s+alive", out)
        rc, out = self.serf("keys", "-list", self.herd_rpc)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, rf"{re.escape(new)}\s+\[3/3\]", out)
        self.assertNotIn(old, out)

    def test_keyring_file_errors(self):
        self.bport = free_port()
        ring = os.path.join(self.dir, "absent.json")
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(ip=LB_IP, cli=free_port(), port=free_port(),
                                       stats=free_port()))
        for keyconf, expect in ((f"keyring_file: {ring}", "cannot open the keyring file"),
                                (f"keyring_file: {ring}\nencrypt: {keygen()}",
                                 "Encryption key not allowed while using a keyring")):
            yml = os.path.join(self.dir, "m.yaml")
            with open(yml, "w") as f:
                f.write(MEMBERSHIP_YAML.format(ip=LB_IP, rpc=free_port(), bport=self.bport,
                                               keyconf=keyconf))
            r = subprocess.run([HERD_BIN, "-db", "-f", cfg, "--membership", yml],
                               capture_output=True, text=True, timeout=20)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(expect, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
