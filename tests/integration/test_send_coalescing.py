"""MSG_MORE on the relay's writes, seen with strace and with a stalling
server, herd against haproxy 2.6.

A response larger than the relay's buffer is read in parts; haproxy sends
the first part with MSG_MORE, so that the kernel sends one segment, not two
(with TCP_NODELAY each write would be its own segment). herd does the same
when its read filled the buffer, the message is not done and its rest
is copied, not spliced (on epoll; the
io_uring backend passes the flag in its send SQE, which strace cannot see).
The flag must never hold bytes back for long: a server that sends a head and
body filling the buffer, then stalls, has its bytes at the client well before
it resumes. Measured on both engines: 0.2 s, the kernel's probe timer pushing
what MSG_MORE held (haproxy holds them the same way)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import HAPROXY_BIN, HERD_BIN, free_port, have_haproxy, serve_in_threads, wait_port

STRACE = shutil.which("strace")

CFG = """
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen l
    bind 127.0.0.1:{port}
    server s 127.0.0.1:{backend}
"""

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: %d\r\n\r\n"


class Server:
    """Answers every request with `first` bytes of body at once, then, after
    `stall` seconds, `rest` more."""

    def __init__(self, first, rest=0, stall=0.0):
        self.first, self.rest, self.stall = first, rest, stall
        self.sock = serve_in_threads(self._serve)
        self.port = self.sock.getsockname()[1]

    def _serve(self, c):
        with c:
            try:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    d = c.recv(4096)
                    if not d:
                        return
                    buf += d
                c.sendall(HEAD % (self.first + self.rest) + b"a" * self.first)
                if self.rest:
                    time.sleep(self.stall)
                    c.sendall(b"b" * self.rest)
                c.recv(4096)  # until the balancer closes
            except OSError:
                pass

    def close(self):
        self.sock.close()


def fetch(port, want_body):
    """One GET; (seconds until the first `want_body` body bytes, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    with s:
        t0 = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        buf, t_first = b"", None
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            body = buf[head_end + 4:]
            if t_first is None and len(body) >= want_body:
                t_first = time.monotonic() - t0
            m = re.search(rb"content-length: *(\d+)", buf[:head_end], re.I)
            if m and len(body) >= int(m.group(1)):
                break
        return t_first, buf[buf.find(b"\r\n\r\n") + 4:]


def start(binary, cfg_text, trace=None):
    d = tempfile.mkdtemp(prefix="coalesce-")
    port = free_port()
    cfg = os.path.join(d, "c.cfg")
    with open(cfg, "w") as f:
        f.write(cfg_text.replace("{port}", str(port)))
    env = dict(os.environ, HERD_IO="epoll")
    cmd = [binary, "-db", "-f", cfg]
    if trace:
        cmd = [STRACE, "-f", "-qq", "-e", "trace=sendmsg,sendto", "-o", trace] + cmd
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port, d


def stop(p, traced):
    pid = p.pid
    if traced:  # signal the traced engine, not strace
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            pid = int(f.read().split()[0])
    os.kill(pid, signal.SIGTERM)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


@unittest.skipUnless(have_haproxy(), "haproxy is needed")
class SendCoalescing(unittest.TestCase):
    def body_sends(self, binary, size, extra=""):
        """Fetches a response of `size` body bytes through `binary` traced:
        for each write that carried body bytes, in order, whether it had
        MSG_MORE. `extra`: lines for the listen section."""
        srv = Server(size)
        self.addCleanup(srv.close)
        d = tempfile.mkdtemp(prefix="coalesce-trace-")
        self.addCleanup(shutil.rmtree, d, True)
        trace = os.path.join(d, "trace")
        p, port, cd = start(binary, CFG.replace("{backend}", str(srv.port)) + extra, trace)
        self.addCleanup(shutil.rmtree, cd, True)
        try:
            time.sleep(0.3)
            _, body = fetch(port, size)
            self.assertEqual(body, b"a" * size, binary)
            time.sleep(0.2)
        finally:
            stop(p, True)
        with open(trace) as f:
            return [("MSG_MORE" in line) for line in f.read().splitlines()
                    if re.search(r"send(msg|to)\(", line) and '"aaaa' in line]

    @unittest.skipUnless(STRACE, "strace is needed")
    def test_first_part_of_a_large_response_carries_msg_more(self):
        # 40000 bytes copied (herd without splicing): both send the first
        # part with MSG_MORE, the last without.
        got = {"haproxy": self.body_sends(HAPROXY_BIN, 40000),
               "herd": self.body_sends(HERD_BIN, 40000, "    no option splice-auto\n")}
        for name, sends in got.items():
            self.assertTrue(len(sends) >= 2 and sends[0] and not sends[-1], got)
        # 20000 bytes (under the splice threshold): herd's two writes, the
        # first held, the last pushing.
        self.assertEqual(self.body_sends(HERD_BIN, 20000), [True, False])
        # 40000 bytes spliced (herd's default): the write before the splice
        # holds nothing back (held, it doubled the kernel's time per 1 MiB).
        self.assertEqual(self.body_sends(HERD_BIN, 40000), [False])

    @unittest.skipUnless(STRACE, "strace is needed")
    def test_http_no_delay_sends_at_once(self):
        # `option http-no-delay`: no write holds anything back, on both.
        for name, binary in (("haproxy", HAPROXY_BIN), ("herd", HERD_BIN)):
            for size in (20000, 40000):
                sends = self.body_sends(binary, size, "    option http-no-delay\n")
                self.assertTrue(sends, (name, size))
                self.assertNotIn(True, sends, (name, size))

    def test_a_stalling_server_gets_its_bytes_through(self):
        # The head and body bytes that fill herd's 16 KiB buffer exactly at
        # once (so its write carries MSG_MORE), then a stall of 2 s: those
        # bytes reach the client long before.
        first = 16384 - len(HEAD % (16384 + 1000))
        srv = Server(first, rest=16384 + 1000 - first, stall=2.0)
        self.addCleanup(srv.close)
        for name, binary in (("haproxy", HAPROXY_BIN), ("herd", HERD_BIN)):
            p, port, cd = start(binary, CFG.replace("{backend}", str(srv.port)))
            self.addCleanup(shutil.rmtree, cd, True)
            try:
                t_first, body = fetch(port, first)
            finally:
                stop(p, False)
            self.assertEqual(body, b"a" * first + b"b" * (16384 + 1000 - first), name)
            print(f"\n[stall] {name}: first {first} bytes after {t_first:.3f} s", file=sys.stderr)
            self.assertLess(t_first, 1.0, name)


if __name__ == "__main__":
    unittest.main()
