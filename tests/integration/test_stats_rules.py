"""`stats scope` and `stats http-request allow|deny|auth` against haproxy 2.6.

The configuration is tests/configs/census/04-haproxy-auth.cfg's stats
backend brought to loopback: a frontend routes Host "stats.local" to a
backend whose stats page lists only the proxies named by `stats scope`, and
whose `stats http-request` rules deny "guests" (a request header here), let
"nagios" (the client address 127.0.0.9) in without a password, let users of
a userlist group in, and ask everyone else for a password (realm "Stats").
A listen section with `stats scope .` and an auth rule without a realm
(haproxy's default stats realm) covers the rest. Each engine answers the
same requests; the status line, the WWW-Authenticate field and the proxies
the CSV lists must be the same. `herd -c` gives haproxy's messages for the
forms haproxy refuses.
"""
import re
import socket
import time
import unittest

from harness import (HAPROXY_BIN, HERD_BIN, LB, Backend, check_diagnostics, free_port,
                     have_haproxy, parse_headers, read_body, read_head)

# Basic credentials: tiger:dog (groups adm, dev), scott:cat (dev), peter:peter.
TIGER = "Basic dGlnZXI6ZG9n"
SCOTT = "Basic c2NvdHQ6Y2F0"
PETER = "Basic cGV0ZXI6cGV0ZXI="


def config(p1, p2, backend):
    return f"""global
    log stdout format raw local0

defaults
    log global
    option httplog
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s

userlist customer1
    group adm users tiger
    group dev users scott,tiger
    user scott insecure-password cat
    user tiger insecure-password dog

userlist customer2
    user peter insecure-password peter

frontend c1
    bind 127.0.0.1:{p1}
    acl host_stats hdr_beg(host) -i stats.local
    use_backend c1stats if host_stats
    default_backend c1dev

backend c1dev
    server s1 {backend}

backend c1stats
    acl nagios src 127.0.0.9
    acl guests hdr(x-guest) 1
    acl auth_ok http_auth_group(customer1) adm
    stats enable
    stats refresh 60
    stats uri /
    stats scope c1
    stats scope c1stats
    stats http-request deny if guests
    stats http-request allow if nagios
    stats http-request allow if auth_ok
    stats http-request auth realm Stats

listen c2
    bind 127.0.0.1:{p2}
    stats enable
    stats uri /st
    stats scope .
    stats http-request auth unless {{ http_auth(customer2) }}
    server s1 {backend}
"""


def request(port, path, headers=(), src="127.0.0.1"):
    """(status line, www-authenticate or None, proxies the CSV lists or None)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(src, 0))
    try:
        h = "".join(f"{k}: {v}\r\n" for k, v in headers)
        s.sendall(f"GET {path} HTTP/1.1\r\n{h}connection: close\r\n\r\n".encode())
        head, rest = read_head(s)
        line, hdrs = parse_headers(head)
        body, _ = read_body(s, hdrs, rest)
    finally:
        s.close()
    d = dict(hdrs)
    pxs = None
    if line.split(" ")[1] == "200" and ";csv" in path:
        pxs = sorted({(r.split(",")[0], r.split(",")[1])
                      for r in body.decode().splitlines()[1:] if r})
    elif line.split(" ")[1] == "200" and "text/html" in d.get("content-type", ""):
        pxs = sorted(set(re.findall(r'<a name="([^"/]+)"></a>', body.decode())))
    return line, d.get("www-authenticate"), pxs


class StatsRules(unittest.TestCase):
    CASES = [
        ("no credentials", 1, "/;csv", [("host", "stats.local")], "127.0.0.1"),
        ("guest", 1, "/;csv", [("host", "stats.local"), ("x-guest", "1")], "127.0.0.1"),
        ("guest from nagios", 1, "/;csv", [("host", "stats.local"), ("x-guest", "1")],
         "127.0.0.9"),
        ("nagios", 1, "/;csv", [("host", "stats.local")], "127.0.0.9"),
        ("adm user", 1, "/;csv", [("host", "stats.local"), ("authorization", TIGER)],
         "127.0.0.1"),
        ("user not in adm", 1, "/;csv", [("host", "stats.local"), ("authorization", SCOTT)],
         "127.0.0.1"),
        ("adm user, html", 1, "/", [("host", "stats.local"), ("authorization", TIGER)],
         "127.0.0.1"),
        ("not the stats host", 1, "/", [("host", "dev.local")], "127.0.0.1"),
        ("listen, no credentials", 2, "/st;csv", [("host", "x")], "127.0.0.1"),
        ("listen, user", 2, "/st;csv", [("host", "x"), ("authorization", PETER)], "127.0.0.1"),
        # `;scope=` narrows further: a case-insensitive part of the name.
        ("url scope", 1, "/;csv;scope=STATS", [("host", "stats.local"), ("authorization", TIGER)],
         "127.0.0.1"),
        ("url scope, out of stats scope", 1, "/;csv;scope=dev",
         [("host", "stats.local"), ("authorization", TIGER)], "127.0.0.1"),
    ]

    def observe(self, engine):
        be = Backend("srv")
        p1, p2 = free_port(), free_port()
        lb = LB(config(p1, p2, be.addr), engine=engine, wait_ports=[p1, p2])
        out = {}
        try:
            for name, which, path, headers, src in self.CASES:
                out[name] = request(p1 if which == 1 else p2, path, headers, src)
            # The log lines' backend/server and termination state (haproxy
            # logs 400 as the status of a denied or challenged stats request
            # and counts its bytes differently: not compared).
            deadline = time.time() + 5
            while time.time() < deadline and lb.output().count('"GET ') < len(self.CASES):
                time.sleep(0.05)
            # (sorted: herd's worker threads may write two lines out of order)
            out["logs"] = sorted((f[3], f[9]) for f in
                                 (ln.split() for ln in lb.output().splitlines() if '"GET ' in ln))
        finally:
            lb.stop()
            be.sock.close()
        return out

    def test_herd(self):
        o = self.observe("herd")
        self.assertEqual(o["no credentials"][:2], ("HTTP/1.1 401 Unauthorized",
                                                   'Basic realm="Stats"'))
        self.assertEqual(o["guest"][0], "HTTP/1.1 403 Forbidden")
        self.assertEqual(o["guest from nagios"][0], "HTTP/1.1 403 Forbidden")  # deny first
        scoped = [("c1", "FRONTEND"), ("c1stats", "BACKEND")]
        self.assertEqual(o["nagios"], ("HTTP/1.1 200 OK", None, scoped))
        self.assertEqual(o["adm user"], ("HTTP/1.1 200 OK", None, scoped))
        self.assertEqual(o["adm user, html"], ("HTTP/1.1 200 OK", None, ["c1", "c1stats"]))
        self.assertEqual(o["user not in adm"][0], "HTTP/1.1 401 Unauthorized")
        self.assertEqual(o["not the stats host"][0], "HTTP/1.1 200 OK")
        self.assertEqual(o["listen, no credentials"][:2],
                         ("HTTP/1.1 401 Unauthorized", 'Basic realm="HAProxy Statistics"'))
        self.assertEqual(o["url scope"], ("HTTP/1.1 200 OK", None, [("c1stats", "BACKEND")]))
        self.assertEqual(o["url scope, out of stats scope"], ("HTTP/1.1 200 OK", None, []))
        # 401 and 200 answers LR--, the two denies PR--, all with <STATS>.
        self.assertEqual(o["logs"].count(("c1stats/<STATS>", "PR--")), 2)
        self.assertEqual(o["logs"].count(("c1stats/<STATS>", "LR--")), 7)
        self.assertEqual(o["listen, user"],
                         ("HTTP/1.1 200 OK", None,
                          [("c2", "BACKEND"), ("c2", "FRONTEND"), ("c2", "s1")]))

    @unittest.skipUnless(have_haproxy(), "haproxy is not installed")
    def test_parity_with_haproxy(self):
        self.assertEqual(self.observe("herd"), self.observe("haproxy"))


BASE = """defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend f
    bind 127.0.0.1:{port}
    stats enable
"""


@unittest.skipUnless(have_haproxy(), "haproxy is not installed")
class StatsRulesCheck(unittest.TestCase):
    """`-c` on the forms haproxy refuses or warns about: same exit status,
    same alerts and warnings."""

    FORMS = [
        "stats scope",
        "stats http-request",
        "stats http-request auth realm",
        "stats http-request deny foo",
        "stats http-request bogus",
        "stats http-request deny deny_status 500",
        "stats http-request deny\n    stats http-request allow",
        "stats http-request allow if { src 10.0.0.1 }\n    stats auth a:b",
        "stats realm R\n    stats http-request deny",
    ]

    def test_messages_as_haproxy(self):
        for form in self.FORMS:
            text = BASE.format(port=free_port()) + f"    {form}\n"
            with self.subTest(form=form):
                self.assertEqual(check_diagnostics(HERD_BIN, text),
                                 check_diagnostics(HAPROXY_BIN, text))

    def test_not_in_defaults(self):
        text = BASE.format(port=free_port()).replace(
            "frontend f", "    stats http-request deny\nfrontend f", 1)
        self.assertEqual(check_diagnostics(HERD_BIN, text), check_diagnostics(HAPROXY_BIN, text))


if __name__ == "__main__":
    unittest.main()
