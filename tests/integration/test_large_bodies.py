"""Bodies are streamed through bounded buffers (issue 5): a 1 GiB upload and a
1 GiB download through herd leave its memory flat. herd's peak RSS (VmHWM)
after each transfer must stay within a few MiB of its peak before it; a relay
that buffered bodies would grow by the body size. Runs on the I/O backend the
environment selects (HERD_IO; scripts/test.sh runs the integration tests on
both). Everything is on 127.0.0.1; every loop is bounded by bytes and time."""
import hashlib
import os
import socket
import threading
import time
import unittest

from harness import (LB, free_port, parse_headers, raw, read_body, read_head, runtime_api,
                     serve_in_threads)

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


SPLICE_CFG = """
global
    nbthread 1
    stats socket ipv4@127.0.0.1:{api} level admin
    tune.pipesize 131072
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    {option}
frontend f
    bind 127.0.0.1:{port}
    default_backend b
backend b
    server s1 127.0.0.1:{sport}
listen t
    mode tcp
    bind 127.0.0.1:{tport}
    server e 127.0.0.1:{eport}
"""


def pattern(n, seed):
    """n deterministic, non-repeating-looking bytes (a body where a lost or
    reordered piece shows)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d-%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:n])


class BodyServer:
    """GET /n/<bytes>: that many pattern bytes with Content-Length; GET
    /close/<bytes>: the same relayed until the server closes (no length);
    GET /cut/<bytes>: announces <bytes> and closes after half; POST: answers
    with the SHA-256 of the body it read (hex)."""

    def __init__(self):
        self.sock = serve_in_threads(self._serve)
        self.port = self.sock.getsockname()[1]

    def _serve(self, c):
        with c:
            buf = b""
            while True:
                head, buf = read_head(c, buf)
                if head is None:
                    return
                line = head.split(b"\r\n")[0].split()
                if line[0] == b"POST":
                    n = int([l.split(b":")[1] for l in head.split(b"\r\n")
                             if l.lower().startswith(b"content-length")][0])
                    h = hashlib.sha256()
                    got = buf[:n]
                    h.update(got)
                    left = n - len(got)
                    buf = buf[len(got):]
                    while left > 0:
                        d = c.recv(min(left, 1 << 20))
                        if not d:
                            return
                        h.update(d)
                        left -= len(d)
                    body = h.hexdigest().encode()
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                    continue
                kind, n = line[1].split(b"/")[1:3]
                n = int(n)
                data = pattern(n, n)
                if kind == b"n":
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n + data)
                    continue
                if kind == b"close":
                    c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + data)
                else:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n + data[:n // 2])
                return

    def close(self):
        self.sock.close()


class EchoServer:
    """TCP: sends back every byte it reads until the client half-closes."""

    def __init__(self):
        self.sock = serve_in_threads(self._serve)
        self.port = self.sock.getsockname()[1]

    def _serve(self, c):
        with c:
            while True:
                d = c.recv(1 << 20)
                if not d:
                    c.shutdown(socket.SHUT_WR)
                    return
                c.sendall(d)

    def close(self):
        self.sock.close()


def pipes(pid):
    """The pipes (pipe:[inode]) herd has open."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("pipe:"):
            out.add(t)
    return out


class TestSplice(unittest.TestCase):
    """Zero-copy relay (proxy/splice.h): with `option splice-request` and
    `splice-response` the bodies and the tcp tunnel go through a pipe herd
    keeps for reuse (so herd holds a pipe it did not have before), with `no option
    splice-auto` and neither option none is made; either way every body
    arrives byte-exact, uploads are read whole by the server, a body the
    server cuts short is cut for the client too, and the frontend's byte
    counters are the same. On the I/O backend the environment selects."""

    SIZES = (1, 16383, 16385, 1 << 20, 3 * (1 << 20) + 7)

    def run_config(self, option):
        srv, echo = BodyServer(), EchoServer()
        port, tport, api = free_port(), free_port(), free_port()
        lb = LB(SPLICE_CFG.format(port=port, tport=tport, api=api, sport=srv.port,
                                  eport=echo.port, option=option),
                # Not tport: a probe of the tcp listener would open a tunnel,
                # and its pipes, before the baseline (both bind at start-up).
                wait_ports=[port])
        try:
            pid = lb.proc.pid
            time.sleep(0.3)  # start-up done
            before = pipes(pid)
            c = socket.create_connection(("127.0.0.1", port), timeout=20)
            rest = b""
            for n in self.SIZES:  # downloads on one keep-alive connection
                c.sendall(b"GET /n/%d HTTP/1.1\r\nHost: t\r\n\r\n" % n)
                head, rest = read_head(c, rest)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                body, rest = read_body(c, parse_headers(head)[1], rest)
                self.assertEqual(len(body), n)
                self.assertEqual(body, pattern(n, n), f"{n}-byte body differs")
            for n in self.SIZES:  # uploads, then a request on the same connection
                data = pattern(n, n + 1)
                c.sendall(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % n + data)
                head, rest = read_head(c, rest)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                body, rest = read_body(c, parse_headers(head)[1], rest)
                self.assertEqual(body, hashlib.sha256(data).hexdigest().encode(), f"{n}-byte upload")
            c.close()
            # Until close, and cut short by the server.
            n = 2 * (1 << 20) + 3
            got = raw(port, b"GET /close/%d HTTP/1.1\r\nHost: t\r\n\r\n" % n, timeout=20,
                      until_close=True)
            self.assertEqual(got[got.index(b"\r\n\r\n") + 4:], pattern(n, n))
            got = raw(port, b"GET /cut/%d HTTP/1.1\r\nHost: t\r\n\r\n" % n, timeout=20,
                      until_close=True)
            self.assertEqual(got[got.index(b"\r\n\r\n") + 4:], pattern(n, n)[:n // 2])
            # mode tcp: 2 MiB echoed back whole, half-close passed on.
            data = pattern(2 * (1 << 20) + 11, 99)
            t = socket.create_connection(("127.0.0.1", tport), timeout=20)
            threading.Thread(target=lambda: (t.sendall(data), t.shutdown(socket.SHUT_WR)),
                             daemon=True).start()
            echoed = bytearray()
            while True:
                d = t.recv(1 << 20)
                if not d:
                    break
                echoed += d
            t.close()
            self.assertEqual(bytes(echoed), data)
            stat = runtime_api(api, "show stat")
            fe = [l.split(",") for l in stat.splitlines() if l.startswith("f,FRONTEND,")][0]
            return len(pipes(pid) - before), fe[8], fe[9]  # new pipes, bin, bout
        finally:
            lb.stop()
            srv.close()
            echo.close()

    def test_splice_on_and_off_byte_exact(self):
        on = self.run_config("option splice-request\n    option splice-response")
        off = self.run_config("no option splice-auto")
        self.assertGreaterEqual(on[0], 1, "splice on: no pipe was made")
        self.assertEqual(off[0], 0, "splice off: a pipe was made")
        self.assertEqual(on[1:], off[1:], "frontend bin/bout differ with splice on and off")
        auto = self.run_config("option splice-auto")
        self.assertGreaterEqual(auto[0], 1, "splice-auto: no pipe was made for MiB bodies")
        self.assertEqual(auto[1:], off[1:])


if __name__ == "__main__":
    unittest.main()
