"""`tcp-request connection|content accept|reject`, `tcp-request
inspect-delay` and routing a TLS passthrough by `req.ssl_sni` (issue 17),
run on haproxy 2.6 and herd with the same config and compared: which server
gets the connection, the exact bytes it receives (the inspected ClientHello
goes first), and which connections are closed unanswered."""
import socket
import ssl
import threading
import time
import unittest

from harness import LB, Backend, free_port, have_haproxy, server_of
from test_tcp_mode import TcpServer


def client_hello(sni):
    """A real TLS ClientHello (Python's ssl module) naming `sni`."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def talk(port, chunks, pause=0.0, hold=0.0):
    """Sends the chunks (with a pause between them), half-closes after `hold`
    seconds, and returns all that comes back until the LB closes (b'' when
    closed without an answer) and the seconds until the first byte came."""
    t0 = time.time()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except ConnectionResetError:  # a connection rule's reject may come first
        return b"", None
    out, first = b"", None
    try:
        try:
            for i, c in enumerate(chunks):
                if i and pause:
                    time.sleep(pause)
                s.sendall(c)
            if hold:
                s.settimeout(hold)
                try:
                    out = s.recv(65536)
                    first = time.time() - t0
                except socket.timeout:
                    pass
                s.settimeout(5)
            s.shutdown(socket.SHUT_WR)
        except OSError:  # the LB closed first (a reject)
            return out, first
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            if first is None:
                first = time.time() - t0
            out += d
        return out, first
    finally:
        s.close()


@unittest.skipUnless(have_haproxy(), "haproxy is not installed")
class TestTcpRequest(unittest.TestCase):
    def run_both(self, cfg_fn, scenario):
        results = {}
        ports = (free_port(), free_port())
        for engine in ("haproxy", "herd"):
            servers = {n: TcpServer(n) for n in ("a", "b", "other")}
            web = Backend("web")
            lb = LB(cfg_fn(ports, servers, web), engine=engine, wait_ports=list(ports))
            try:
                results[engine] = scenario(ports, servers)
            finally:
                lb.stop()
                web.close()
                for s in servers.values():
                    s.close()
        self.assertEqual(results["herd"], results["haproxy"])
        return results["herd"]

    def test_sni_routing_and_content_rules(self):
        hello_a, hello_b = client_hello("a.example"), client_hello("B.Example")
        hello_c = client_hello("c.example")

        def cfg(ports, s, web):
            return f"""
defaults
    mode tcp
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend f
    bind 127.0.0.1:{ports[0]}
    bind 127.0.0.1:{ports[1]}
    tcp-request connection reject if {{ dst_port {ports[1]} }}
    tcp-request inspect-delay 2s
    tcp-request content accept if {{ req_ssl_hello_type 1 }}
    tcp-request content accept if HTTP
    tcp-request content reject
    use_backend be_a if {{ req_ssl_sni -i a.example }}
    use_backend be_b if {{ req.ssl_sni -i b.example }}
    use_backend be_web if HTTP
    default_backend be_other
backend be_a
    server a {s['a'].addr}
backend be_b
    server b {s['b'].addr}
backend be_other
    server o {s['other'].addr}
backend be_web
    mode http
    server w {web.addr}
"""

        def scenario(ports, servers):
            p = ports[0]
            t0 = time.time()
            out = {
                    "a": talk(p, [hello_a])[0],
                # The hello in two parts: the rules wait for the rest.
                "b": talk(p, [hello_b[:20], hello_b[20:]], pause=0.3)[0],
                "unknown-sni": talk(p, [hello_c])[0],
                "not-tls": talk(p, [b"hello there\n"])[0],
                # The answer before the half-close: haproxy sometimes drops a
                # request whose client half-closed during the inspection.
                "http": server_of(talk(p, [b"GET /x HTTP/1.1\r\nHost: t\r\n"
                                           b"Connection: close\r\n\r\n"], hold=2.0)[0]
                                  .split(b"\r\n\r\n", 1)[1]),
                "rejected-port": talk(ports[1], [hello_a])[0],
            }
            out["fast"] = time.time() - t0 < 4  # nobody waited out inspect-delay
            return out

        res = self.run_both(cfg, scenario)
        # The server gets the inspected hello first, exactly (it echoes it).
        self.assertEqual(res["a"], b"a\n" + hello_a + b"bye %d\n" % len(hello_a))
        self.assertEqual(res["b"], b"b\n" + hello_b + b"bye %d\n" % len(hello_b))
        self.assertTrue(res["unknown-sni"].startswith(b"other\n"))
        self.assertEqual(res["not-tls"], b"")
        self.assertEqual(res["http"], "web")
        self.assertEqual(res["rejected-port"], b"")
        self.assertTrue(res["fast"])

    def test_inspect_delay_expires(self):
        """A partial hello: the rules decide when inspect-delay is over."""
        hello = client_hello("a.example")

        def cfg(ports, s, web):
            return f"""
defaults
    mode tcp
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend f
    bind 127.0.0.1:{ports[0]}
    bind 127.0.0.1:{ports[1]}
    tcp-request inspect-delay 500ms
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    default_backend be_other
backend be_other
    server o {s['other'].addr}
"""

        def scenario(ports, servers):
            partial, first = talk(ports[0], [hello[:30]], hold=1.5)
            silent = talk(ports[1], [], hold=1.5)[0]
            return partial, first is not None and 0.4 < first < 1.4, silent

        partial, waited, silent = self.run_both(cfg, scenario)
        # No rule matched when the delay was over: accepted.
        self.assertEqual(partial, b"other\n" + hello[:30] + b"bye 30\n")
        self.assertTrue(waited)
        self.assertEqual(silent, b"other\nbye 0\n")


    def test_wait_end(self):
        """`accept if WAIT_END`: every connection waits out inspect-delay."""

        def cfg(ports, s, web):
            return f"""
defaults
    mode tcp
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend f
    bind 127.0.0.1:{ports[0]}
    bind 127.0.0.1:{ports[1]}
    tcp-request inspect-delay 600ms
    tcp-request content accept if WAIT_END
    default_backend be_other
backend be_other
    server o {s['other'].addr}
"""

        def scenario(ports, servers):
            reply, first = talk(ports[0], [b"hi\n"], hold=2.0)
            return reply, first is not None and 0.5 < first < 1.8

        self.assertEqual(self.run_both(cfg, scenario), (b"other\nhi\nbye 3\n", True))


@unittest.skipUnless(have_haproxy(), "haproxy is not installed")
class TestTcpRequestConfig(unittest.TestCase):
    """-c messages for tcp-request lines, as haproxy's."""

    def test_messages(self):
        from harness import HAPROXY_BIN, HERD_BIN, check_diagnostics
        lines = ["tcp-request", "tcp-request foo", "tcp-request content foo",
                 "tcp-request inspect-delay", "tcp-request inspect-delay x",
                 "tcp-request content accept foo", "tcp-request content reject if { req.len gt 0 }"]
        for line in lines:
            text = ("defaults\n  mode tcp\n  timeout client 1s\n  timeout server 1s\n"
                    "  timeout connect 1s\nfrontend a\n  bind 127.0.0.1:1\n  " + line +
                    "\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n")
            outs = [check_diagnostics(b, text) for b in (HAPROXY_BIN, HERD_BIN)]
            self.assertEqual(outs[1], outs[0], line)


if __name__ == "__main__":
    unittest.main()
