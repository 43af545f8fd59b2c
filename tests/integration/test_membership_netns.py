"""A partition between hosts, cut and healed, with herd and real serf agents
in their own network namespaces (issue 4 §7).

Three namespaces (herdt-<pid>-lb, -b1, -b2) joined by veth pairs to a bridge
in the lb namespace, subnet 10.231.7.0/24: herd (gossip member, runtime API)
in lb; in each backend namespace `serf agent -tag role=backend` beside a web
server (the harness Backend). The test process reaches into a namespace with
setns(2) on its own thread for the duration of a call (InNetns), so sockets
opened there live there. The serf agents are configured never to reconnect
(reconnect_interval 1h), so only herd's reconnect can heal the partition.

Cut b1's link: herd drops nodes/b1 within the suspicion window and traffic
keeps flowing to b2; heal it: herd's reconnect (1 s in this test) finds b1
again and it gets traffic.

Needs root and `ip netns`; skipped otherwise. Only namespaces this test
created are deleted (finally + atexit); every process is stopped by PID;
every wait is bounded."""
import atexit
import ctypes
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import HERD_BIN, Backend, get, kill_procs, runtime_api, server_of, spawn_logged, wait_port

SERF = "/usr/bin/serf"
NET = "10.231.7"
LB_IP = f"{NET}.1"
BACKENDS = {"b1": f"{NET}.11", "b2": f"{NET}.12"}
HTTP_PORT = 8080
CLI_PORT = 9999
BACKEND_PORT = 8000
RECONNECT_INTERVAL = 1.0  # herd's, in membership.yaml
CLONE_NEWNET = 0x40000000

_created = []  # namespaces this process created, deleted at exit whatever happens


def _delete_namespaces():
    while _created:
        ns = _created.pop()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


atexit.register(_delete_namespaces)


def ip(*args, ns=None):
    cmd = ["ip"] + (["-n", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


class InNetns:
    """Runs the calling thread inside a namespace for the `with` body (sockets
    opened there stay there), then returns it to its own namespace."""

    _libc = ctypes.CDLL(None, use_errno=True)

    def __init__(self, ns):
        self.ns = ns

    def __enter__(self):
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
        try:
            if self._libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {self.ns}")
        finally:
            os.close(fd)

    def __exit__(self, *exc):
        try:
            if self._libc.setns(self.home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(self.home)


def netns_unavailable():
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not shutil.which("ip"):
        return "iproute2 `ip` not installed"
    if not os.path.exists(SERF):
        return "serf binary absent"
    if not os.path.exists(HERD_BIN):
        return f"{HERD_BIN} not built"
    probe = f"herdt-{os.getpid()}-probe"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        return "ip netns unavailable: " + r.stderr.strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
    return None


HAPROXY_CFG = """
global
    stats socket ipv4@{ip}:{cli} level admin
defaults
    mode http
    timeout connect 500ms
    timeout client 10s
    timeout server 10s
    retries 3
    option redispatch
frontend f
    bind {ip}:{port}
    default_backend nodes
backend nodes
    balance roundrobin
"""

MEMBERSHIP_YAML = """
node: herd-lb
bind: {ip}:7946
rpc: 127.0.0.1:7373
reconnect_interval: {reconnect}ms
pools:
  - backend: nodes
    match: {{ role: backend }}
    port: {bport}
"""


class TestMembershipNetns(unittest.TestCase):
    def setUp(self):
        why = netns_unavailable()
        if why:
            self.skipTest(why)
        self.tag = f"herdt-{os.getpid()}"
        self.ns = {k: f"{self.tag}-{k}" for k in ("lb", "b1", "b2")}
        self.procs = []
        self.backends = []
        self.dir = tempfile.mkdtemp(prefix="herd-netns-")
        try:
            self.make_network()
        except Exception:
            self.cleanup()
            raise

    def make_network(self):
        for ns in self.ns.values():
            ip("netns", "add", ns)
            _created.append(ns)
            ip("link", "set", "lo", "up", ns=ns)
        lb = self.ns["lb"]
        ip("link", "add", "br0", "type", "bridge", ns=lb)
        ip("addr", "add", f"{LB_IP}/24", "dev", "br0", ns=lb)
        ip("link", "set", "br0", "up", ns=lb)
        for name, addr in BACKENDS.items():
            ip("link", "add", f"v{name}", "type", "veth", "peer", "name", "eth0", "netns",
               self.ns[name], ns=lb)
            ip("link", "set", f"v{name}", "master", "br0", ns=lb)
            ip("link", "set", f"v{name}", "up", ns=lb)
            ip("addr", "add", f"{addr}/24", "dev", "eth0", ns=self.ns[name])
            ip("link", "set", "eth0", "up", ns=self.ns[name])

    def cleanup(self):
        kill_procs(self.procs)
        self.procs = []
        for b in self.backends:
            b.close()
        self.backends = []
        for ns in self.ns.values():
            if ns in _created:
                _created.remove(ns)
                subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def tearDown(self):
        self.cleanup()

    def spawn(self, ns, name, args):
        return spawn_logged(self.procs, self.dir, name, ["ip", "netns", "exec", self.ns[ns]] + args)

    def output(self, name):
        with open(os.path.join(self.dir, name + ".log")) as f:
            return f.read()

    def runtime_api(self, cmd):
        with InNetns(self.ns["lb"]):
            return runtime_api(CLI_PORT, cmd, host=LB_IP)

    def pool(self):
        return {l.split(",")[1] for l in self.runtime_api("show stat").splitlines()
                if l.startswith("nodes,") and not l.startswith("nodes,BACKEND")}

    def servers_answering(self, n=8):
        """n GETs through herd from inside the lb namespace: answering names, failures."""
        names, failed = [], 0
        with InNetns(self.ns["lb"]):
            for _ in range(n):
                try:
                    st, _, body = get(HTTP_PORT, "/", host=LB_IP)
                    if st == 200:
                        names.append(server_of(body))
                    else:
                        failed += 1
                except (OSError, EOFError):
                    failed += 1
        return names, failed

    def wait_for(self, what, pred, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if pred():
                return time.time()
            time.sleep(0.1)
        self.fail(f"{what} within {timeout}s; pool {sorted(self.pool())}; members:\n"
                  f"{self.runtime_api('show members')}\nherd log:\n{self.output('herd')[-3000:]}")

    def test_partition_cut_and_healed(self):
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(ip=LB_IP, cli=CLI_PORT, port=HTTP_PORT))
        yml = os.path.join(self.dir, "membership.yaml")
        with open(yml, "w") as f:
            f.write(MEMBERSHIP_YAML.format(ip=LB_IP, reconnect=int(RECONNECT_INTERVAL * 1000),
                                           bport=BACKEND_PORT))
        # The agents never retry failed members themselves.
        serf_cfg = os.path.join(self.dir, "serf.json")
        with open(serf_cfg, "w") as f:
            json.dump({"reconnect_interval": "1h"}, f)
        herd, _ = self.spawn("lb", "herd", [HERD_BIN, "-db", "-f", cfg, "--membership", yml])
        try:
            with InNetns(self.ns["lb"]):
                wait_port(CLI_PORT, host=LB_IP)
        except TimeoutError:
            self.fail("herd did not start: " + self.output("herd"))
        for name, addr in BACKENDS.items():
            with InNetns(self.ns[name]):
                self.backends.append(Backend(name, port=BACKEND_PORT, host=addr))
            self.spawn(name, "serf-" + name,
                       [SERF, "agent", "-node", name, "-bind", f"{addr}:7946", "-rpc-addr",
                        "127.0.0.1:7373", "-join", f"{LB_IP}:7946", "-tag", "role=backend",
                        "-config-file", serf_cfg])

        # Both backends take traffic.
        self.wait_for("both backends in the pool", lambda: self.pool() == {"b1", "b2"}, 15)
        self.wait_for("traffic on both backends",
                      lambda: set(self.servers_answering()[0]) == {"b1", "b2"}, 10)

        # Cut b1's link: removed within the suspicion window, b2 keeps serving.
        ip("link", "set", "vb1", "down", ns=self.ns["lb"])
        t_cut = time.time()
        # 3 members: SuspicionMult × ProbeInterval = 4 s once a probe failed
        # (1 s probe interval + 0.5 s timeout), with slack for the gossip.
        t_gone = self.wait_for("b1 removed after the cut", lambda: "b1" not in self.pool(), 10)
        print(f"\npartition cut -> b1 removed from the pool: {t_gone - t_cut:.2f}s")
        self.assertGreater(t_gone - t_cut, 2.0)  # a real failure detection, not an instant drop
        names, failed = self.servers_answering(10)
        self.assertEqual((set(names), failed), ({"b2"}, 0))
        members = self.runtime_api("show members")
        self.assertRegex(members, r"b1\s.*failed", members)

        # Heal: herd's reconnect finds b1; it serves again.
        time.sleep(3)  # broadcast queues drain: nothing but a reconnect can bring b1 back
        ip("link", "set", "vb1", "up", ns=self.ns["lb"])
        t_heal = time.time()
        t_back = self.wait_for("b1 back in the pool after healing",
                               lambda: "b1" in self.pool(), 20)
        self.wait_for("traffic on b1 again", lambda: "b1" in self.servers_answering()[0], 10)
        print(f"partition healed -> b1 back in the pool: {t_back - t_heal:.2f}s "
              f"(herd reconnect_interval {RECONNECT_INTERVAL:.0f}s, agents never reconnect)")
        def membership():
            return dict(l.split(": ", 1) for l in self.runtime_api("show membership").splitlines()
                        if ": " in l)
        # The counters are republished every second: wait for the one after b1's return.
        self.wait_for("show membership counts 3 alive members",
                      lambda: membership()["Members_alive"] == "3", 5)
        info = membership()
        self.assertGreaterEqual(int(info["Reconnects"]), 1, info)
        self.assertEqual(info["Members_alive"], "3", info)
        names, failed = self.servers_answering(10)
        self.assertEqual((set(names), failed), ({"b1", "b2"}, 0))
        self.assertIsNone(herd.poll())


if __name__ == "__main__":
    unittest.main()
