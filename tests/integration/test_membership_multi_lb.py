"""Several herd balancers in one gossip cluster converge to the same pool
(issue 4 §3): lb-a and lb-b (herd, native engine) join each other; backend
web1 runs `serf agent -join lb-a`, web2 `serf agent -join lb-b`. Both
balancers must list and serve both backends; `serf leave` of web1 removes it
from both; kill -9 of web2's agent makes it failed on both (failure detection
on each balancer, or the other's dead message), its server kept by the pool
safety rule as the backend's last one. Under `hash-type consistent` both
balancers send every key to the same member although they numbered the
members differently (member servers hash by address:port).

Loopback 127.0.0.70 (lb-a), .71 (lb-b), .72 (web1), .73 (web2), each binding
its own 7946. Every process is stopped by PID; every wait is bounded."""
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import (HERD_BIN, Backend, free_port, get, kill_procs, runtime_api, server_of,
                     spawn_logged, wait_port)

SERF = "/usr/bin/serf"
LBS = {"lb-a": "127.0.0.70", "lb-b": "127.0.0.71"}
WEBS = {"web1": ("127.0.0.72", "lb-a"), "web2": ("127.0.0.73", "lb-b")}

CFG = """
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
    {balance}
"""

MEMBERSHIP = """
node: {name}
bind: {ip}:7946
rpc: {ip}:{rpc}
tags: {{ role: balancer }}
{join}
pools:
  - backend: nodes
    match: {{ role: backend }}
    port: {bport}
"""


@unittest.skipUnless(os.path.exists(SERF), "serf binary absent")
class TestSeveralBalancers(unittest.TestCase):
    def setUp(self):
        self.procs, self.backends = [], []
        self.dir = tempfile.mkdtemp(prefix="herd-multi-")
        self.bport = free_port()
        self.lb = {}  # name -> (ip, port, cli)

    def tearDown(self):
        kill_procs(self.procs)
        for b in self.backends:
            b.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def spawn(self, name, args):
        return spawn_logged(self.procs, self.dir, name, args)[0]

    def start_lb(self, name, join=None, balance="balance roundrobin"):
        ip = LBS[name]
        port, cli, rpc = free_port(), free_port(), free_port()
        cfg, yml = (os.path.join(self.dir, f"{name}.{x}") for x in ("cfg", "yaml"))
        with open(cfg, "w") as f:
            f.write(CFG.format(ip=ip, cli=cli, port=port, balance=balance))
        with open(yml, "w") as f:
            f.write(MEMBERSHIP.format(name=name, ip=ip, rpc=rpc, bport=self.bport,
                                      join=f'join: [ "{LBS[join]}:7946" ]' if join else ""))
        self.spawn(name, [HERD_BIN, "-db", "-f", cfg, "--membership", yml])
        wait_port(port, host=ip)
        wait_port(cli, host=ip)  # the stats socket opens after the frontends
        self.lb[name] = (ip, port, cli)

    def pool(self, name):
        ip, _, cli = self.lb[name]
        out = runtime_api(cli, "show servers state nodes", host=ip)
        return {line.split()[3] for line in out.splitlines()[2:] if len(line.split()) > 3}

    def wait_pools(self, want, timeout):
        end = time.time() + timeout
        while time.time() < end:
            got = {n: self.pool(n) for n in self.lb}
            if all(v == want for v in got.values()):
                return time.time()
            time.sleep(0.1)
        self.fail(f"pools did not converge to {sorted(want)}: {got}")

    def served_by(self, name, tries=8):
        ip, port, _ = self.lb[name]
        return {server_of(get(port, "/", host=ip)[2]) for _ in range(tries)}

    def test_balancers_converge_on_join_leave_and_crash(self):
        self.start_lb("lb-a")
        self.start_lb("lb-b", join="lb-a")
        agents = {}
        for web, (ip, seed) in WEBS.items():
            self.backends.append(Backend(web, port=self.bport, host=ip))
            agents[web] = self.spawn("serf-" + web, [
                SERF, "agent", "-node", web, "-bind", f"{ip}:7946", "-rpc-addr", f"{ip}:7373",
                "-join", f"{LBS[seed]}:7946", "-tag", "role=backend"])

        # Each backend joined one balancer only; both balancers get both.
        t0 = time.time()
        self.wait_pools({"web1", "web2"}, timeout=15)
        print(f"\nboth pools have both members after {time.time() - t0:.2f} s")
        for lb in self.lb:
            self.assertEqual(self.served_by(lb), {"web1", "web2"}, lb)

        # Graceful leave of web1 (it joined through lb-a): gone from both.
        t0 = time.time()
        r = subprocess.run([SERF, "leave", "-rpc-addr", f"{WEBS['web1'][0]}:7373"],
                           capture_output=True, text=True, timeout=15)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.wait_pools({"web2"}, timeout=15)
        print(f"web1 left: removed from both after {time.time() - t0:.2f} s")
        for lb in self.lb:
            self.assertEqual(self.served_by(lb), {"web2"}, lb)

        # Crash of web2's agent (it joined through lb-b), the last member
        # server: failed on both, and kept by the pool-safety rule (a pool is
        # never emptied by failures; docs/membership.md).
        t0 = time.time()
        agents["web2"].kill()
        agents["web2"].wait(10)
        end = time.time() + 40
        while time.time() < end:
            shown = {n: runtime_api(self.lb[n][2], "show members", host=self.lb[n][0])
                     for n in self.lb}
            if all(re.search(r"web2 \S+ failed \S+ nodes/web2\(\S*held", t) for t in shown.values()):
                break
            time.sleep(0.1)
        for n, t in shown.items():
            self.assertRegex(t, r"web2 \S+ failed \S+ nodes/web2\(\S*held", n)
        self.assertEqual({n: self.pool(n) for n in self.lb}, {n: {"web2"} for n in self.lb})
        print(f"web2 crashed: failed and held on both after {time.time() - t0:.2f} s")


    def sids(self, name):
        ip, _, cli = self.lb[name]
        out = runtime_api(cli, "show servers state nodes", host=ip)
        return {f[3]: f[2] for f in (line.split() for line in out.splitlines()[2:]) if len(f) > 3}

    def test_consistent_rings_agree_whatever_the_join_order(self):
        """lb-a sees web2 join before web1 and numbers them so; lb-b joins
        later and learns both at once. Under `hash-type consistent` member
        servers hash by address:port (docs/membership.md), so both send every
        key to the same server."""
        balance = "balance hdr(X-Key)\n    hash-type consistent"
        self.start_lb("lb-a", balance=balance)
        for web in ("web2", "web1"):
            ip, _ = WEBS[web]
            self.backends.append(Backend(web, port=self.bport, host=ip))
            self.spawn("serf-" + web, [
                SERF, "agent", "-node", web, "-bind", f"{ip}:7946", "-rpc-addr", f"{ip}:7373",
                "-join", f"{LBS['lb-a']}:7946", "-tag", "role=backend"])
            end = time.time() + 15
            while web not in self.pool("lb-a"):
                self.assertLess(time.time(), end, f"{web} never reached lb-a")
                time.sleep(0.1)
        self.start_lb("lb-b", join="lb-a", balance=balance)
        self.wait_pools({"web1", "web2"}, timeout=15)
        print(f"\nserver ids: lb-a {self.sids('lb-a')}, lb-b {self.sids('lb-b')}")
        routes = {}
        for name, (ip, port, _) in self.lb.items():
            routes[name] = [server_of(get(port, "/", {"X-Key": f"k{i}"}, host=ip)[2])
                            for i in range(60)]
        self.assertEqual(routes["lb-a"], routes["lb-b"])
        self.assertEqual(set(routes["lb-a"]), {"web1", "web2"})


if __name__ == "__main__":
    unittest.main()
