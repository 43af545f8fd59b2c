"""Data-plane parity: one scenario, run against real haproxy 2.6, herd (native
engine) and herd's reference mode (`herd --engine haproxy`, engine
"herd-haproxy") with the same config and the same backends, must give
identical observable results (bytes to the client, bytes to the backend,
server order), and match HAProxy's captured bytes where they exist.

Engines: harness.parity_engines() (HERD_PARITY_ENGINES, default all three)."""
import os
import socket
import time
import unittest

from harness import (LB, Backend, Client, CAPTURES, free_port, get, lab_cfg, parity_engines, raw,
                     server_of)

ENGINES = parity_engines()


def reference_of(results):
    """The result HAProxy gives: real haproxy's, else the reference mode's."""
    for e in ("haproxy", "herd-haproxy"):
        if e in results:
            return e, results[e]
    return None, None


def capture(name):
    with open(os.path.join(CAPTURES, name), "rb") as f:
        return f.read().split(b"<<TIMEOUT")[0]  # the capture notes an open connection


class ParityCase(unittest.TestCase):
    """Runs `scenario(port, backends)` once per engine on the same port and
    backends, returning {engine: result}; assert_same() checks that every
    engine gave HAProxy's result."""

    def run_both(self, cfg_fn, scenario, names=("s1",), engines=None):
        results = {}
        port = free_port()  # the same port for both: it shows in x-forwarded-port
        for engine in engines or ENGINES:
            backends = [Backend(n) for n in names]
            lb = LB(cfg_fn(port, backends), engine=engine, wait_ports=[port])
            try:
                results[engine] = scenario(port, backends)
            finally:
                lb.stop()
                for b in backends:
                    b.close()
        return results

    def assert_same(self, results):
        ref, want = reference_of(results)
        for engine, got in results.items():
            if ref is not None and engine != ref:
                self.assertEqual(got, want, f"{engine} and {ref} disagree")
        return results.get("herd", want)


class TestWireParity(ParityCase):
    EXAMPLES = [
        b"GET /demo HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
        b"GET /demo10 HTTP/1.0\r\nHost: example\r\n\r\n",
        b"GET /demo10ka HTTP/1.0\r\nHost: example\r\nConnection: keep-alive\r\n\r\n",
        b"GET /democlose HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n",
        b"GET /nohost HTTP/1.1\r\n\r\n",
        b"POST /chunked HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"GET http://example/abs HTTP/1.1\r\nHost: example\r\n\r\n",
        b"GET /two-xff HTTP/1.1\r\nHost: e\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\nX-Forwarded-Port: 99\r\n\r\n",
        b"POST /cl HTTP/1.1\r\nHost: e\r\nContent-Length: 5\r\nMixed-Case: V a L\r\n\r\nhello",
        b"HEAD /head HTTP/1.1\r\nHost: e\r\n\r\n",
    ]

    def test_request_and_response_bytes_match_haproxy(self):
        def scenario(port, backends):
            out = []
            for req in self.EXAMPLES:
                out.append(raw(port, req, timeout=2))
            return out

        res = self.run_both(lambda p, b: lab_cfg(p, b), scenario)
        herd = self.assert_same(res)
        # Header names reach the server in lower case; XFF appended after X-Forwarded-Port.
        self.assertIn(b"\r\nuser-agent: t\r\nx-forwarded-for: 1.2.3.4\r\nx-forwarded-port: ", herd[0])
        self.assertTrue(herd[0].endswith(b"x-forwarded-for: 127.0.0.1\r\n\r\n"))
        self.assertIn(b"connection: close\r\n\r\n", herd[1])
        self.assertTrue(herd[1].endswith(b"connection: keep-alive\r\n\r\n"))

    def test_pipelined_requests_are_answered_in_order(self):
        def scenario(port, backends):
            reqs = b"".join(f"GET /p{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(5))
            s = socket.create_connection(("127.0.0.1", port), timeout=3)
            s.sendall(reqs)
            data = b""
            end = time.time() + 3
            while data.count(b"HTTP/1.1 200") < 5 and time.time() < end:
                d = s.recv(65536)
                if not d:
                    break
                data += d
            s.close()
            return [l.split(b" ")[1] for l in data.split(b"\n") if l.startswith(b"GET ")]

        got = self.assert_same(self.run_both(lambda p, b: lab_cfg(p, b), scenario))
        self.assertEqual(got, [f"/p{i}".encode() for i in range(5)])

    def test_keep_alive_reuses_one_server_connection(self):
        def scenario(port, backends):
            c = Client(port)
            codes = [c.request(b"GET /ka HTTP/1.1\r\nHost: x\r\n\r\n")[0] for _ in range(10)]
            c.close()
            return codes, backends[0].conns

        codes, conns = self.assert_same(self.run_both(lambda p, b: lab_cfg(p, b), scenario))
        self.assertEqual(codes, [200] * 10)
        self.assertEqual(conns, 1)

    def test_large_bodies_stream_both_ways(self):
        def scenario(port, backends):
            c = Client(port)
            body = bytes(range(256)) * 4096  # 1 MiB
            st, _, echoed = c.request(
                b"POST /up?echo=1 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            st2, h2, down = c.request(b"GET /down?size=3000000&chunked=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            c.close()
            return st, echoed == body, st2, len(down), dict(h2).get("transfer-encoding")

        got = self.assert_same(self.run_both(lambda p, b: lab_cfg(p, b), scenario))
        self.assertEqual(got, (200, True, 200, 3000000, "chunked"))


class TestEarlyResponse(ParityCase):
    def test_upload_continues_when_the_server_answers_first(self):
        def scenario(port, backends):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            body = b"y" * (1 << 20)
            s.sendall(b"POST /up?early=1 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
                      + body[:65536])
            time.sleep(0.3)  # the early answer is relayed while the upload is still going
            s.sendall(body[65536:])
            s.sendall(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            end = time.time() + 5
            while data.count(b"HTTP/1.1 200") < 2 and time.time() < end:
                d = s.recv(65536)
                if not d:
                    break
                data += d
            s.close()
            return data.count(b"HTTP/1.1 200"), b"early\n" in data, b"GET /after" in data

        self.assertEqual(self.assert_same(self.run_both(lambda p, b: lab_cfg(p, b), scenario)),
                         (2, True, True))


class TestErrorsParity(ParityCase):
    def test_503_when_no_server_is_usable(self):
        def scenario(port, backends):
            return (raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=1),
                    raw(port, b"GET / HTTP/1.0\r\n\r\n", timeout=1, until_close=True),
                    raw(port, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=1))

        res = self.run_both(lambda p, b: lab_cfg(p, []), scenario, names=())
        r11, r10, head = self.assert_same(res)
        self.assertEqual(r11, capture("503-no-server-http11.bin"))
        self.assertEqual(r10, capture("503-no-server-http10.bin"))
        self.assertEqual(head, capture("503-no-server-head.bin"))

    def test_400_on_garbage_and_nothing_forwarded(self):
        def scenario(port, backends):
            out = raw(port, b"GARBAGE GARBAGE\r\n\r\n", timeout=2, until_close=True)
            smuggle = raw(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                          b"Content-Length: 4\r\n\r\nabcd", timeout=2, until_close=True)
            two_hosts = raw(port, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", timeout=2, until_close=True)
            return out, smuggle[:24], two_hosts[:24], len(backends[0].requests)

        out, smuggle, two_hosts, forwarded = self.assert_same(self.run_both(lambda p, b: lab_cfg(p, b), scenario))
        self.assertEqual(out, capture("400-bad-request.bin"))
        self.assertEqual(smuggle, b"HTTP/1.1 400 Bad request")
        self.assertEqual(two_hosts, b"HTTP/1.1 400 Bad request")
        self.assertEqual(forwarded, 0)

    def test_504_on_server_timeout(self):
        def scenario(port, backends):
            return raw(port, b"GET /?sleep=1.5 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)

        out = self.assert_same(self.run_both(lambda p, b: lab_cfg(p, b, tserver=300), scenario))
        self.assertEqual(out, capture("504-gateway-timeout.bin"))

    def test_502_on_invalid_response(self):
        def scenario(port, backends):
            return raw(port, b"GET /?garbage=1 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)

        out = self.assert_same(self.run_both(lambda p, b: lab_cfg(p, b), scenario))
        self.assertEqual(out, capture("502-bad-gateway.bin"))

    def test_408_on_incomplete_head(self):
        def scenario(port, backends):
            cfg_ok = raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n", timeout=3, until_close=True)
            return cfg_ok

        def cfg(p, b):
            return lab_cfg(p, b).replace("timeout client 50000", "timeout client 50000\n    timeout http-request 500")

        out = self.assert_same(self.run_both(cfg, scenario))
        self.assertEqual(out, capture("408-request-timeout.bin"))

    def test_redispatch_on_connection_refused(self):
        dead = free_port()

        def cfg(p, b):
            return lab_cfg(p, b).replace("    server s1", f"    server s0 127.0.0.1:{dead}\n    server s1") \
                .replace("balance roundrobin", "balance roundrobin\n    option redispatch")

        def scenario(port, backends):
            t = time.time()
            st, _, body = get(port, "/")
            return st, server_of(body), time.time() - t < 1.0

        self.assertEqual(self.assert_same(self.run_both(cfg, scenario)), (200, "s1", True))


class TestBalancingParity(ParityCase):
    def sequence(self, weights, balance="roundrobin", n=20):
        names = [f"s{i+1}" for i in range(len(weights))]

        def scenario(port, backends):
            return [server_of(get(port, "/")[2]) for _ in range(n)]

        return self.assert_same(self.run_both(
            lambda p, b: lab_cfg(p, b, balance=balance, weights=weights), scenario, names=names))

    def test_roundrobin_orders(self):
        self.assertEqual(self.sequence([3, 1])[:8], "s1 s1 s1 s2 s1 s1 s1 s2".split())
        self.assertEqual(self.sequence([5, 3, 1])[:9], "s1 s1 s2 s1 s3 s2 s1 s1 s2".split())
        self.assertEqual(self.sequence([3, 2, 1])[:6], "s1 s2 s1 s3 s1 s2".split())
        self.assertEqual(self.sequence([1, 1, 1])[:6], "s1 s2 s3 s1 s2 s3".split())

    def test_static_rr_orders(self):
        self.assertEqual(self.sequence([5, 3, 1], "static-rr")[:9], "s1 s1 s2 s1 s2 s1 s2 s1 s3".split())

    def test_cookie_insert_indirect_nocache(self):
        def cfg(p, b):
            return lab_cfg(p, b, extra_server="").replace(
                "balance roundrobin", "balance roundrobin\n    cookie SERVERID insert indirect nocache") \
                .replace(f"server s1 {b[0].addr}", f"server s1 {b[0].addr} cookie s1") \
                .replace(f"server s2 {b[1].addr}", f"server s2 {b[1].addr} cookie s2")

        def scenario(port, backends):
            first = raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            pinned = [raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; SERVERID=s2; b=2\r\n\r\n")
                      for _ in range(3)]
            return first, pinned

        first, pinned = self.assert_same(self.run_both(cfg, scenario, names=("s1", "s2")))
        self.assertIn(b"set-cookie: SERVERID=s1; path=/\r\n", first)
        for p in pinned:
            self.assertNotIn(b"set-cookie", p)
            self.assertIn(b"\r\n\r\ns2\n", p)
            self.assertIn(b"cookie: a=1; b=2\r\n", p)


if __name__ == "__main__":
    unittest.main()
