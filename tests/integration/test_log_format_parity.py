"""log-format, unique-id-format/unique-id-header, set-var/var() and the
predefined ACLs (HTTP_1.0, HTTP_1.1, HTTP_2.0), each scenario run against
haproxy 2.6 and herd with the same config (test_proxy_parity.ParityCase):
the syslog lines both send must be byte-identical once the fields that
differ run to run (dates, client and server ports, pid, times) are masked,
and what the server receives must be the same."""
import re
import socket
import time
import unittest

from harness import check_diagnostics, raw
from test_proxy_parity import ParityCase

import harness


class LogCase(ParityCase):
    def syslog(self):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(0.4)
        self.addCleanup(udp.close)
        return udp

    @staticmethod
    def drain(udp):
        out = []
        try:
            while True:
                line = udp.recv(65536).decode()
                out.append(re.sub(r"^<\d+>.*?\]: ", "", line).rstrip("\n"))
        except socket.timeout:
            return out

    def cfg(self, udp, frontend, mode="http", backend=""):
        def make(p, b):
            return f"""
global
    log 127.0.0.1:{udp.getsockname()[1]} local0
defaults
    mode {mode}
    log global
    timeout connect 1s
    timeout client 2s
    timeout server 2s
frontend fe
    bind 127.0.0.1:{p}
{frontend}
    default_backend be
backend be
{backend}
    server s1 {b[0].addr}
"""
        return make

    def run_requests(self, udp, requests, masks=()):
        def scenario(port, backends):
            time.sleep(0.2)
            self.drain(udp)  # the start-up probe's line
            for req in requests:
                raw(port, req, timeout=2)
                time.sleep(0.05)
            lines = self.drain(udp)
            for pat, rep in masks:
                lines = [re.sub(pat, rep, ln) for ln in lines]
            seen = [h.decode(errors="replace") for h in backends[0].requests]
            return lines, seen
        return scenario


# What differs run to run: the client port, dates, the backend's port.
CLIENT_PORT = (r"127\.0\.0\.1:\d+", "127.0.0.1:P")
DATE = (r"\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}", "DATE")

REQUESTS = [
    b"GET /a/b?x=1&y=%22q%22 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"HEAD /head HTTP/1.0\r\nHost: h\r\n\r\n",
    b"POST /post HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    b"GET http://h/abs/p?q HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /deny HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /quote\"# HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"NOT A REQUEST\r\n\r\n",
]


class TestLogFormat(LogCase):
    def test_http_variables_match_haproxy(self):
        udp = self.syslog()
        # (%B, %U, %bc and %sc: see test_byte_counts_are_wire_bytes)
        fmt = (r'log-format "%ci %{+Q}r %HM %HU %HP %HPO %HQ %HV %ST %tsc %ts '
               r'%ac/%fc/%rc %sq/%bq %b %s %f %ft %{+Q}b %{+Q}CC %CS %hr %hs %ID '
               r'[%[var(txn.nope)]] %{+Q}[var(txn.nope)] %[src] %[dst_port] %%\ x\  y '
               r'%fi:%fp %{+X}fi %{+X}ci %si %bi %{+Q,+E}HU %{+Q}o %f %{-Q}b %s"')
        fe = f"    {fmt}\n    http-request deny if {{ path_beg /deny }}"
        res = self.run_both(self.cfg(udp, fe), self.run_requests(udp, REQUESTS, [CLIENT_PORT]))
        lines, _ = self.assert_same(res)
        self.assertEqual(len(lines), len(REQUESTS), lines)
        self.assertIn('"GET /a/b?x=1&y=%22q%22 HTTP/1.1" GET /a/b?x=1&y=%22q%22 /a/b /a/b ?x=1&y=%22q%22 '
                      'HTTP/1.1 200 ', lines[0])
        self.assertIn(" - - [-] \"\" 127.0.0.1 ", lines[0])
        self.assertIn(" % x y ", lines[0])
        self.assertIn("403", lines[4])
        self.assertIn('"<BADREQ>" <BADREQ>', lines[5])  # both refuse '"' in a target

    def test_timers_and_dates_have_haproxy_layout(self):
        """Times differ run to run: compared is their layout (a -1 where
        haproxy has one), the dates' format, %Ts against %{+X}Ts, %pid."""
        udp = self.syslog()
        fe = (r'    log-format "[%t] [%tr] %Th/%Ti/%TR/%Tq/%Tw/%Tc/%Tr/%Ta/%Tt/%Tu/%Td %ms %Ts '
              r'%{+X}Ts %{+X}pid %T"')

        def shape(line):
            m = re.match(r"\[(.+)\] \[(.+)\] (\S+) (\d{3}) (\d+) ([0-9A-F]+) ([0-9A-F]+) (.+)$", line)
            self.assertIsNotNone(m, line)
            t, tr, times, ms, ts, xts, pid, gmt = m.groups()
            self.assertEqual(int(ts), int(xts, 16))
            self.assertLess(abs(int(ts) - time.time()), 30)
            self.assertEqual(t[-3:], ms)  # %ms: the accept date's milliseconds
            date = r"\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d"
            return (bool(re.fullmatch(date + r"\.\d{3}", t)), bool(re.fullmatch(date + r"\.\d{3}", tr)),
                    re.sub(r"\b(?<!-)\d+", "N", times), bool(re.fullmatch(date + r" \+0000", gmt)))

        def scenario(port, backends):
            lines, _ = self.run_requests(udp, REQUESTS[:2])(port, backends)
            return [shape(ln) for ln in lines]
        got = self.assert_same(self.run_both(self.cfg(udp, fe), scenario))
        self.assertEqual(got[0], (True, True, "N/N/N/N/N/N/N/N/N/N/N", True))

    def test_httplog_equivalent_matches_option_httplog(self):
        """The httplog layout written as a log-format gives the same line
        as `option httplog` (haproxy defines httplog so)."""
        udp = self.syslog()
        fmt = (r'    log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc '
               r'%ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r"')
        times = (r"(-?\d+/){4}-?\d+", "T/T/T/T/T")
        # %B and the connection counts: see test_byte_counts_are_wire_bytes
        counts = (r" (\d+) - - (\S+) (\d+)/(\d+)/\d+/\d+/", r" B - - \2 \3/\4/bc/sc/")
        masks = [CLIENT_PORT, DATE, counts, times]
        both = []
        for fe in (fmt, "    option httplog"):
            res = self.run_both(self.cfg(udp, fe), self.run_requests(udp, REQUESTS, masks))
            both.append(self.assert_same(res)[0])
        self.assertEqual(both[0], both[1])

    def test_byte_counts_are_wire_bytes(self):
        """herd's %U and %B count the bytes on the wire (haproxy 2.6 counts
        its internal HTX sizes in HTTP mode: fewer); %bc and %sc are read
        at log time, when herd still counts the request."""
        udp = self.syslog()
        fe = r'    log-format "%ST %B %U"'
        lines, _ = self.run_requests(udp, [REQUESTS[2]])(*self.start_herd(udp, fe))
        status, out, up = lines[0].split()
        self.assertEqual((status, int(up)), ("200", len(REQUESTS[2])))
        self.assertGreater(int(out), len(REQUESTS[2]))  # the echo of the request head and more

    def start_herd(self, udp, fe):
        backends = [harness.Backend("s1")]
        port = harness.free_port()
        lb = harness.LB(self.cfg(udp, fe)(port, backends), engine="herd", wait_ports=[port])
        self.addCleanup(lambda: (lb.stop(), backends[0].close()))
        return port, backends

    def test_tcp_mode(self):
        udp = self.syslog()
        fe = (r'    log-format "%ci %ft %b/%s %Tw/%Tc %B %U %ts %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq '
              r'%[src] %ID %fi %{+Q}f"')
        scen = self.run_requests(udp, REQUESTS[:1], [CLIENT_PORT, (r" \d+/\d+ ", " N/N ")])
        res = self.run_both(self.cfg(udp, fe, mode="tcp"), scen)
        lines, _ = self.assert_same(res)
        self.assertEqual(len(lines), 1, lines)
        self.assertIn(" -- ---- ", lines[0])

    def test_unique_id_header_and_id(self):
        udp = self.syslog()
        fe = (r"    unique-id-format %{+X}o\ %ci_%fp_%[var(txn.a)]_%{+Q}[src]" "\n"
              r"    unique-id-header X-Unique-ID" "\n"
              r"    http-request set-var(txn.a) str(v)" "\n"
              r'    log-format "%ID %{+Q}ID %[unique-id]"')
        res = self.run_both(self.cfg(udp, fe), self.run_requests(udp, REQUESTS[:3]))
        lines, seen = self.assert_same(res)
        self.assertEqual(len(lines), 3)
        self.assertTrue(lines[0].startswith('7F000001_'), lines)
        self.assertTrue(all("x-unique-id: 7F000001_" in h for h in seen), seen)

    def test_request_counter_in_unique_id(self):
        udp = self.syslog()
        fe = r'    unique-id-format %rt' "\n" r'    log-format "%rt %ID"'
        requests = self.run_requests(udp, REQUESTS[:3])

        def scenario(port, backends):
            # Counted from the first request: the engines' start-up probes
            # (herd's reference mode makes one more) took earlier values.
            lines, _ = requests(port, backends)
            base = int(lines[0].split()[0])
            return [[int(x) - base for x in ln.split()] for ln in lines]
        got = self.assert_same(self.run_both(self.cfg(udp, fe), scenario))
        self.assertEqual(got, [[0, 0], [1, 1], [2, 2]])


class TestVariables(LogCase):
    def test_set_var_conditions_and_log(self):
        udp = self.syslog()
        fe = "\n".join([
            "    http-request set-var(txn.host) req.hdr(host)",
            "    http-request set-var(txn.n) int(3)",
            "    http-request set-var-fmt(txn.f) %[src]-%[var(txn.host)]",
            "    http-request unset-var(txn.host) if { path_beg /unset }",
            "    http-request deny deny_status 429 if { var(txn.n) -m int gt 2 } { path_beg /deny }",
            "    http-request deny deny_status 410 if { var(txn.host) -m str other }",
            "    http-request set-header X-F %[var(txn.f)]",
            "    http-request redirect location /to/%[var(txn.host)] if { var(txn.n) -m int 3 } { path /r }",
            "    http-response set-var(res.s) status",
            "    http-response set-header X-S %[var(res.s)]",
            '    log-format "%ST %[var(txn.host)] %[var(txn.n)] %[var(txn.f)] %[var(res.s)] %{+Q}[var(sess.none)]"',
        ])
        reqs = [b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                b"GET /unset HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                b"GET /deny HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n",
                b"GET /r HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"]
        res = self.run_both(self.cfg(udp, fe), self.run_requests(udp, reqs))
        lines, seen = self.assert_same(res)
        self.assertEqual(lines[0], '200 h 3 127.0.0.1-h 200 ""')
        self.assertEqual(lines[2].split()[0], "429")
        self.assertEqual(lines[3].split()[0], "410")
        self.assertEqual(lines[4].split()[0], "302")
        self.assertIn("x-f: 127.0.0.1-h", seen[0])

    def test_predefined_http_version_acls(self):
        udp = self.syslog()
        fe = "\n".join([
            "    http-request deny deny_status 403 if HTTP_2.0",
            "    http-request deny deny_status 401 if HTTP_1.1",
            "    http-request deny deny_status 429 if HTTP_1.0",
            '    log-format "%ST %HV"',
        ])
        reqs = [b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", b"GET / HTTP/1.0\r\nHost: h\r\n\r\n",
                b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"]
        res = self.run_both(self.cfg(udp, fe), self.run_requests(udp, reqs))
        lines, _ = self.assert_same(res)
        self.assertEqual(lines[:3], ["401 HTTP/1.1", "429 HTTP/1.0", "403 HTTP/2.0"])


class TestDiagnostics(unittest.TestCase):
    CFG = """
defaults
    mode http
    timeout client 1s
    timeout server 1s
    timeout connect 1s
frontend a
    bind 127.0.0.1:1
{lines}
    default_backend b
backend b
    server s 127.0.0.1:9
"""

    @unittest.skipUnless(harness.have_haproxy(), "haproxy not installed")
    def test_errors_as_haproxy(self):
        cases = [
            "    log-format",
            "    log-format %ci %b",
            "    unique-id-format",
            "    unique-id-header",
            '    log-format "%Z"',
            '    log-format "%{+Q"',
            '    log-format "%[src"',
            '    log-format "%[var(x)]"',
            "    mode tcp\n    log-format %r",
            "    acl a var(txn.x) foo",
            "    http-request set-var(y) str(abc)",
        ]
        for lines in cases:
            text = self.CFG.format(lines=lines)
            want = check_diagnostics(harness.HAPROXY_BIN, text)
            got = check_diagnostics(harness.HERD_BIN, text)
            self.assertEqual(got[0] != 0, want[0] != 0, lines)
            self.assertEqual(got[1][:1], want[1][:1], lines)


class TestLogHealthChecks(unittest.TestCase):
    """option log-health-checks: a line per result that moves the health
    counter ("status: 2/3 UP"), and the state change lines without the
    reason, as haproxy 2.6 logs them."""

    def run_engine(self, engine):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(0.3)
        self.addCleanup(udp.close)
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(50)
        up_port = srv.getsockname()[1]
        dead = harness.free_port()
        port = harness.free_port()
        cfg = f"""
global
    log 127.0.0.1:{udp.getsockname()[1]} local0
defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 1s
    timeout server 1s
listen be
    bind 127.0.0.1:{port}
    option log-health-checks
    server up 127.0.0.1:{up_port} check inter 200 rise 2 fall 3
    server down 127.0.0.1:{dead} check inter 200 rise 2 fall 3
"""
        lines = []

        def drain():
            try:
                while True:
                    ln = udp.recv(9999).decode()
                    ln = re.sub(r"^<(\d+)>.*?\]: ", r"<\1>", ln).rstrip("\n")
                    if "Connect from" not in ln:  # haproxy's line without a log format
                        lines.append(re.sub(r"duration: \d+ms", "duration: Nms", ln))
            except socket.timeout:
                pass
        lb = harness.LB(cfg, engine=engine, wait_ports=[port])
        try:
            time.sleep(1.2)
            drain()
            srv.close()
            time.sleep(1.5)
            drain()
            srv = socket.socket()
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("127.0.0.1", up_port))
            srv.listen(50)
            time.sleep(2.5)
            drain()
        finally:
            lb.stop()
            srv.close()
        return lines

    @unittest.skipUnless(harness.have_haproxy(), "haproxy not installed")
    def test_lines_match_haproxy(self):
        want = self.run_engine("haproxy")
        got = self.run_engine("herd")
        self.assertEqual(got, want)
        self.assertIn("<133>Health check for server be/up failed, reason: Layer4 connection "
                      "problem, info: \"Connection refused\", check duration: Nms, status: 2/3 UP.",
                      want)


if __name__ == "__main__":
    unittest.main()
