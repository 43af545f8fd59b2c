"""`server ... send-proxy` / `send-proxy-v2` (issue 17): the PROXY protocol
header a server receives before the client's bytes, in `mode tcp` and `mode
http`, compared byte for byte with haproxy 2.6 on the same config (the
client's source port, which differs between runs, is masked)."""
import os
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import HERD_BIN, LB, free_port, have_haproxy


class Recorder:
    """Records the first bytes of each connection (until a 0.3 s pause) and
    answers an HTTP 200 (or 'ok' to a non-HTTP client), then closes."""

    def __init__(self):
        self.got = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            data = b""
            c.settimeout(0.3)
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    data += d
            except OSError:
                pass
            self.got.append(data)
            try:
                c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok" if b"HTTP/1.1" in data
                          else b"ok")
            except OSError:
                pass
            c.close()

    def close(self):
        self.sock.close()


def exchange(port, data):
    """Sends `data`, returns (the answer, the client's source port)."""
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    src = c.getsockname()[1]
    c.sendall(data)
    out = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        out += d
    c.close()
    return out, src


def masked(data, src):
    return (data.replace(str(src).encode(), b"<SRC>")
            .replace(b"\x7f\x00\x00\x01" + struct.pack(">H", src), b"<v4><SRC>"))


@unittest.skipUnless(have_haproxy(), "haproxy is not installed")
class TestSendProxy(unittest.TestCase):
    def test_v1_and_v2_headers(self):
        ports = (free_port(), free_port())
        results = {}
        for engine in ("haproxy", "herd"):
            rec = Recorder()
            cfg = f"""
defaults
    mode tcp
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend tcp_in
    bind 127.0.0.1:{ports[0]}
    default_backend tcp_out
frontend http_in
    mode http
    bind 127.0.0.1:{ports[1]}
    default_backend http_out
backend tcp_out
    server s {rec.addr} send-proxy-v2
backend http_out
    mode http
    server s {rec.addr} send-proxy
"""
            lb = LB(cfg, engine=engine, wait_ports=list(ports))
            try:
                out = []
                for port, data in ((ports[0], b"hello\n"),
                                   (ports[1], b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: close"
                                              b"\r\n\r\n")):
                    answer, src = exchange(port, data)
                    # The readiness probe's connection (wait_ports) reaches the
                    # tcp server too, with a header and no payload, and may be
                    # recorded after ours: take the one that carries our bytes.
                    deadline = time.time() + 2
                    while time.time() < deadline and not any(
                            data[:6] in g for g in rec.got):
                        time.sleep(0.02)
                    mine = [g for g in rec.got if data[:6] in g]
                    self.assertEqual(len(mine), 1, rec.got)
                    out.append((answer, masked(mine[0], src)))
                results[engine] = out
            finally:
                lb.stop()
                rec.close()
        self.assertEqual(results["herd"], results["haproxy"])
        tcp, http = results["herd"]
        self.assertEqual(tcp[1], b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x7f\x00\x00\x01<v4><SRC>"
                         + struct.pack(">H", ports[0]) + b"hello\n")
        self.assertTrue(http[1].startswith(f"PROXY TCP4 127.0.0.1 127.0.0.1 <SRC> {ports[1]}\r\n"
                                           "GET /a HTTP/1.1\r\n".encode()))

    def test_checks_on_the_traffic_port_are_refused(self):
        text = ("defaults\n  mode tcp\n  timeout client 1s\n  timeout server 1s\n"
                "  timeout connect 1s\nlisten a\n  bind 127.0.0.1:1\n"
                "  server s 127.0.0.1:2 send-proxy check\n"
                "  server t 127.0.0.1:2 send-proxy check port 3\n")
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "p.cfg"), "w") as f:
                f.write(text)
            r = subprocess.run([os.path.abspath(HERD_BIN), "-c", "-f", "p.cfg"], cwd=d,
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("[p.cfg:8] : 'proxy a/s' : health checks carrying the PROXY protocol header",
                      r.stderr)
        self.assertNotIn("a/t", r.stderr)


if __name__ == "__main__":
    unittest.main()
