"""`-d` (debug mode), run on haproxy 2.6 and herd with the same config: the
per-stream trace lines on stderr (accept, clireq/clihdr, srvrep/srvhdr,
srvcls/clicls/closed) have haproxy's shapes, in haproxy's order, for HTTP
keep-alive and for TCP streams. Stream ids, file descriptors, ports and dates
are each engine's own, so they are masked before the comparison; the rest of
every line must be the same."""
import re
import socket
import time
import unittest

from harness import LB, Backend, free_port, have_haproxy, raw, read_head, wait_port

CFG = """defaults
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend web
    mode http
    bind 127.0.0.1:{http}
    default_backend app
backend app
    mode http
    server s1 {srv}
listen raw
    mode tcp
    bind 127.0.0.1:{tcp}
    server s1 {srv}
"""

TRACE = re.compile(r"^([0-9a-f]{8}):(.*)$")


def masked(text):
    """The trace lines of `text`, each stream's id replaced by its rank
    (0, 1, ...), fds by F (none stays ffff/ffffffff), the peer's port by P and
    date values by D."""
    ids, out = {}, []
    for ln in text.splitlines():
        m = TRACE.match(ln)
        if not m:
            continue
        sid = ids.setdefault(m.group(1), len(ids))
        rest = m.group(2)
        rest = re.sub(r"\((?:[0-9a-f]{4})\)=[0-9a-f]{4}", "(F)=F", rest)
        rest = re.sub(r"\[([0-9a-f]+):([0-9a-f]+)\]",
                      lambda g: "[%s:%s]" % tuple("F" if x.strip("f") else x for x in g.groups()),
                      rest)
        rest = re.sub(r"from \[127\.0\.0\.1:\d+\]", "from [127.0.0.1:P]", rest)
        rest = re.sub(r"(hdr\[[^]]*\]: date: ).*", r"\1D", rest)
        out.append(f"{sid}:{rest}")
    return out


def exchange(port, requests):
    """Sends each request on one connection, reading the response before the
    next; returns the status lines."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    statuses, buf = [], b""
    try:
        for req in requests:
            s.sendall(req)
            head, buf = read_head(s, buf)
            n = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            while len(buf) < n:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
            buf = buf[n:]
            statuses.append(head.split(b"\r\n", 1)[0])
    finally:
        s.close()
    return statuses


@unittest.skipUnless(have_haproxy(), "haproxy is not installed")
def server_close_after_response(lines):
    """The trace with each srvcls that comes before its stream's srvrep moved
    after that response's srvrep/srvhdr lines. A server that closes after
    its response: haproxy writes srvcls first when the server's FIN is there
    as it parses the response, after it when the FIN comes a moment later
    (both seen on the same machine); herd writes it first."""
    out = list(lines)
    i = 0
    while i < len(out):
        sid, _, rest = out[i].partition(":")
        later = [j for j in range(i + 1, len(out))
                 if out[j].startswith(sid + ":") and ".srvrep[" in out[j]]
        if ".srvcls[" not in rest or not later:
            i += 1
            continue
        j = later[0]
        while j + 1 < len(out) and out[j + 1].startswith(sid + ":") and ".srvhdr[" in out[j + 1]:
            j += 1
        out.insert(j, out.pop(i))  # (after the pop, index j is past the last srvhdr)
    return out
    return out


class TestDebugMode(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.srv = Backend("s1")
        self.addCleanup(self.srv.close)

    def trace(self, engine, drive):
        http, tcp = free_port(), free_port()
        lb = LB(CFG.format(http=http, tcp=tcp, srv=self.srv.addr), engine=engine, args=("-d",))
        try:
            for p in (http, tcp):
                wait_port(p)
            time.sleep(0.3)  # the readiness probes' streams end before ours start
            before = len(masked(lb.output()))
            drive(http, tcp)
            time.sleep(0.5)  # the closing lines follow the last byte
            out = masked(lb.output())
            # Renumber from our first stream: the probes' streams came before.
            first = int(out[before].split(":", 1)[0]) if len(out) > before else 0
            return [f"{int(l.split(':', 1)[0]) - first}:{l.split(':', 1)[1]}"
                    for l in out[before:]]
        finally:
            lb.stop()

    def both(self, drive, expect_lines=True):
        res = {e: self.trace(e, drive) for e in ("haproxy", "herd")}
        if expect_lines:
            self.assertTrue(res["haproxy"], "haproxy printed no trace line")
        self.assertEqual(server_close_after_response(res["herd"]),
                         server_close_after_response(res["haproxy"]))
        return res["herd"]

    def test_http_keep_alive_streams(self):
        def drive(http, _):
            st = exchange(http, [
                b"GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nConnection: keep-alive, x-foo\r\n\r\n",
                b"GET /b?st=404 HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /c?close=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            ])
            self.assertEqual(st, [b"HTTP/1.1 200 OK", b"HTTP/1.1 404 Status", b"HTTP/1.1 200 OK"])
        lines = self.both(drive)
        self.assertIn("0:web.clireq[F:ffffffff]: GET /a HTTP/1.1", lines)
        self.assertIn("0:web.clihdr[F:ffffffff]: connection: x-foo", lines)
        self.assertIn("1:app.srvrep[F:F]: HTTP/1.1 404 Status", lines)
        # The server that closes: its srvcls before the response.
        self.assertEqual([l for l in lines if l.startswith("2:") and "cls" in l],
                         ["2:app.srvcls[F:F]", "2:app.clicls[F:F]"])

    def test_tcp_stream_closed_by_the_client(self):
        def drive(_, tcp):
            s = socket.create_connection(("127.0.0.1", tcp), timeout=5)
            s.sendall(b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n")
            head, _ = read_head(s, b"")
            self.assertTrue(head.startswith(b"HTTP/1.1 200"))
            s.close()
        lines = self.both(drive)
        self.assertEqual(lines[0], "0:raw.accept(F)=F from [127.0.0.1:P] ALPN=<none>")
        # The client's shutdown is forwarded to the server, whose side closes first.
        self.assertEqual(lines[1:], ["0:raw.srvcls[F:ffff]", "0:raw.clicls[ffff:ffff]",
                                     "0:raw.closed[ffff:ffff]"])

    def test_tcp_stream_closed_by_the_server(self):
        def drive(_, tcp):
            data = raw(tcp, b"GET /t?close=1 HTTP/1.1\r\nHost: x\r\n\r\n", until_close=True)
            self.assertTrue(data.startswith(b"HTTP/1.1 200"))
        lines = self.both(drive)
        self.assertEqual(lines[1:], ["0:raw.clicls[ffff:F]", "0:raw.srvcls[ffff:ffff]",
                                     "0:raw.closed[ffff:ffff]"])

    def test_bad_request_prints_no_stream(self):
        def drive(http, _):
            s = socket.create_connection(("127.0.0.1", http), timeout=5)
            s.sendall(b"garbage\r\n\r\n")
            s.recv(4096)
            s.close()
        self.assertEqual(self.both(drive, expect_lines=False), [])


if __name__ == "__main__":
    unittest.main()
