"""Bodies are streamed through bounded buffers (issue 5): a 1 GiB upload and a
1 GiB download through herd leave its memory flat. herd's peak RSS (VmHWM)
after each transfer must stay within a few MiB of its peak before it; a relay
that buffered bodies would grow by the body size. Runs on the I/O backend the
environment selects (HERD_IO; scripts/test.sh runs the integration tests on
both). Everything is on 127.0.0.1; every loop is bounded by bytes and time."""
import socket
import time
import unittest

from harness import LB, free_port, read_head, serve_in_threads

GIB = 1 << 30
CHUNK = b"\0" * (1 << 20)
CFG = """
global
    nbthread 1
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend f
    bind 127.0.0.1:{port}
    default_backend b
backend b
    server s1 127.0.0.1:{sport}
"""


class StreamServer:
    """GET: answers with a 1 GiB body (Content-Length); POST: reads and
    discards the body, answers with the byte count."""

    def __init__(self):
        self.sock = serve_in_threads(self._serve)
        self.port = self.sock.getsockname()[1]

    def _serve(self, c):
        with c:
            head, rest = read_head(c)
            if head is None:
                return
            if head.startswith(b"POST"):
                length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                              if l.lower().startswith(b"content-length")][0])
                got = len(rest)
                while got < length:
                    d = c.recv(1 << 20)
                    if not d:
                        return
                    got += len(d)
                body = str(got).encode()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            else:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % GIB)
                for _ in range(GIB // len(CHUNK)):
                    c.sendall(CHUNK)

    def close(self):
        self.sock.close()


def hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class TestLargeBodies(unittest.TestCase):
    def setUp(self):
        self.srv = StreamServer()
        self.port = free_port()
        self.lb = LB(CFG.format(port=self.port, sport=self.srv.port), wait_ports=[self.port])

    def tearDown(self):
        self.lb.stop()
        self.srv.close()

    def warm_up(self):
        # One small transfer each way so that buffers and pools exist before
        # the baseline is taken.
        c = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        c.sendall(b"POST /warm HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n" + CHUNK)
        head, rest = read_head(c)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        c.close()

    def test_1gib_upload_and_download_keep_memory_flat(self):
        self.warm_up()
        pid = self.lb.proc.pid
        base = hwm_kib(pid)

        # Upload: 1 GiB POST, answered with the byte count the server read.
        t0 = time.time()
        c = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        c.sendall(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % GIB)
        for _ in range(GIB // len(CHUNK)):
            c.sendall(CHUNK)
        head, rest = read_head(c)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        while len(rest) < len(str(GIB)):
            rest += c.recv(64)
        self.assertEqual(rest, str(GIB).encode())
        c.close()
        up_s = time.time() - t0
        after_up = hwm_kib(pid)

        # Download: 1 GiB body, read and discarded.
        t0 = time.time()
        c = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        c.sendall(b"GET /down HTTP/1.1\r\nHost: t\r\n\r\n")
        head, rest = read_head(c)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        got = len(rest)
        buf = bytearray(1 << 20)
        while got < GIB and time.time() - t0 < 120:
            n = c.recv_into(buf)
            if not n:
                break
            got += n
        c.close()
        self.assertEqual(got, GIB)
        down_s = time.time() - t0
        after_down = hwm_kib(pid)

        print(f"\nVmHWM KiB: base {base}, after 1 GiB up {after_up} ({up_s:.1f} s), "
              f"after 1 GiB down {after_down} ({down_s:.1f} s)")
        # Bounded buffers: a few 16 KiB buffers and socket-side state, not the body.
        self.assertLess(after_up - base, 8 * 1024, "upload grew herd's peak RSS")
        self.assertLess(after_down - base, 8 * 1024, "download grew herd's peak RSS")


if __name__ == "__main__":
    unittest.main()
