"""herd's live gossip member against real `serf agent`s (Debian's /usr/bin/serf):
a backend host that runs `serf agent -join <herd> -tag role=backend` next to a
web server gets traffic through herd with no file or process touched; a
graceful `serf leave` drains and removes it with zero failed requests; a
crashed host (agent kill -9, web server gone) is removed within the
suspicion window with zero failed idempotent requests; the same with
`-encrypt`; `serf members` and `herd members` against herd's RPC port; and
`herd agent` as the backend-side member.

Loopback addresses 127.0.0.x, one per node, so that every agent binds 7946.
Every process is stopped by PID; every loop is bounded."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import unittest

from harness import (HERD_BIN, Backend, Load, free_port, get, kill_procs, log_text, runtime_api,
                     server_of, spawn_logged, wait_port)

SERF = "/usr/bin/serf"
LB_IP = "127.0.0.20"


def cli(port, cmd):
    return runtime_api(port, cmd, host=LB_IP)


def stat_rows(cli_port):
    rows = {}
    for line in cli(cli_port, "show stat").splitlines():
        if line and not line.startswith("#"):
            f = line.split(",")
            rows[(f[0], f[1])] = f
    return rows


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
listen stats
    bind {ip}:{stats}
    stats enable
    stats uri /
frontend f
    bind {ip}:{port}
    default_backend nodes
backend nodes
    balance roundrobin
"""

MEMBERSHIP_YAML = """
node: herd-lb
bind: {ip}:7946
rpc: {ip}:{rpc}
tags: {{ role: balancer }}
{encrypt}
pools:
  - backend: nodes
    match: {{ role: backend }}
    port: {bport}
"""


@unittest.skipUnless(os.path.exists(SERF), "serf binary absent")
class TestMembershipSerf(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(HERD_BIN):
            self.skipTest(f"{HERD_BIN} not built")
        self.procs = []
        self.backends = []
        self.dir = tempfile.mkdtemp(prefix="herd-serf-")
        self.herd = None

    def tearDown(self):
        kill_procs(self.procs)
        for b in self.backends:
            b.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def spawn(self, name, args):
        return spawn_logged(self.procs, self.dir, name, args)

    def output(self, log):
        return log_text(log)

    def start_herd(self, bport, encrypt=None):
        self.port, self.cli_port, self.rpc = free_port(), free_port(), free_port()
        self.stats_port = free_port()
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(ip=LB_IP, cli=self.cli_port, port=self.port,
                                       stats=self.stats_port))
        yml = os.path.join(self.dir, "membership.yaml")
        with open(yml, "w") as f:
            f.write(MEMBERSHIP_YAML.format(ip=LB_IP, rpc=self.rpc, bport=bport,
                                           encrypt=f"encrypt: {encrypt}" if encrypt else ""))
        self.herd, self.herd_log = self.spawn("herd", [HERD_BIN, "-db", "-f", cfg, "--membership", yml])
        try:
            wait_port(self.port, host=LB_IP)
            wait_port(self.rpc, host=LB_IP)
        except TimeoutError:
            self.fail("herd did not start: " + self.output(self.herd_log))

    def serf_agent(self, name, ip, encrypt=None):
        args = [SERF, "agent", "-node", name, "-bind", f"{ip}:7946", "-rpc-addr", f"{ip}:7373",
                "-join", f"{LB_IP}:7946", "-tag", "role=backend"]
        if encrypt:
            args += ["-encrypt", encrypt]
        p, log = self.spawn("serf-" + name, args)
        return p, log

    def backend(self, name, ip, port):
        b = Backend(name, port=port, host=ip)
        self.backends.append(b)
        return b

    def wait_traffic(self, name, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            try:
                for _ in range(4):
                    st, _, body = get(self.port, "/", host=LB_IP)
                    if st == 200 and server_of(body) == name:
                        return time.time()
            except (OSError, EOFError):
                pass
            time.sleep(0.02)
        self.fail(f"no traffic reached {name}: {cli(self.cli_port, 'show members')}\n"
                  + self.output(self.herd_log))

    def wait_gone(self, name, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if ("nodes", name) not in stat_rows(self.cli_port):
                return time.time()
            time.sleep(0.05)
        self.fail(f"{name} still in the pool: {cli(self.cli_port, 'show members')}")

    def serf_members(self, rpc_addr, extra=()):
        r = subprocess.run([SERF, "members", "-rpc-addr", rpc_addr, *extra], capture_output=True,
                           text=True, timeout=10)
        return r.returncode, r.stdout + r.stderr

    def members_table(self, text):
        out = {}
        for line in text.splitlines():
            f = line.split()
            if len(f) >= 3:
                out[f[0]] = f
        return out

    def test_join_members_leave_and_crash(self):
        bport = free_port()
        self.start_herd(bport)
        self.backend("web1", "127.0.0.21", bport)
        self.backend("web2", "127.0.0.22", bport)
        b3 = self.backend("web3", "127.0.0.23", bport)
        t0 = time.time()
        a1, _ = self.serf_agent("web1", "127.0.0.21")
        t1 = self.wait_traffic("web1")
        print(f"\njoin -> first proxied request: {t1 - t0:.2f}s (serf agent start included)")
        self.assertLess(t1 - t0, 3.0)
        self.serf_agent("web2", "127.0.0.22")
        a3, _ = self.serf_agent("web3", "127.0.0.23")
        self.wait_traffic("web2")
        self.wait_traffic("web3")

        # serf members against herd's RPC port, and against a serf agent.
        rc, out = self.serf_members(f"{LB_IP}:{self.rpc}")
        self.assertEqual(rc, 0, out)
        t = self.members_table(out)
        for n in ("herd-lb", "web1", "web2", "web3"):
            self.assertIn(n, t, out)
            self.assertEqual(t[n][2], "alive", out)
        self.assertEqual(t["web1"][1], "127.0.0.21:7946")
        self.assertIn("role=backend", t["web1"][3])
        end = time.time() + 5
        while time.time() < end:
            rc, out = self.serf_members("127.0.0.21:7373")
            t = self.members_table(out)
            if t.get("herd-lb", [None] * 3)[2] == "alive":
                break
            time.sleep(0.1)
        self.assertEqual(t.get("herd-lb", [None] * 3)[2], "alive", out)
        self.assertIn("role=balancer", t["herd-lb"][3])
        r = subprocess.run([HERD_BIN, "members", "-rpc-addr", f"{LB_IP}:{self.rpc}",
                            "-tag", "role=backend"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(self.members_table(r.stdout)), ["web1", "web2", "web3"], r.stdout)
        sm = cli(self.cli_port, "show members")
        self.assertIn("web1", sm)
        self.assertIn("nodes/web1", sm)
        # The stats page lists the gossip members and the server each maps to
        # (refreshed on the control thread at least once a second).
        end = time.time() + 3
        while True:
            page = urllib.request.urlopen(f"http://{LB_IP}:{self.stats_port}/", timeout=5).read().decode()
            if "nodes/web3 (UP)" in page or time.time() > end:
                break
            time.sleep(0.2)
        self.assertIn("gossip members", page)
        for n in ("web1", "web2", "web3"):
            self.assertIn(f"nodes/{n} (UP)", page)

        # Graceful leave under load: drained, removed, zero failures.
        load = Load(self.port, host=LB_IP)
        time.sleep(0.5)
        tl = time.time()
        r = subprocess.run([SERF, "leave", "-rpc-addr", "127.0.0.21:7373"], capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        tg = self.wait_gone("web1", 15)
        print(f"leave -> removal: {tg - tl:.2f}s")
        time.sleep(0.5)
        load.stop()
        self.assertEqual(load.failed, [], f"failed requests during leave: {load.failed[:5]}")
        self.assertGreater(load.ok, 20)
        a1.wait(10)
        rc, out = self.serf_members(f"{LB_IP}:{self.rpc}")
        self.assertEqual(self.members_table(out)["web1"][2], "left", out)

        # Crash: kill -9 the agent and stop its web server; herd retries.
        load = Load(self.port, host=LB_IP)
        time.sleep(0.5)
        tc = time.time()
        a3.send_signal(signal.SIGKILL)
        a3.wait(5)
        b3.close()
        tg = self.wait_gone("web3", 30)
        print(f"crash -> removal: {tg - tc:.2f}s")
        time.sleep(0.5)
        load.stop()
        self.assertEqual(load.failed, [], f"failed requests during crash: {load.failed[:5]}")
        rc, out = self.serf_members(f"{LB_IP}:{self.rpc}")
        self.assertEqual(self.members_table(out)["web3"][2], "failed", out)

        # Graceful leave of herd itself on SIGTERM: web2's agent sees it left.
        self.herd.send_signal(signal.SIGTERM)
        self.herd.wait(15)
        rc, out = self.serf_members("127.0.0.22:7373")
        self.assertEqual(self.members_table(out)["herd-lb"][2], "left", out)

    def test_encrypted_join(self):
        key = subprocess.run([SERF, "keygen"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        bport = free_port()
        self.start_herd(bport, encrypt=key)
        self.backend("web1", "127.0.0.21", bport)
        t0 = time.time()
        self.serf_agent("web1", "127.0.0.21", encrypt=key)
        t1 = self.wait_traffic("web1")
        print(f"\nencrypted join -> first proxied request: {t1 - t0:.2f}s")
        rc, out = self.serf_members(f"{LB_IP}:{self.rpc}")
        t = self.members_table(out)
        self.assertEqual(t["web1"][2], "alive", out)
        end = time.time() + 5
        while time.time() < end:
            rc, out = self.serf_members("127.0.0.21:7373")
            if self.members_table(out).get("herd-lb", [None] * 3)[2] == "alive":
                break
            time.sleep(0.1)
        self.assertEqual(self.members_table(out)["herd-lb"][2], "alive", out)
        # Garbage and plaintext are counted and dropped, never fatal.
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for pkt in (b"", b"\x00", b"\x01" * 40, b"\x0c\x00\x00\x00\x00\x07", os.urandom(300)):
            u.sendto(pkt, (LB_IP, 7946))
        u.close()
        for data in (b"\x06\xff\xff", b"\x0a\x00\x00\x00\x10" + os.urandom(16), os.urandom(64)):
            try:
                s = socket.create_connection((LB_IP, 7946), timeout=2)
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                s.recv(100)
                s.close()
            except OSError:
                pass
        time.sleep(0.3)
        r = subprocess.run([SERF, "info", "-rpc-addr", f"{LB_IP}:{self.rpc}"], capture_output=True,
                           text=True, timeout=10)
        info = dict(l.strip().split(" = ", 1) for l in r.stdout.splitlines() if " = " in l)
        self.assertGreaterEqual(int(info["udp_unauthenticated"]), 4, r.stdout)
        self.assertGreaterEqual(int(info["tcp_bad"]), 3, r.stdout)
        self.assertIsNone(self.herd.poll())
        self.assertEqual(self.members_table(self.serf_members(f"{LB_IP}:{self.rpc}")[1])["web1"][2],
                         "alive")
        # An agent without the key cannot join.
        p, log = self.serf_agent("web9", "127.0.0.29")
        time.sleep(2)
        rc, out = self.serf_members(f"{LB_IP}:{self.rpc}")
        self.assertNotIn("web9", self.members_table(out), out)

    def test_herd_agent_with_child(self):
        bport = free_port()
        self.start_herd(bport)
        # Another member keeps the pool non-empty once web4 is gone.
        self.backend("web1", "127.0.0.21", bport)
        self.serf_agent("web1", "127.0.0.21")
        self.wait_traffic("web1")
        ip = "127.0.0.24"
        marker = os.path.join(self.dir, "child-term")
        # The child: an HTTP server that records SIGTERM, and exits 3 then.
        child = ("import http.server,signal,sys,socketserver\n"
                 "class H(http.server.BaseHTTPRequestHandler):\n"
                 "  def do_GET(s):\n"
                 "    b=b'web4\\n'; s.send_response(200); s.send_header('content-length',str(len(b)));"
                 " s.end_headers(); s.wfile.write(b)\n"
                 "  def log_message(s,*a): pass\n"
                 f"def term(*a): open({marker!r},'w').write('x'); sys.exit(3)\n"
                 "signal.signal(signal.SIGTERM, term)\n"
                 f"http.server.ThreadingHTTPServer(({ip!r},{bport}),H).serve_forever()\n")
        t0 = time.time()
        p, log = self.spawn("herd-agent", [HERD_BIN, "agent", "-node", "web4", "-bind", f"{ip}:7946",
                                           "-rpc-addr", f"{ip}:7373", "-join", f"{LB_IP}:7946",
                                           "-tag", "role=backend", "--", "python3", "-c", child])
        self.wait_traffic("web4")
        print(f"\nherd agent join -> first proxied request: {time.time() - t0:.2f}s")
        rc, out = self.serf_members(f"{ip}:7373")
        self.assertEqual(self.members_table(out).get("herd-lb", [None] * 3)[2], "alive", out)
        load = Load(self.port, host=LB_IP)
        time.sleep(0.3)
        tl = time.time()
        p.send_signal(signal.SIGTERM)
        # The member leaves first: removed from herd's pool while the child still runs.
        self.wait_gone("web4", 10)
        print(f"herd agent SIGTERM -> removal: {time.time() - tl:.2f}s")
        load.stop()
        self.assertEqual(p.wait(15), 3, self.output(log))
        self.assertTrue(os.path.exists(marker))
        self.assertEqual(load.failed, [], f"failed requests: {load.failed[:5]}")
        rc, out = self.serf_members(f"{LB_IP}:{self.rpc}")
        self.assertEqual(self.members_table(out)["web4"][2], "left", out)

    def metrics(self):
        """herd_membership_* samples of /metrics: {'name{labels}': value}, and the text."""
        text = urllib.request.urlopen(f"http://{LB_IP}:{self.stats_port}/metrics",
                                      timeout=5).read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("herd_membership_"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out, text

    def wait_metric(self, key, pred, timeout=10):
        end = time.time() + timeout
        while True:
            m, text = self.metrics()
            if key in m and pred(m[key]):
                return m
            if time.time() > end:
                self.fail(f"{key} never matched: {m.get(key)}\n{text[-3000:]}")
            time.sleep(0.2)

    def test_membership_counters(self):
        """Membership counters on /metrics, the stats page and `show membership`
        follow what happens on the wire; HAProxy's CSV stays untouched."""
        bport = free_port()
        self.start_herd(bport)
        self.backend("web1", "127.0.0.40", bport)
        agent, _ = self.serf_agent("web1", "127.0.0.40")
        self.wait_traffic("web1")
        m = self.wait_metric('herd_membership_members{state="alive"}', lambda v: v == 2)
        _, text = self.metrics()
        for fam, typ in (("herd_membership_members", "gauge"),
                         ("herd_membership_packets_total", "counter"),
                         ("herd_membership_packets_dropped_total", "counter"),
                         ("herd_membership_probes_total", "counter"),
                         ("herd_membership_suspicions_total", "counter"),
                         ("herd_membership_refutations_total", "counter"),
                         ("herd_membership_push_pulls_total", "counter")):
            self.assertIn(f"# HELP {fam} ", text)
            self.assertIn(f"# TYPE {fam} {typ}\n", text)
        self.assertIn("haproxy_up 1\n", text)  # the exporter's families are still there
        # The join was TCP (push/pull); UDP follows with the first probes.
        self.assertGreaterEqual(m['herd_membership_streams_total{direction="in"}'], 1)
        m = self.wait_metric('herd_membership_packets_total{direction="in"}', lambda v: v > 0, 5)
        self.assertGreater(m['herd_membership_packets_total{direction="out"}'], 0)
        self.assertGreaterEqual(m["herd_membership_push_pulls_total"], 1)
        self.assertEqual(m['herd_membership_members{state="failed"}'], 0)
        bad = m['herd_membership_packets_dropped_total{reason="bad"}']

        # Garbage on the gossip port: counted as dropped, herd unharmed.
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for pkt in (b"\xee\x01\x02", b"\x04\xc1\xc1", b"\x0c\x00"):
            u.sendto(pkt, (LB_IP, 7946))
        u.close()
        self.wait_metric('herd_membership_packets_dropped_total{reason="bad"}',
                         lambda v: v >= bad + 3, timeout=5)
        info = cli(self.cli_port, "show membership")
        fields = dict(l.split(": ", 1) for l in info.splitlines() if ": " in l)
        self.assertEqual(fields.get("Node"), "herd-lb", info)
        self.assertEqual(fields.get("Members_alive"), "2", info)
        self.assertGreaterEqual(int(fields["Packets_dropped_bad"]), bad + 3, info)
        self.assertGreater(int(fields["Probes"]), 0, info)
        page = urllib.request.urlopen(f"http://{LB_IP}:{self.stats_port}/", timeout=5).read().decode()
        self.assertIn('<a name="membership"></a>membership', page)
        self.assertIn("<th>Packets_in</th>", page)
        # HAProxy's CSV is unchanged: same header, no membership rows.
        csv = urllib.request.urlopen(f"http://{LB_IP}:{self.stats_port}/;csv",
                                     timeout=5).read().decode()
        self.assertTrue(csv.startswith("# pxname,svname,qcur,qmax,scur,smax,slim,stot,"), csv[:200])
        self.assertNotIn("membership", csv)
        self.assertEqual(len(csv.splitlines()[0].split(",")), 129)

        # A crash: the agent is suspected by herd's own probes, then failed.
        agent.send_signal(signal.SIGKILL)
        agent.wait(5)
        m = self.wait_metric('herd_membership_members{state="failed"}', lambda v: v == 1, 30)
        self.assertEqual(m['herd_membership_members{state="alive"}'], 1)
        self.assertGreaterEqual(m["herd_membership_suspicions_total"], 1)
        self.assertIsNone(self.herd.poll())

if __name__ == "__main__":
    unittest.main()
