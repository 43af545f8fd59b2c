"""Both I/O backends (issue 5): every herd binary carries an epoll and an
io_uring data plane; `--io` / $HERD_IO choose, `auto` takes io_uring where the
process may set one up and falls back to epoll with a notice otherwise.

Where io_uring is denied is simulated the way a container's seccomp profile
does it: the herd child installs a seccomp filter that fails io_uring_setup
with EPERM before exec (Python ctypes, prctl(PR_SET_SECCOMP)). Everything
listens on 127.0.0.1; every process is stopped by PID."""
import ctypes
import os
import platform
import struct
import subprocess
import tempfile
import time
import unittest

from harness import (HERD_BIN, LB, Backend, Client, complete_responses, free_port, get, raw,
                     runtime_api, server_of, wait_port)

CFG = """
global
    nbthread 2
    stats socket ipv4@127.0.0.1:{cli} level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f
    bind 127.0.0.1:{port}
    default_backend b
backend b
    balance roundrobin
    server s1 127.0.0.1:{p1}
    server s2 127.0.0.1:{p2}
"""


def io_uring_usable():
    out = subprocess.run([HERD_BIN, "-vv"], capture_output=True, text=True, timeout=10).stdout
    return "io_uring : pref=400,  test result OK" in out


def deny_io_uring():
    """preexec_fn: a seccomp filter failing io_uring_setup (x86_64: 425) with
    EPERM, as Docker's default profile does; other syscalls are allowed."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    AUDIT_ARCH_X86_64 = 0xC000003E
    SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, EPERM = 0x7FFF0000, 0x00050000, 1
    BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06

    def ins(code, jt, jf, k):
        return struct.pack("HBBI", code, jt, jf, k)

    prog = b"".join([
        ins(BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        ins(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        ins(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ins(BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        ins(BPF_JEQ_K, 0, 1, 425),  # __NR_io_uring_setup
        ins(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        ins(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ])
    buf = ctypes.create_string_buffer(prog)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fp = SockFprog(len(prog) // 8, ctypes.addressof(buf))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fp), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


class TestIoBackends(unittest.TestCase):
    def setUp(self):
        self.b1, self.b2 = Backend("s1"), Backend("s2")
        self.port, self.cli = free_port(), free_port()
        self.cfg = CFG.format(port=self.port, cli=self.cli, p1=self.b1.port, p2=self.b2.port)

    def tearDown(self):
        self.b1.close()
        self.b2.close()

    def exercise(self, backend):
        """Starts herd with HERD_IO=backend and relays real traffic through it."""
        lb = LB(self.cfg, env={"HERD_IO": backend}, wait_ports=[self.port])
        try:
            # Start-up log names the backend in use (written just after the listeners open).
            end = time.time() + 5
            while f"{backend} backend" not in lb.output() and time.time() < end:
                time.sleep(0.05)
            self.assertIn(f"{backend} backend", lb.output())
            # Round-robin over both servers, keep-alive on one client connection.
            c = Client(self.port)
            order = [server_of(c.request(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")[2]) for _ in range(6)]
            c.close()
            self.assertEqual(order, ["s1", "s2"] * 3)
            # A body both ways (256 KiB up, 1 MiB down) crosses the bounded buffers.
            body = os.urandom(256 * 1024)
            r = raw(self.port, b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n" % len(body) + body, until_close=True)
            self.assertTrue(r.startswith(b"HTTP/1.1 200"), r[:80])
            status, _, data = get(self.port, "/down?size=1048576")
            self.assertEqual(status, 200)
            self.assertEqual(len(data), 1048576)
            # 400 on garbage, nothing forwarded.
            before = len(self.b1.requests) + len(self.b2.requests)
            self.assertTrue(raw(self.port, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400"))
            self.assertEqual(len(self.b1.requests) + len(self.b2.requests), before)
            # The runtime API names the backend in use.
            info = runtime_api(self.cli, "show info")
            self.assertIn(f"Poller: {backend}", info)
        finally:
            lb.stop()

    def test_epoll(self):
        self.exercise("epoll")

    def test_io_uring(self):
        if not io_uring_usable():
            self.skipTest("io_uring cannot be set up on this machine")
        self.exercise("io_uring")

    def test_port_is_free_for_a_successor_at_exit(self):
        """After herd exits, a successor bound to the same port with
        SO_REUSEPORT (herd -sf, a restart, haproxy) gets every connection: no
        listener of the old process lingers (with io_uring a pending accept
        kept it alive after exit, and connections queued on it were reset)."""
        import socket
        for backend in ["epoll", "io_uring"] if io_uring_usable() else ["epoll"]:
            lb = LB(self.cfg, env={"HERD_IO": backend}, wait_ports=[self.port])
            get(self.port, "/warm")
            lb.stop()
            succ = socket.socket()
            succ.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            succ.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            succ.bind(("127.0.0.1", self.port))
            succ.listen(64)
            succ.settimeout(2)
            try:
                for i in range(20):
                    c = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                    c.sendall(b"ping")
                    a, _ = succ.accept()  # a lingering listener would have taken some
                    a.settimeout(2)
                    self.assertEqual(a.recv(4), b"ping", f"{backend}: connection {i}")
                    a.close()
                    c.close()
            finally:
                succ.close()

    def test_bursts_of_keep_alive_connections(self):
        """3000 keep-alive connections arriving in bursts of 300, 40 ms apart,
        each sending one request, so that earlier connections are parked
        (idle for 100 ms: their waits are cancelled, their sessions freed)
        while new ones arrive; then a second request on every connection,
        which resumes each parked one. Every request must be answered on both
        backends. (Asio 1.81's io_uring cancel entries carried a stale
        user_data and completed other sockets' operations: proxy/uring_sqe.h;
        without it this test loses or delays requests on io_uring.)"""
        import resource
        import selectors
        import socket
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        n, burst = 3000, 300
        if hard < n + 200:
            self.skipTest(f"fd hard limit {hard} < {n + 200}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        req = b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n"

        def answer_all(conns, deadline):
            sel = selectors.DefaultSelector()
            bufs = {}
            for c in conns:
                sel.register(c, selectors.EVENT_READ)
                bufs[c] = b""
            while bufs and time.time() < deadline:
                for key, _ in sel.select(timeout=0.2):
                    c = key.fileobj
                    bufs[c] += c.recv(65536)
                    if complete_responses(bufs[c]):
                        sel.unregister(c)
                        del bufs[c]
            sel.close()
            return len(conns) - len(bufs)

        for backend in ["epoll", "io_uring"] if io_uring_usable() else ["epoll"]:
            lb = LB(self.cfg.replace("global\n", "global\n    maxconn 8000\n"),
                    env={"HERD_IO": backend}, wait_ports=[self.port])
            socks = []
            try:
                answered = 0
                for b in range(0, n, burst):
                    batch = [socket.create_connection(("127.0.0.1", self.port), timeout=5)
                             for _ in range(burst)]
                    socks += batch
                    for c in batch:
                        c.sendall(req)
                    answered += answer_all(batch, time.time() + 10)
                    time.sleep(0.04)
                self.assertEqual(answered, n, f"{backend}: first requests")
                time.sleep(0.3)  # every connection past its hot-idle window
                for c in socks:
                    c.sendall(req)
                self.assertEqual(answer_all(socks, time.time() + 20), n,
                                 f"{backend}: second requests")
            finally:
                for c in socks:
                    c.close()
                lb.stop()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    def test_vv_lists_both_polling_systems(self):
        out = subprocess.run([HERD_BIN, "-vv"], capture_output=True, text=True, timeout=10).stdout
        self.assertIn("Available polling systems :", out)
        self.assertRegex(out, r"io_uring : pref=400,  test result (OK|FAILED \(.+\))")
        self.assertIn("epoll : pref=300,  test result OK", out)
        denied = subprocess.run([HERD_BIN, "-vv"], capture_output=True, text=True, timeout=10,
                                preexec_fn=deny_io_uring).stdout
        self.assertIn("io_uring : pref=400,  test result FAILED (Operation not permitted)", denied)
        self.assertIn("Total: 2 (1 usable), will use epoll.", denied)

    @unittest.skipUnless(platform.machine() == "x86_64", "seccomp filter written for x86_64")
    def test_denied_io_uring_falls_back_or_refuses(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "h.cfg")
            with open(path, "w") as f:
                f.write(self.cfg)
            # Required but denied: a clear refusal, non-zero exit, nothing bound.
            p = subprocess.run([HERD_BIN, "-db", "-f", path], env={**os.environ, "HERD_IO": "io_uring"},
                               capture_output=True, text=True, timeout=10, preexec_fn=deny_io_uring)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("io_uring was required (--io io_uring) but this process cannot set one "
                          "up: Operation not permitted", p.stderr)
            # auto: a notice, then epoll serves.
            log = open(os.path.join(d, "log"), "w+")
            proc = subprocess.Popen([HERD_BIN, "-db", "-f", path, "--io", "auto"], stdout=log,
                                    stderr=subprocess.STDOUT, preexec_fn=deny_io_uring)
            try:
                wait_port(self.port)
                status, _, data = get(self.port, "/fallback")
                self.assertEqual(status, 200)
                self.assertIn(b"GET /fallback", data)
                end = time.time() + 5
                out = ""
                while "epoll backend" not in out and time.time() < end:
                    log.flush()
                    log.seek(0)
                    out = log.read()
                    time.sleep(0.05)
                self.assertIn("io_uring unavailable (Operation not permitted); using epoll", out)
                self.assertIn("epoll backend", out)
                self.assertIn("Poller: epoll", runtime_api(self.cli, "show info"))
            finally:
                proc.terminate()
                proc.wait(10)
                log.close()


if __name__ == "__main__":
    unittest.main()
