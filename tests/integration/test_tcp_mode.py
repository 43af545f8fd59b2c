"""`mode tcp` parity: the same scenario against real haproxy 2.6, herd and
herd's reference mode, with the same config and the same TCP servers, must
give the same observable results: bytes both ways with half-close, balancing
order, layer-4 routing, queueing at maxconn, timeouts, closes on failures,
tcplog lines, stats CSV fields of TCP rows, TCP health checks, and the
config check's refusal of an HTTP frontend using a TCP backend.

Engines: harness.parity_engines() (HERD_PARITY_ENGINES, default all three)."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import HAPROXY_BIN, HERD_BIN, LB, Backend, free_port, get, have_haproxy, parity_engines

ENGINES = parity_engines()


class TcpServer:
    """A TCP server named `name`: greets each connection with "<name>\\n",
    echoes what it receives, and on the client's FIN answers "bye <n>\\n"
    (n: bytes received) and closes. `silent`: no greeting. Each
    connection's received bytes are kept in `.received`."""

    def __init__(self, name, silent=False):
        self.name = name
        self.silent = silent
        self.received = []
        self.conns = 0
        self.open = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                self.open += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        got = b""
        try:
            if not self.silent:
                c.sendall(self.name.encode() + b"\n")
            while True:
                d = c.recv(65536)
                if not d:
                    break
                got += d
                c.sendall(d)
            c.sendall(b"bye %d\n" % len(got))
        except OSError:
            pass
        finally:
            with self.lock:
                self.received.append(got)
                self.open -= 1
            c.close()

    def close(self):
        self.sock.close()


def converse(port, data, greet=True, timeout=3.0, source_port=0):
    """Connects (from `source_port` when given), reads the greeting, sends
    `data`, half-closes, reads to EOF. Returns the bytes read, or an error name."""
    s = socket.socket()
    s.settimeout(timeout)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the port is reused per engine
    s.bind(("127.0.0.1", source_port))
    s.connect(("127.0.0.1", port))
    out = b""
    try:
        if greet:
            while b"\n" not in out:
                d = s.recv(65536)
                if not d:
                    return ("closed", out)
                out += d
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d
    except socket.timeout:
        return ("timeout", out)
    except ConnectionResetError:
        return ("reset", out)
    finally:
        s.close()


def closed_within(port, seconds, send=b""):
    """Connects (sending `send`), then returns (bytes read, seconds until the
    proxy closed), or None when it stayed open `seconds`."""
    s = socket.create_connection(("127.0.0.1", port), timeout=seconds)
    t0 = time.time()
    out = b""
    try:
        if send:
            s.sendall(send)
        while True:
            d = s.recv(65536)
            if not d:
                return out, time.time() - t0
            out += d
    except socket.timeout:
        return None
    except ConnectionResetError:
        return out, time.time() - t0
    finally:
        s.close()


TCP_CFG = """
global
    maxconn 1000
defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s
{extra_defaults}
listen tcp_in
    bind 127.0.0.1:{port}
    balance {balance}
{listen_extra}
{servers}
"""


def tcp_cfg(port, servers, balance="roundrobin", server_opts="", listen_extra="",
            extra_defaults="", tail=""):
    lines = "\n".join(f"    server {s.name} {s.addr}{server_opts}" for s in servers)
    return TCP_CFG.format(port=port, balance=balance, servers=lines, listen_extra=listen_extra,
                          extra_defaults=extra_defaults) + tail


class TcpParity(unittest.TestCase):
    def run_all(self, cfg_fn, scenario, names=("s1",), silent=False, extra_ports=0):
        results = {}
        port = free_port()
        ports = [free_port() for _ in range(extra_ports)]
        for engine in ENGINES:
            servers = [TcpServer(n, silent=silent) for n in names]
            lb = LB(cfg_fn(port, servers, *ports), engine=engine, wait_ports=[port])
            try:
                # LB's start-up probe (wait_ports) was an empty connection
                # relayed to a server: let it end, then forget it.
                time.sleep(0.2)
                for s in servers:
                    with s.lock:
                        s.received = [r for r in s.received if r]
                        s.conns = 0
                results[engine] = scenario(port, servers, lb, *ports)
            finally:
                lb.stop()
                for s in servers:
                    s.close()
        return results

    def assert_same(self, results):
        ref = next((e for e in ("haproxy", "herd-haproxy") if e in results), None)
        for engine, got in results.items():
            if ref and engine != ref:
                self.assertEqual(got, results[ref], f"{engine} and {ref} disagree")
        return results.get("herd", results.get(ref))


class TestRelay(TcpParity):
    def test_bytes_both_ways_with_half_close(self):
        payload = bytes(range(256)) * 2048  # 512 KiB, binary

        def scenario(port, servers, lb):
            out = converse(port, payload)
            time.sleep(0.2)
            return out, servers[0].received

        out, received = self.assert_same(self.run_all(tcp_cfg, scenario))
        self.assertEqual(out, b"s1\n" + payload + b"bye %d\n" % len(payload))
        self.assertTrue(received == [payload], "the server did not get the payload")

    def test_no_mode_line_is_tcp_http_bytes_go_through_untouched(self):
        req = b"GET /x HTTP/1.1\r\nHost: Example\r\nX-Mixed: A b\r\nConnection: close\r\n\r\n"

        def scenario(port, servers, lb):
            out = converse(port, req, greet=False)
            time.sleep(0.2)
            return out, servers[0].received

        out, received = self.assert_same(self.run_all(tcp_cfg, scenario, silent=True))
        self.assertEqual(received, [req])
        self.assertEqual(out, req + b"bye %d\n" % len(req))

    def test_server_speaks_first_and_closes_first(self):
        # The server greets, then closes once the client half-closed: the
        # client sees the greeting, its echo and the server's last words.
        def scenario(port, servers, lb):
            return [converse(port, b"ping %d" % i) for i in range(3)]

        got = self.assert_same(self.run_all(tcp_cfg, scenario))
        self.assertEqual(got, [b"s1\nping %d" % i + b"bye 6\n" for i in range(3)])


class TestBalancing(TcpParity):
    def test_roundrobin_order_across_servers(self):
        def scenario(port, servers, lb):
            return [converse(port, b"x").split(b"\n")[0] for _ in range(6)]

        got = self.assert_same(self.run_all(tcp_cfg, scenario, names=("s1", "s2", "s3")))
        # Each server once per round (the start-up probe took the first turn).
        self.assertEqual(sorted(got[:3]), [b"s1", b"s2", b"s3"])
        self.assertEqual(got[3:], got[:3])

    def test_use_backend_on_dst_port_and_src(self):
        def cfg(port, servers, port2):
            return (f"defaults\n    timeout connect 1s\n    timeout client 5s\n"
                    f"    timeout server 5s\n"
                    f"frontend f\n    bind 127.0.0.1:{port}\n    bind 127.0.0.1:{port2}\n"
                    f"    acl second dst_port {port2}\n    acl nowhere src 10.9.9.9\n"
                    f"    use_backend b3 if nowhere\n"
                    f"    use_backend b2 if second\n    default_backend b1\n"
                    f"backend b1\n    server s1 {servers[0].addr}\n"
                    f"backend b2\n    server s2 {servers[1].addr}\n"
                    f"backend b3\n    server s3 {servers[2].addr}\n")

        def scenario(port, servers, lb, port2):
            return [converse(p, b"q").split(b"\n")[0] for p in (port, port2, port, port2)]

        got = self.assert_same(self.run_all(cfg, scenario, names=("s1", "s2", "s3"),
                                            extra_ports=1))
        self.assertEqual(got, [b"s1", b"s2", b"s1", b"s2"])

    def test_use_backend_on_src_port(self):
        sport = free_port()

        def cfg(port, servers):
            return (f"defaults\n    timeout connect 1s\n    timeout client 5s\n"
                    f"    timeout server 5s\n"
                    f"frontend f\n    bind 127.0.0.1:{port}\n"
                    f"    acl chosen src_port {sport}\n    acl privileged src_port 0:1023\n"
                    f"    use_backend b3 if privileged\n"
                    f"    use_backend b2 if chosen\n    default_backend b1\n"
                    f"backend b1\n    server s1 {servers[0].addr}\n"
                    f"backend b2\n    server s2 {servers[1].addr}\n"
                    f"backend b3\n    server s3 {servers[2].addr}\n")

        def scenario(port, servers, lb):
            out = []
            for sp in (0, sport, 0):
                out.append(converse(port, b"q", source_port=sp).split(b"\n")[0])
                time.sleep(0.05)
            return out

        got = self.assert_same(self.run_all(cfg, scenario, names=("s1", "s2", "s3")))
        self.assertEqual(got, [b"s1", b"s2", b"s1"])


class TestLimitsAndFailures(TcpParity):
    def test_maxconn_queues_until_a_slot_frees(self):
        def scenario(port, servers, lb):
            a = socket.create_connection(("127.0.0.1", port), timeout=3)
            self.assertEqual(a.recv(100), b"s1\n")
            results = {}

            def second():
                results["b"] = converse(port, b"later")

            t = threading.Thread(target=second)
            t.start()
            time.sleep(0.4)
            served_while_full = servers[0].conns  # the second waits in the queue
            a.shutdown(socket.SHUT_WR)
            first = b""
            while True:
                d = a.recv(100)
                if not d:
                    break
                first += d
            a.close()
            t.join(5)
            return served_while_full, first, results.get("b")

        got = self.assert_same(self.run_all(
            lambda p, s: tcp_cfg(p, s, server_opts=" maxconn 1"), scenario))
        self.assertEqual(got, (1, b"bye 0\n", b"s1\nlaterbye 5\n"))

    def test_queue_timeout_closes_the_waiting_connection(self):
        def scenario(port, servers, lb):
            a = socket.create_connection(("127.0.0.1", port), timeout=3)
            a.recv(100)
            r = closed_within(port, 3)
            a.close()
            return r is not None and r[0] == b"" and 0.2 < r[1] < 1.5

        self.assertTrue(self.assert_same(self.run_all(
            lambda p, s: tcp_cfg(p, s, server_opts=" maxconn 1",
                                 listen_extra="    timeout queue 400ms"), scenario)))

    def test_dead_server_closes_the_client_after_retries(self):
        def cfg(port, servers):
            dead = free_port()  # nothing listens there
            return tcp_cfg(port, [], listen_extra=f"    retries 1\n    server dead 127.0.0.1:{dead}")

        def scenario(port, servers, lb):
            r = closed_within(port, 4, send=b"hello")
            return r is not None and r[0] == b""

        self.assertTrue(self.assert_same(self.run_all(cfg, scenario, names=())))

    def test_timeout_tunnel_closes_an_idle_connection(self):
        def scenario(port, servers, lb):
            # Closed after the idle time: not before it, and well before the
            # 5 s of timeout client/server (wide: the machine may be busy).
            # The server's answer to the FIN passed on as the tunnel ends may
            # or may not get through first (in haproxy too): not compared.
            r = closed_within(port, 4)
            return r is not None and r[0].startswith(b"s1\n") and 0.4 < r[1] < 3.5

        self.assertTrue(self.assert_same(self.run_all(
            lambda p, s: tcp_cfg(p, s, listen_extra="    timeout tunnel 600ms"), scenario)))


class HalfCloser:
    """A server for the half-closed timeouts: `fin_first` greets and
    half-closes at once, then reads until the proxy closes (`.eof_after`:
    seconds from its accept to then); otherwise it reads the client's FIN and
    then stays without closing for 8 s."""

    def __init__(self, fin_first):
        self.fin_first = fin_first
        self.eof_after = None
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        t0 = time.time()
        try:
            if self.fin_first:
                c.sendall(b"hi\n")
                c.shutdown(socket.SHUT_WR)
            c.settimeout(10)
            while c.recv(65536):
                pass
            self.eof_after = time.time() - t0
            if not self.fin_first:
                time.sleep(8)  # the client's FIN came: stay, half-closed
        except OSError:
            self.eof_after = time.time() - t0
        finally:
            c.close()

    def close(self):
        self.sock.close()


class TestHalfClosedTimeouts(unittest.TestCase):
    """`timeout client-fin` / `server-fin`: once one side's FIN was passed on,
    the side that got it has that much time (instead of timeout client/
    server, and of `timeout tunnel` too) to close or send, as haproxy's
    half-closed timeouts. Each config runs on every engine; the closing
    times must fall in the same window."""

    def closes_after(self, engine, fin_first, extra):
        port = free_port()
        srv = HalfCloser(fin_first)
        cfg = ("defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 4s\n"
               "    timeout server 4s\n" + extra +
               f"listen l\n    bind 127.0.0.1:{port}\n    server s {srv.addr}\n")
        lb = LB(cfg, engine=engine)
        try:
            deadline = time.time() + 10
            while True:
                try:
                    c = socket.create_connection(("127.0.0.1", port), timeout=8)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.05)
            t0 = time.time()
            try:
                if fin_first:
                    self.assertEqual(c.recv(16), b"hi\n")  # then the FIN passed on
                    self.assertEqual(c.recv(16), b"")
                    while srv.eof_after is None and time.time() - t0 < 8:
                        time.sleep(0.02)
                    return srv.eof_after
                c.shutdown(socket.SHUT_WR)  # passed on to the server, which stays
                try:
                    c.recv(16)
                except ConnectionResetError:
                    pass
                return time.time() - t0
            finally:
                c.close()
        finally:
            lb.stop()
            srv.close()

    def window(self, fin_first, extra):
        """Whether each engine closed in 0.4..2.5 s (the fin timeout of 1 s)
        or 3.5..6 s (timeout client/server, 4 s)."""
        out = {}
        for e in ENGINES:
            t = self.closes_after(e, fin_first, extra)
            out[e] = None if t is None else ("fin" if 0.4 < t < 2.5 else
                                             "idle" if 3.5 < t < 6 else f"{t:.1f}s")
        return out

    def check(self, fin_first, extra, want):
        got = self.window(fin_first, extra)
        for e, v in got.items():
            self.assertEqual(v, want, f"{e}: {got}")

    def test_server_closed_first_client_fin_applies(self):
        self.check(True, "    timeout client-fin 1s\n", "fin")

    def test_server_closed_first_server_fin_does_not(self):
        self.check(True, "    timeout server-fin 1s\n", "idle")

    def test_client_closed_first_server_fin_applies_over_tunnel(self):
        self.check(False, "    timeout server-fin 1s\n    timeout tunnel 4s\n", "fin")

    def test_client_closed_first_client_fin_does_not(self):
        self.check(False, "    timeout client-fin 1s\n", "idle")


class TestSoftStop(TcpParity):
    def test_a_soft_stop_lets_open_connections_finish(self):
        # SIGUSR1: the listener closes at once; a relayed connection goes on
        # until its client and server close, then the process exits.
        def scenario(port, servers, lb):
            s = socket.create_connection(("127.0.0.1", port), timeout=3)
            greet = s.recv(100)
            lb.send(signal.SIGUSR1)
            time.sleep(0.5)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                refused = False
            except OSError:
                refused = True
            s.sendall(b"still here")
            s.shutdown(socket.SHUT_WR)
            rest = b""
            while True:
                d = s.recv(100)
                if not d:
                    break
                rest += d
            s.close()
            try:
                lb.proc.wait(5)
                exited = True
            except subprocess.TimeoutExpired:
                exited = False
            return greet, refused, rest, exited

        got = self.assert_same(self.run_all(tcp_cfg, scenario))
        self.assertEqual(got, (b"s1\n", True, b"still herebye 10\n", True))


LOG_RE = re.compile(
    r"(?P<client>127\.0\.0\.1:\d+) \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] (?P<fe>\S+) "
    r"(?P<be>\S+)/(?P<srv>\S+) (?P<tw>-?\d+)/(?P<tc>-?\d+)/(?P<tt>\d+) (?P<bytes>\d+) "
    r"(?P<ts>\S\S) (?P<conns>\d+/\d+/\d+/\d+/\d+) (?P<queues>\d+/\d+)$")


class TestTcplog(TcpParity):
    def test_tcplog_lines(self):
        def cfg(port, servers):
            return tcp_cfg(port, servers,
                           listen_extra="    option tcplog\n    option dontlognull\n"
                                        "    log stdout format raw local0")

        def scenario(port, servers, lb):
            converse(port, b"12345")
            time.sleep(0.5)
            lines = [l for l in lb.output().splitlines() if LOG_RE.search(l)]
            out = []
            for l in lines:
                m = LOG_RE.search(l)
                out.append((m["fe"], m["be"], m["srv"], m["bytes"], m["ts"], m["conns"],
                            m["queues"]))
            return out

        got = self.assert_same(self.run_all(cfg, scenario))
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0][:5], ("tcp_in", "tcp_in", "s1", str(3 + 5 + 6), "--"))


def csv_rows(port):
    _, _, body = get(port, "/;csv")
    lines = [l for l in body.decode().split("\n") if l.strip()]
    hdr = lines[0][2:].split(",")
    return hdr, [dict(zip(hdr, l.split(","))) for l in lines[1:]]


class TestStatsAndChecks(TcpParity):
    DELTAS = ("stot", "bin", "bout", "econ", "wretr")
    FIELDS = ("req_tot", "hrsp_2xx", "mode", "status")

    def test_csv_rows_of_tcp_proxies(self):
        def cfg(port, servers, stats_port):
            return tcp_cfg(port, servers, tail=(
                f"listen stats\n    mode http\n    bind 127.0.0.1:{stats_port}\n"
                f"    stats enable\n    stats uri /\n"))

        def rows_of(stats_port):
            hdr, rows = csv_rows(stats_port)
            return hdr, {r["svname"]: r for r in rows if r["pxname"] == "tcp_in"}

        def scenario(port, servers, lb, stats_port):
            time.sleep(0.3)
            _, before = rows_of(stats_port)
            converse(port, b"abc")
            time.sleep(0.3)
            hdr, after = rows_of(stats_port)
            out = []
            for name, r in after.items():
                empty = tuple(h for h in hdr if h and r.get(h, "") == "" and
                              not h.startswith(("agent_", "check_", "last_", "h1_", "h2_")))
                deltas = tuple(int(r[c] or 0) - int(before[name][c] or 0) for c in self.DELTAS)
                out.append((name, empty, deltas, tuple(r[c] for c in self.FIELDS)))
            return out

        got = self.assert_same(self.run_all(cfg, scenario, extra_ports=1))
        self.assertEqual([r[0] for r in got], ["FRONTEND", "s1", "BACKEND"])
        self.assertEqual(got[0][2], (1, 3, 12, 0, 0))

    def test_tcp_connect_checks_mark_a_closed_port_down(self):
        def cfg(port, servers, stats_port):
            dead = free_port()
            return tcp_cfg(port, servers, server_opts=" check inter 200ms rise 1 fall 1",
                           listen_extra=f"    server dead 127.0.0.1:{dead} check inter 200ms rise 1 fall 1",
                           tail=(f"listen stats\n    mode http\n    bind 127.0.0.1:{stats_port}\n"
                                 f"    stats enable\n    stats uri /\n"))

        def scenario(port, servers, lb, stats_port):
            time.sleep(1.0)
            _, rows = csv_rows(stats_port)
            return sorted((r["svname"], r["status"], r["check_status"].lstrip("* ")) for r in rows
                          if r["pxname"] == "tcp_in" and r["svname"] in ("s1", "dead"))

        got = self.assert_same(self.run_all(cfg, scenario, extra_ports=1))
        self.assertEqual(got, [("dead", "DOWN", "L4CON"), ("s1", "UP", "L4OK")])


    def test_option_httpchk_in_a_tcp_backend_still_checks_over_http(self):
        def cfg(port, servers, stats_port):
            web = Backend("web")
            self.addCleanup(web.close)
            return tcp_cfg(port, [], listen_extra=(
                f"    option httpchk GET /health\n"
                f"    server web {web.addr} check inter 200ms rise 1 fall 1"),
                tail=(f"listen stats\n    mode http\n    bind 127.0.0.1:{stats_port}\n"
                      f"    stats enable\n    stats uri /\n"))

        def scenario(port, servers, lb, stats_port):
            time.sleep(1.0)
            _, rows = csv_rows(stats_port)
            # "* " marks a check in progress at that instant: not compared.
            return [(r["svname"], r["status"], r["check_status"].lstrip("* ")) for r in rows
                    if r["pxname"] == "tcp_in" and r["svname"] == "web"]

        got = self.assert_same(self.run_all(cfg, scenario, names=(), extra_ports=1))
        self.assertEqual(got, [("web", "UP", "L7OK")])


@unittest.skipUnless(have_haproxy(), "haproxy not installed")
class TestConfigCheck(unittest.TestCase):
    def test_http_frontend_to_tcp_backend_is_refused_like_haproxy(self):
        cfg = ("defaults\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
               "frontend fe\n    mode http\n    bind 127.0.0.1:1\n    default_backend be\n"
               "backend be\n    server s1 127.0.0.1:2\n")
        d = tempfile.mkdtemp(prefix="tcpmode-")
        path = os.path.join(d, "mix.cfg")
        with open(path, "w") as f:
            f.write(cfg)

        def check(binary):
            p = subprocess.run([binary, "-c", "-f", path], capture_output=True, text=True,
                               timeout=20, cwd=d)
            alerts = [re.sub(r"^\[ALERT\]\s+\(\d+\) : ", "", l)
                      for l in p.stderr.splitlines() if l.startswith("[ALERT]")]
            return p.returncode, alerts

        herd = os.path.abspath(HERD_BIN)
        self.assertEqual(check(herd), check(HAPROXY_BIN))
        rc, alerts = check(herd)
        self.assertEqual(rc, 1)
        self.assertIn(f"config : http frontend 'fe' ({path}:5) tries to use incompatible tcp "
                      f"backend 'be' ({path}:9) as its default backend (see 'mode').", alerts)


if __name__ == "__main__":
    unittest.main()
