"""The herd process as HAProxy users drive it: -c, -v/-vv, the quick start
form, -p, signals (SIGUSR1 soft stop finishes in-flight requests, SIGTERM
stops at once) and request logs to a syslog target."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import HAPROXY_BIN, HERD_BIN, LB, Backend, Client, free_port, get, lab_cfg, server_of, wait_port


def run(args, **kw):
    return subprocess.run([HERD_BIN, *args], capture_output=True, text=True, timeout=30, **kw)


class TestCommandLine(unittest.TestCase):
    def write(self, text):
        fd, path = tempfile.mkstemp(suffix=".cfg")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def test_check_mode_exit_codes(self):
        b = Backend("s1")
        self.addCleanup(b.close)
        good = self.write(lab_cfg(free_port(), [b]))
        r = run(["-c", "-f", good])
        # lab_cfg has `option httplog` without a log target: haproxy warns too.
        self.assertEqual((r.returncode, r.stdout), (0, "Warnings were found.\nConfiguration file is valid\n"))
        if os.path.exists(HAPROXY_BIN):
            h = subprocess.run([HAPROXY_BIN, "-c", "-f", good], capture_output=True, text=True)
            self.assertEqual((r.returncode, r.stdout), (h.returncode, h.stdout))
        bad = self.write(lab_cfg(free_port(), [b]).replace("    mode http\n    default_backend",
                                                             "    foo bar\n    default_backend"))
        r = run(["-c", "-f", bad])
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"\[ALERT\]    \(\d+\) : config : parsing \[" + re.escape(bad) +
                         r":\d+\] : unknown keyword 'foo' in 'frontend' section")
        self.assertEqual(r.stdout, "")
        nolistener = self.write("defaults\n    mode http\nbackend b\n    server s1 127.0.0.1:1\n")
        r = run(["-c", "-f", nolistener])
        self.assertEqual(r.returncode, 2)
        self.assertIn("no listener", r.stdout)
        r = run(["-c", "-f", "/nonexistent/x.cfg"])
        self.assertEqual(r.returncode, 1)

    def test_versions(self):
        r = run(["-v"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("herd version", r.stdout)
        r = run(["-vv"])
        self.assertRegex(r.stdout, r"Total: 2 \(\d usable\), will use (epoll|io_uring)\.")

    def test_quick_start_and_print_config(self):
        b1, b2 = Backend("s1"), Backend("s2")
        self.addCleanup(b1.close)
        self.addCleanup(b2.close)
        port = free_port()
        r = run([str(port), b1.addr, b2.addr, "--print-config"])
        self.assertEqual(r.returncode, 0)
        self.assertIn(f":{port}", r.stdout)
        self.assertIn(b1.addr, r.stdout)
        p = subprocess.Popen([HERD_BIN, str(port), b1.addr, b2.addr], stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            names = [server_of(get(port)[2]) for _ in range(4)]
            self.assertEqual(sorted(names), ["s1", "s1", "s2", "s2"])
        finally:
            p.terminate()
            p.wait(10)

    def test_pidfile(self):
        b = Backend("s1")
        self.addCleanup(b.close)
        port = free_port()
        pidfile = tempfile.mktemp()
        lb = LB(lab_cfg(port, [b]), wait_ports=[port], args=["-p", pidfile])
        try:
            with open(pidfile) as f:
                self.assertEqual(int(f.read()), lb.proc.pid)
        finally:
            lb.stop()


class TestSignals(unittest.TestCase):
    def test_sigusr1_finishes_in_flight_then_exits(self):
        b = Backend("s1")
        self.addCleanup(b.close)
        port = free_port()
        lb = LB(lab_cfg(port, [b]), wait_ports=[port])
        result = {}

        def slow():
            result["r"] = get(port, "/?sleep=1")

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.3)
        lb.send(signal.SIGUSR1)
        time.sleep(0.2)
        with self.assertRaises(OSError):  # listeners closed at once
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        t.join(5)
        self.assertEqual(result["r"][0], 200)
        self.assertEqual(lb.proc.wait(5), 0)
        self.assertRegex(lb.output(), r"\[WARNING\]  \(\d+\) : Proxy localnodes stopped")
        lb.stop()

    def test_hard_stop_after_bounds_a_soft_stop(self):
        """`hard-stop-after 1s`: a request that would take 5 s does not hold a
        soft stop longer than that. The client gets HAProxy's 502 with
        `connection: close`, the process exits 0 and logs why; an idle
        keep-alive connection is closed (by then at the latest: herd keeps it
        open for one more answer, haproxy closed it at the soft stop). The
        same bytes on haproxy."""
        engines = ["herd"] + (["haproxy"] if os.path.exists(HAPROXY_BIN) else [])
        seen = {}
        for engine in engines:
            b = Backend("s1")
            self.addCleanup(b.close)
            port = free_port()
            cfg = lab_cfg(port, [b]).replace("global\n", "global\n    hard-stop-after 1s\n", 1)
            lb = LB(cfg, engine=engine, wait_ports=[port])
            self.addCleanup(lb.stop)
            idle = Client(port)
            self.addCleanup(idle.close)
            self.assertEqual(idle.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")[0], 200)
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            self.addCleanup(s.close)
            s.sendall(b"GET /?sleep=5 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)
            t0 = time.time()
            lb.send(signal.SIGUSR1)
            code = lb.proc.wait(5)
            took = time.time() - t0
            got = b""
            while chunk := s.recv(4096):
                got += chunk
            self.assertTrue(idle.closed(1), engine)
            self.assertGreater(took, 0.9, engine)
            self.assertLess(took, 2.5, engine)
            log = lb.output()
            self.assertIn("soft-stop running for too long, performing a hard-stop.", log, engine)
            # haproxy closed the idle keep-alive connection at the soft stop;
            # herd keeps it for one more answer until its idle deadline.
            left = 1 if engine == "haproxy" else 2
            self.assertRegex(log, rf"Proxy localnodes hard-stopped \({left} remaining conns will be closed\)")
            seen[engine] = (code, got)
        self.assertEqual(seen["herd"][0], 0)
        self.assertTrue(seen["herd"][1].startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), seen["herd"][1])
        self.assertIn(b"\r\nconnection: close\r\n", seen["herd"][1])
        if "haproxy" in seen:
            self.assertEqual(seen["herd"], seen["haproxy"])

    def test_sighup_dumps_server_states_like_haproxy_and_sigusr2_is_ignored(self):
        """kill -HUP: the WARNING lines HAProxy prints (one per server, one per
        proxy), from the same counters; kill -USR2 leaves the process running
        (haproxy without master-worker ignores it). In reference mode herd
        passes SIGHUP on to haproxy's worker. haproxy's internal proxies
        (<HTTPCLIENT>; GLOBAL, its stats socket, in reference mode) are left
        out of the comparison."""
        engines = ["herd"] + (["haproxy", "herd-haproxy"] if os.path.exists(HAPROXY_BIN) else [])
        dumps = {}
        for engine in engines:
            port = free_port()
            bs = [Backend("s1"), Backend("s2"), Backend("s3")]
            for b in bs:
                self.addCleanup(b.close)
            bs[2].down = True
            cfg = lab_cfg(port, bs, extra_server=" check inter 200 fall 1 rise 1",
                          extra_backend="    option httpchk HEAD /\n")
            lb = LB(cfg, engine=engine, wait_ports=[port])
            self.addCleanup(lb.stop)
            deadline = time.time() + 5
            while "is DOWN" not in lb.output() and time.time() < deadline:
                time.sleep(0.05)
            for _ in range(4):
                self.assertEqual(get(port)[0], 200)
            if engine != "herd-haproxy":  # there SIGUSR2 reloads haproxy (test_reference_mode)
                lb.send(signal.SIGUSR2)
                time.sleep(0.3)
                self.assertIsNone(lb.proc.poll(), f"{engine} ended on SIGUSR2")
            self.assertEqual(get(port)[0], 200)
            # The last client close reaches the balancer; in reference mode
            # herd learns haproxy's worker pid within a second, and passes
            # SIGHUP on to it.
            time.sleep(1.2 if engine == "herd-haproxy" else 0.2)
            n = len(lb.output())
            lb.send(signal.SIGHUP)
            deadline = time.time() + 5
            while "SIGHUP: Proxy nodes" not in lb.output()[n:] and time.time() < deadline:
                time.sleep(0.05)
            lines = [re.sub(r"\(\d+\)", "(pid)", l) for l in lb.output()[n:].splitlines()
                     if "SIGHUP" in l and "<HTTPCLIENT>" not in l and "Proxy GLOBAL " not in l]
            dumps[engine] = lines
            lb.stop()
        want = [
            "[WARNING]  (pid) : SIGHUP received, dumping servers states.",
            # frontend: wait_port's probe + 5 GETs; nodes: the 5 GETs
            "[WARNING]  (pid) : SIGHUP: Proxy localnodes has no servers. Conn: act(FE+BE): 0+0, "
            "0 pend (0 unass), tot(FE+BE): 6+0.",
            "[WARNING]  (pid) : SIGHUP: Server nodes/s1 is UP. Conn: 0 act, 0 pend, 3 tot.",
            "[WARNING]  (pid) : SIGHUP: Server nodes/s2 is UP. Conn: 0 act, 0 pend, 2 tot.",
            "[WARNING]  (pid) : SIGHUP: Server nodes/s3 is DOWN. Conn: 0 act, 0 pend, 0 tot.",
            "[WARNING]  (pid) : SIGHUP: Proxy nodes has 2 active servers and 0 backup servers "
            "available. Conn: act(FE+BE): 0+0, 0 pend (0 unass), tot(FE+BE): 0+5.",
        ]
        for engine, got in dumps.items():
            self.assertEqual(got, want, engine)

    def test_sigterm_stops_at_once(self):
        b = Backend("s1")
        self.addCleanup(b.close)
        port = free_port()
        lb = LB(lab_cfg(port, [b]), wait_ports=[port])
        c = Client(port)
        c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.time()
        lb.send(signal.SIGTERM)
        lb.proc.wait(5)
        self.assertLess(time.time() - t0, 2)
        c.close()
        lb.stop()


class TestLogging(unittest.TestCase):
    def syslog_lines(self, level, n_requests=3):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(0.5)
        self.addCleanup(udp.close)
        b = Backend("s1")
        self.addCleanup(b.close)
        port = free_port()
        cfg = lab_cfg(port, [b]).replace(
            "global\n", f"global\n    log 127.0.0.1:{udp.getsockname()[1]} local1 {level}\n") \
            .replace("defaults\n", "defaults\n    log global\n")
        lb = LB(cfg, wait_ports=[port])
        try:
            for i in range(n_requests):
                get(port, f"/x{i}?q=1")
            lines = []
            try:
                while True:
                    lines.append(udp.recv(4096).decode())
            except socket.timeout:
                pass
            return lines
        finally:
            lb.stop()

    def test_httplog_lines_at_info(self):
        lines = self.syslog_lines("info")
        self.assertEqual(len(lines), 3, lines)
        # <PRI>Mmm dd HH:MM:SS haproxy[PID]: client [date] fe be/srv Tr/Tw/Tc/Tr/Ta status bytes ...
        rx = (r"^<142>\w{3} [ \d]\d \d\d:\d\d:\d\d haproxy\[\d+\]: 127\.0\.0\.1:\d+ "
              r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] localnodes nodes/s1 "
              r"\d+/\d+/\d+/\d+/\d+ 200 \d+ - - ---- \d+/\d+/\d+/\d+/0 0/0 \"GET /x0\?q=1 HTTP/1\.1\"\n$")
        self.assertRegex(lines[0], rx)

    def test_notice_level_drops_request_lines(self):
        self.assertEqual(self.syslog_lines("notice"), [])


if __name__ == "__main__":
    unittest.main()
