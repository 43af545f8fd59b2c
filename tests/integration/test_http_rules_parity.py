"""http-response and http-request deny/allow rules (issue 17), run on haproxy
2.6 and herd with the same config and compared byte for byte: the response
the client gets, and whether its connection stays open."""
import socket
import time
import unittest
import urllib.parse

from harness import Client, raw
from test_proxy_parity import ParityCase


def url(path, *fields):
    """A path with ?hdr=... response fields for the harness backend."""
    q = "&".join("hdr=" + urllib.parse.quote(f, safe="") for f in fields)
    return path + ("?" + q if q else "")


def exchange(port, path, extra=""):
    """The whole answer to one request, and whether the connection stayed open."""
    c = Client(port)
    try:
        r = c.request(f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode())
        status, hdrs, body = r
        return status, hdrs, body.split(b"\n", 1)[0], not c.closed(0.3)
    finally:
        c.close()


DEFAULTS = """
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
"""

RESPONSE_RULES_CFG = DEFAULTS + """frontend f
    bind 127.0.0.1:{p}
    http-response add-header X-Fe fe-%[status] unless {{ src 192.168.0.0/16 }}
    http-response del-header X-Secret if {{ src 127.0.0.0/8 }}
    http-response replace-header Set-Cookie (.*) \\1;\\ Secure if {{ ssl_fc }}
    http-response replace-header Set-Cookie (.*);\\ Secure(.*) \\1\\2 unless {{ ssl_fc }}
    http-response set-status 299 if {{ res.hdr(x-mark) -i ReStAtUs }}
    http-response set-status 298 reason "Is Fine" if {{ res.hdr(x-mark) reason }}
    http-response deny if {{ res.hdr(x-mark) deny }}
    http-response deny deny_status 500 if {{ status 418 }}
    default_backend b
backend b
    http-response set-header X-Be be-%[res.hdr(x-mark)]
    http-response replace-value X-List ^b(.*)$ B\\1
    http-response allow if {{ res.hdr(x-mark) allow }}
    http-response add-header X-After-Allow yes
    server s1 {b0}
"""


class TestHttpResponseRules(ParityCase):
    def test_header_edits_status_and_deny(self):
        def cfg(p, b):
            return RESPONSE_RULES_CFG.format(p=p, b0=b[0].addr)

        cases = [
            url("/plain", "X-Secret:hidden", "X-Mark:none"),
            url("/cookie", "Set-Cookie:a=1; Secure; Path=/", "Set-Cookie:b=2"),
            url("/list", "X-List:a, b1, c, b2"),
            url("/restatus", "X-Mark:restatus"),
            url("/reason", "X-Mark:reason"),
            url("/allow", "X-Mark:allow"),
            url("/deny", "X-Mark:deny"),
            url("/teapot?st=418"),
        ]

        def scenario(port, backends):
            out = []
            for path in cases:
                if "?st=" in path:
                    path = path.replace("/teapot?st=418", "/teapot?st=418&x=1")
                out.append(exchange(port, path))
            # The bytes on the wire, for one edited answer.
            out.append(raw(port, f"GET {cases[0]} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                           .encode()).split(b"\r\n\r\n", 1)[0])
            return out

        res = self.assert_same(self.run_both(cfg, scenario))
        plain, cookie, lst, restatus, reason, allow, deny, teapot, wire = res
        self.assertEqual(plain[0], 200)
        self.assertEqual(dict(plain[1]).get("x-fe"), "fe-200")
        self.assertEqual(dict(plain[1]).get("x-be"), "be-none")
        self.assertNotIn("x-secret", dict(plain[1]))
        self.assertEqual([v for k, v in cookie[1] if k == "set-cookie"], ["a=1; Path=/", "b=2"])
        self.assertEqual(dict(lst[1]).get("x-list"), "a,B1, c,B2")  # haproxy keeps the separators of untouched elements only
        self.assertEqual(restatus[0], 299)
        self.assertEqual(reason[0], 298)
        self.assertNotIn("x-after-allow", dict(allow[1]))
        self.assertEqual(dict(allow[1]).get("x-fe"), "fe-200")  # allow ends the backend's rules only
        self.assertEqual(deny[0], 502)
        self.assertTrue(deny[3], "haproxy keeps the client connection after a denied response")
        self.assertEqual(teapot[0], 500)
        self.assertIn(b"HTTP/1.1 200 OK\r\n", wire)


class TestHttpRequestDeny(ParityCase):
    def test_deny_and_allow(self):
        def cfg(p, b):
            return DEFAULTS + f"""frontend f
    bind 127.0.0.1:{p}
    http-request allow if {{ path_beg /open }}
    http-request deny deny_status 429 if {{ path_beg /limit }}
    http-request deny if {{ hdr(x-bad) yes }}
    http-request set-header X-Seen fe
    default_backend b
backend b
    http-request deny deny_status 404 if {{ path_beg /open/hidden }}
    server s1 {b[0].addr}
"""

        def scenario(port, backends):
            out = [exchange(port, p, extra) for p, extra in (
                ("/x", ""), ("/limit", ""), ("/x", "X-Bad: yes\r\n"), ("/open/x", "X-Bad: yes\r\n"),
                ("/open/hidden", ""))]
            out.append(raw(port, b"GET /limit HTTP/1.0\r\n\r\n"))
            out.append(len(backends[0].requests))
            out.append([b"x-seen: fe" in r for r in backends[0].requests])
            return out

        res = self.assert_same(self.run_both(cfg, scenario))
        self.assertEqual([r[0] for r in res[:5]], [200, 429, 403, 200, 404])
        self.assertTrue(all(r[3] for r in res[:5]), "a deny keeps an HTTP/1.1 connection")
        self.assertEqual(res[7], [True, False])  # allow skips the frontend's later rules


class TestRedirect(ParityCase):
    """`redirect` and `http-request redirect`: haproxy's exact answer bytes,
    and whether the connection stays open."""

    def test_redirects(self):
        def cfg(p, b):
            return DEFAULTS + f"""frontend f
    bind 127.0.0.1:{p}
    http-request redirect prefix http://x.example code 303 append-slash if {{ path_beg /q }}
    http-request redirect location http://h/%[src] code 307 if {{ path_beg /fmt }}
    http-request set-header X-Seen yes
    redirect scheme https code 301 if {{ path_beg /s }}
    redirect location /new if {{ path_beg /loc }}
    redirect prefix /pre code 308 drop-query if {{ path_beg /p }}
    redirect prefix / drop-query if {{ path_beg /root }}
    default_backend b
backend b
    redirect location /from-backend if {{ path_beg /b }}
    server s1 {b[0].addr}
"""

        reqs = [b"GET /s/a?b=1 HTTP/1.1\r\nHost: ex.com\r\n\r\n",
                b"GET /s HTTP/1.1\r\n\r\n",
                b"GET /loc HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /p/x?y=2 HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /q/x?z HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /q/x/ HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /fmt HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /s HTTP/1.0\r\nHost: a\r\n\r\n",
                b"HEAD /loc HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /s/x HTTP/1.1\r\nHost: ex.com:8080\r\n\r\n",
                b"GET /root/r?q HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET http://ex.com/s/abs?x HTTP/1.1\r\nHost: ex.com\r\n\r\n",
                b"GET /b/x HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /other HTTP/1.1\r\nHost: a\r\n\r\n"]

        def scenario(port, backends):
            out = []
            for r in reqs:
                s = socket.create_connection(("127.0.0.1", port), timeout=3)
                s.sendall(r)
                data, closed = b"", False
                s.settimeout(0.5)
                try:
                    while b"\r\n\r\n" not in data or (r.startswith(b"GET /other") and
                                                         not data.endswith(b"\r\n\r\n")
                                                         and len(data) < 200):
                        d = s.recv(65536)
                        if not d:
                            closed = True
                            break
                        data += d
                    if not closed:
                        closed = s.recv(1) == b""
                except socket.timeout:
                    pass
                s.close()
                out.append((data.split(b"\r\n\r\n", 1)[0], closed))
            return out

        res = self.assert_same(self.run_both(cfg, scenario))
        self.assertEqual(res[0][0], b"HTTP/1.1 301 Moved Permanently\r\ncontent-length: 0\r\n"
                                    b"location: https://ex.com/s/a?b=1")
        self.assertEqual(res[7], (b"HTTP/1.1 301 Moved Permanently\r\ncontent-length: 0\r\n"
                                  b"location: https://a/s\r\nconnection: close", True))
        self.assertFalse(res[2][1])
        self.assertTrue(res[13][0].startswith(b"HTTP/1.1 200"))


class TestDeclareCapture(unittest.TestCase):
    """`declare capture`: the slots show in the httplog line as haproxy's."""

    def test_capture_blocks_in_httplog(self):
        import re
        import time
        from harness import LB, Backend, free_port, have_haproxy
        if not have_haproxy():
            self.skipTest("haproxy is not installed")
        tails = {}
        for engine in ("haproxy", "herd"):
            port, b = free_port(), Backend("s1")
            cfg = f"""
global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend f
    bind 127.0.0.1:{port}
    declare capture request len 10
    declare capture request len 5
    declare capture response len 7
    default_backend b
backend b
    server s1 {b.addr}
"""
            lb = LB(cfg, engine=engine, wait_ports=[port])
            try:
                exchange(port, "/x")
                time.sleep(0.5)
                line = [ln for ln in lb.output().splitlines() if '"GET /x' in ln][0]
                tails[engine] = re.sub(r"^.* (\S+ \S+ \{)", r"\1", line)
            finally:
                lb.stop()
                b.close()
        self.assertEqual(tails["herd"], tails["haproxy"])
        self.assertEqual(tails["herd"], '0/0 {|} {} "GET /x HTTP/1.1"')  # queues, captures


class TestDeclareMessages(unittest.TestCase):
    def test_declare_errors_as_haproxy(self):
        from harness import HAPROXY_BIN, HERD_BIN, check_diagnostics, have_haproxy
        if not have_haproxy():
            self.skipTest("haproxy is not installed")
        for line in ("declare", "declare foo", "declare capture", "declare capture request",
                     "declare capture request len", "declare capture request len x",
                     "declare capture request len 0", "declare capture response len 5 x"):
            text = ("defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n"
                    "  timeout connect 1s\nfrontend a\n  bind 127.0.0.1:1\n  " + line +
                    "\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n")
            outs = [check_diagnostics(b, text) for b in (HAPROXY_BIN, HERD_BIN)]
            self.assertEqual(outs[1], outs[0], line)


class TestPhaseWarnings(unittest.TestCase):
    """`-c` warnings for ACLs that cannot match in a rule's phase, as haproxy's."""

    def test_warnings(self):
        import os
        import subprocess
        import tempfile
        from harness import HAPROXY_BIN, HERD_BIN, have_haproxy
        if not have_haproxy():
            self.skipTest("haproxy is not installed")
        text = """defaults
  mode http
  timeout client 5s
  timeout server 5s
  timeout connect 5s
listen f
  bind 127.0.0.1:1
  acl p path_beg /x
  acl p status 200
  acl q path_beg /y
  http-response set-header X-A 1 if { path_beg /a }
  http-request set-header X-B 1 if { status 200 }
  http-request set-header X-C 1 if p
  http-response set-header X-C 1 if q
  http-response set-header X-D 1 if { ssl_fc } { res.hdr(x) -i a } { shdr(x) b }
  server s 127.0.0.1:2
"""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "w.cfg")
            with open(path, "w") as f:
                f.write(text)

            def warnings(binary):
                r = subprocess.run([binary, "-c", "-f", path], capture_output=True, text=True,
                                   timeout=30)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                return [ln.split(" : ", 1)[1] for ln in (r.stdout + r.stderr).splitlines()
                        if "[WARNING]" in ln]

            want = warnings(HAPROXY_BIN)
            self.assertEqual(len(want), 4)
            self.assertEqual(warnings(HERD_BIN), want)


if __name__ == "__main__":
    unittest.main()
