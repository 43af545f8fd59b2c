"""`resolvers` sections, `option clitcpka|srvtcpka|tcpka`, env() and
`tune.maxaccept`, on herd and haproxy 2.6 with the same configuration.

A fake nameserver (UDP on loopback, a free port) answers A queries for
app.test with an address the test changes; echo backends listen on
127.0.0.2 and 127.0.0.3 on the same port. Both engines must move the
traffic to the new address, show it in `show servers state`, put the
server in maintenance (resolution) once `hold nx` has passed after NXDOMAIN
answers (and `hold timeout` without any answer), and ignore hostile packets (a compression-pointer loop sent before
each real answer). Keep-alive: `ss -to` shows timer:(keepalive,...) on the
client and server sockets of the balancer exactly when the options ask.
"""
import os
import socket
import struct
import subprocess
import threading
import time
import unittest

from harness import LB, Backend, free_port, get, have_haproxy, raw, runtime_api, server_of


class FakeDNS:
    """Answers A queries for `name` with `self.ips` (or `self.rcode`), AAAA
    with no record; with `junk`, a packet with a compression-pointer loop
    and the right id goes out before each real answer."""

    def __init__(self, name="app.test"):
        self.name = name
        self.ips = ["127.0.0.2"]
        self.rcode = 0
        self.junk = True
        self.silent = False  # no answer at all (timeouts)
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop:
            try:
                pkt, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(pkt) < 12:
                continue
            self.queries += 1
            if self.silent:
                continue
            qid = pkt[:2]
            # The question: labels, then type and class.
            pos, labels = 12, []
            while pos < len(pkt) and pkt[pos]:
                labels.append(pkt[pos + 1:pos + 1 + pkt[pos]].decode().lower())
                pos += 1 + pkt[pos]
            question = pkt[12:pos + 5]
            qtype = struct.unpack(">H", pkt[pos + 1:pos + 3])[0]
            name = ".".join(labels)
            answers = []
            rcode = self.rcode
            if name != self.name:
                rcode = 3
            elif rcode == 0 and qtype == 1:
                for ip in self.ips:
                    answers.append(struct.pack(">HHHIH", 0xC00C, 1, 1, 1, 4) + socket.inet_aton(ip))
            flags = 0x8180 | rcode
            if self.junk:
                loop = (qid + struct.pack(">HHHHH", flags, 1, 1, 0, 0) + question +
                        struct.pack(">H", 0xC000 | (12 + len(question))) +
                        struct.pack(">HHIH", 1, 1, 1, 4) + b"\x7f\x00\x00\x09")
                self.sock.sendto(loop, peer)
            out = qid + struct.pack(">HHHHH", flags, 1, len(answers), 0, 0) + question
            self.sock.sendto(out + b"".join(answers), peer)

    def close(self):
        self._stop = True
        self.sock.close()


def cfg_for(dns_port, be_port, fe_port, cli_port, extra_server="", hold_nx="600ms"):
    return f"""
global
    stats socket ipv4@127.0.0.1:{cli_port} level admin
resolvers r
    nameserver ns1 127.0.0.1:{dns_port}
    accepted_payload_size 1232
    resolve_retries 2
    timeout resolve 200ms
    timeout retry 200ms
    hold valid 100ms
    hold nx {hold_nx}
    hold timeout 600ms
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{fe_port}
    default_backend be
backend be
    server s1 app.test:{be_port} resolvers r resolve-prefer ipv4 init-addr none {extra_server}
"""


def state_line(cli_port):
    out = runtime_api(cli_port, "show servers state be")
    for line in out.splitlines():
        if line.startswith("#") or not line.strip() or line.strip() == "1":
            continue
        return line.split()
    return []


def wait_for(pred, timeout=8.0):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


def served_by(port):
    try:
        st, _, body = get(port)
    except OSError:
        return None
    return server_of(body) if st == 200 else str(st)


def engines():
    return ["herd"] + (["haproxy"] if have_haproxy() else [])


class ResolversParity(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.one = Backend("one", port=self.port, host="127.0.0.2")
        self.two = Backend("two", port=self.port, host="127.0.0.3")

    def tearDown(self):
        self.one.close()
        self.two.close()

    def run_engine(self, engine):
        """What one engine shows along the scenario: the server state
        fields that do not depend on time, per step."""
        dns = FakeDNS()
        fe, cli = free_port(), free_port()
        lb = LB(cfg_for(dns.port, self.port, fe, cli), engine, wait_ports=[fe])
        seen = {}
        try:
            # init-addr none: maintenance (resolution) until DNS answers.
            self.assertEqual(wait_for(lambda: served_by(fe) == "one"), True, lb.output())
            st = state_line(cli)
            seen["first"] = (st[4], st[6], st[17], st[18])
            dns.ips = ["127.0.0.3"]
            self.assertTrue(wait_for(lambda: served_by(fe) == "two"), lb.output())
            st = state_line(cli)
            seen["moved"] = (st[4], st[6], st[17], st[18])
            # Two addresses, the current one among them: it stays.
            dns.ips = ["127.0.0.2", "127.0.0.3"]
            time.sleep(0.8)
            seen["kept"] = tuple(served_by(fe) for _ in range(3))
            # NXDOMAIN: the address is kept during `hold nx`, then the
            # server is in maintenance (resolution), then back with DNS.
            dns.rcode = 3
            time.sleep(0.2)
            seen["nx_held"] = served_by(fe)
            self.assertTrue(wait_for(lambda: served_by(fe) == "503"), lb.output())
            st = state_line(cli)
            seen["nx"] = (st[6],)
            dns.rcode = 0
            dns.ips = ["127.0.0.2"]
            self.assertTrue(wait_for(lambda: served_by(fe) == "one"), lb.output())
            st = state_line(cli)
            seen["back"] = (st[4], st[6])
            # No answer at all: `hold timeout`, then maintenance, then back.
            dns.silent = True
            self.assertTrue(wait_for(lambda: served_by(fe) == "503"), lb.output())
            seen["timeout"] = (state_line(cli)[6],)
            dns.silent = False
            self.assertTrue(wait_for(lambda: served_by(fe) == "one"), lb.output())
            out = lb.output()
            seen["log_timeout"] = ("Server be/s1 is going DOWN for maintenance (DNS timeout "
                                   "status)") in out
            seen["log_moved"] = "be/s1 changed its IP from 127.0.0.2 to 127.0.0.3 by r/ns1" in out
            seen["log_maint"] = "Server be/s1 is going DOWN for maintenance (DNS NX status)" in out
            self.assertGreater(dns.queries, 3)
        finally:
            lb.stop()
            dns.close()
        return seen

    def test_address_follows_dns_like_haproxy(self):
        results = {e: self.run_engine(e) for e in engines()}
        herd = results["herd"]
        self.assertEqual(herd["first"], ("127.0.0.2", "0", "app.test", str(self.port)))
        self.assertEqual(herd["moved"], ("127.0.0.3", "0", "app.test", str(self.port)))
        self.assertEqual(herd["kept"], ("two", "two", "two"))
        self.assertEqual(herd["nx_held"], "two")
        self.assertEqual(herd["nx"], ("32",))
        self.assertEqual(herd["back"], ("127.0.0.2", "0"))
        self.assertEqual(herd["timeout"], ("32",))
        self.assertTrue(herd["log_timeout"])
        self.assertTrue(herd["log_moved"] and herd["log_maint"])
        if "haproxy" in results:
            self.assertEqual(results["haproxy"], herd)


class TooBigParity(unittest.TestCase):
    """An answer bigger than accepted_payload_size is dropped by both."""

    def run_engine(self, engine):
        port = free_port()
        one = Backend("one", port=port, host="127.0.0.2")
        dns = FakeDNS()
        dns.junk = False
        dns.ips = ["127.0.0.2"] + [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(99)]
        fe, cli = free_port(), free_port()
        lb = LB(cfg_for(dns.port, port, fe, cli), engine, wait_ports=[fe])
        try:
            time.sleep(1.0)
            big = (served_by(fe), state_line(cli)[6])
            dns.ips = ["127.0.0.2"]
            self.assertTrue(wait_for(lambda: served_by(fe) == "one"), lb.output())
            return big, state_line(cli)[4]
        finally:
            lb.stop()
            dns.close()
            one.close()

    def test_answer_over_payload_size_is_dropped(self):
        results = {e: self.run_engine(e) for e in engines()}
        self.assertEqual(results["herd"], (("503", "32"), "127.0.0.2"))
        if "haproxy" in results:
            self.assertEqual(results["haproxy"], results["herd"])


class SharedNameParity(unittest.TestCase):
    """Two servers following one name spread over its addresses (an address
    another server of the backend uses is skipped); one left without an
    address goes to maintenance ("No IP for server"). The second server
    learns the answer from the shared resolution ("by DNS cache")."""

    def run_engine(self, engine):
        port = free_port()
        dns = FakeDNS()
        dns.ips = ["127.0.0.2", "127.0.0.3"]
        fe, cli = free_port(), free_port()
        cfg = cfg_for(dns.port, port, fe, cli) + (
            f"    server s2 app.test:{port} resolvers r resolve-prefer ipv4 init-addr none\n")
        lb = LB(cfg, engine, wait_ports=[fe])
        steps = []

        def states():
            rows = [ln.split() for ln in runtime_api(cli, "show servers state be").splitlines()]
            return [(r[3], r[4], r[6]) for r in rows if len(r) > 6 and not r[0].startswith("#")]

        try:
            for ips in (["127.0.0.2", "127.0.0.3"], ["127.0.0.3", "127.0.0.4"], ["127.0.0.4"]):
                dns.ips = ips
                time.sleep(1.2)  # several resolutions (timeout resolve 200ms)
                steps.append(states())
            out = lb.output()
            steps.append("be/s2 changed its IP from (none) to 127.0.0.3 by DNS cache" in out)
            steps.append("Server be/s2 is going DOWN for maintenance (No IP for server )" in out)
        finally:
            lb.stop()
            dns.close()
        return steps

    def test_two_servers_one_name(self):
        results = {e: self.run_engine(e) for e in engines()}
        herd = results["herd"]
        self.assertEqual(herd[0], [("s1", "127.0.0.2", "0"), ("s2", "127.0.0.3", "0")])
        self.assertEqual(herd[1], [("s1", "127.0.0.4", "0"), ("s2", "127.0.0.3", "0")])
        self.assertEqual(herd[2], [("s1", "127.0.0.4", "0"), ("s2", "-", "32")])
        self.assertEqual(herd[3:], [True, True])
        if "haproxy" in results:
            self.assertEqual(results["haproxy"], herd)


class KeepAliveParity(unittest.TestCase):
    """SO_KEEPALIVE as `ss -to` shows it: timer:(keepalive,...)."""

    @staticmethod
    def keepalive_ports(lb_pid):
        """(local port, peer port) of the balancer's established TCP
        sockets that carry a keep-alive timer."""
        out = subprocess.run(["ss", "-tonpH", "state", "established"], capture_output=True,
                             text=True).stdout
        found = set()
        for line in out.splitlines():
            if f"pid={lb_pid}," not in line or "timer:(keepalive" not in line:
                continue
            f = line.split()
            found.add((int(f[2].rsplit(":", 1)[1]), int(f[3].rsplit(":", 1)[1])))
        return found

    def run_engine(self, engine, options):
        be = Backend("ka")
        fe = free_port()
        cfg = f"""
defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
{options}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be
backend be
    server s1 {be.addr}
"""
        lb = LB(cfg, engine, wait_ports=[fe])
        c = socket.create_connection(("127.0.0.1", fe))
        try:
            c.sendall(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
            self.assertIn(b"ka", c.recv(4096))
            time.sleep(0.1)
            ports = self.keepalive_ports(lb.proc.pid)
            client_side = (fe, c.getsockname()[1]) in ports
            server_side = any(peer == be.port for _, peer in ports)
            return client_side, server_side
        finally:
            c.close()
            lb.stop()
            be.close()

    def test_keepalive_options(self):
        cases = {"": (False, False), "option tcpka": (True, True),
                 "option clitcpka": (True, False), "option srvtcpka": (False, True),
                 "option tcpka\n    no option clitcpka": (False, True)}
        for opts, want in cases.items():
            for engine in engines():
                with self.subTest(options=opts, engine=engine):
                    self.assertEqual(self.run_engine(engine, opts), want)


class EnvAndMaxAccept(unittest.TestCase):
    def test_env_fetch(self):
        be = Backend("envb")
        try:
            for engine in engines():
                for value, want in (("yes", 403), ("no", 200)):
                    fe = free_port()
                    cfg = f"""
global
    tune.maxaccept 2
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{fe}
    http-request deny if {{ env(HERD_T_FOO) -m str yes }}
    http-request set-header x-env "%[env(HERD_T_FOO)]-%[env(HERD_T_UNSET)]"
    default_backend be
backend be
    server s1 {be.addr}
"""
                    env = {"HERD_T_FOO": value}
                    lb = LB(cfg, engine, wait_ports=[fe], env=env)
                    try:
                        with self.subTest(engine=engine, value=value):
                            # More clients at once than one wake-up accepts.
                            results = []
                            threads = [threading.Thread(target=lambda: results.append(get(fe)))
                                       for _ in range(6)]
                            for t in threads:
                                t.start()
                            for t in threads:
                                t.join()
                            self.assertEqual([r[0] for r in results], [want] * 6)
                            if want == 200:
                                self.assertIn(b"x-env: no-\r\n", results[0][2])
                    finally:
                        lb.stop()
        finally:
            be.close()


if __name__ == "__main__":
    unittest.main()
