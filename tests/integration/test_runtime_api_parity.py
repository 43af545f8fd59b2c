"""Runtime API (stats socket) over real TCP and unix sockets: the same command
lines against haproxy 2.6, herd and herd's reference mode
(test_proxy_parity.ENGINES; in reference mode the config's `stats socket` is
haproxy's own) must give the same bytes, and changes made through it must
reach traffic."""
import os
import socket
import tempfile
import time
import unittest
import urllib.request

from harness import Backend, LB, free_port, get, server_of
from test_proxy_parity import ENGINES, reference_of


def cli_tcp(port, data, timeout=3):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        out += b"<<open>>"
    s.close()
    return out


def cli_unix(path, data, timeout=3):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(data)
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    return out


def hc_count(backend):
    """Health checks (`option httpchk GET /hc`) the backend received."""
    with backend.lock:
        return len([h for h in backend.requests if h.split(b" ")[1] == b"/hc"])


def cfg(port, cli_port, sock, backends, level="admin"):
    servers = "\n".join(f"    server {b.name} {b.addr}" for b in backends)
    return f"""
global
    stats socket ipv4@127.0.0.1:{cli_port} level {level}
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
{servers}
"""


class TestRuntimeApiParity(unittest.TestCase):
    COMMANDS = [
        b"show backend\n",
        b"get weight nodes/s1\n",
        b"set weight nodes/s1 300\n",
        b"set weight nodes/s1 3\n",
        b"get weight nodes/s1\n",
        b"set server nodes/s2 state bogus\n",
        b"disable server nodes/s3\n",
        b"get weight nodes/nope\n",
        b"get weight nope/s1\n",
        b"show backend;get weight nodes/s2\n",
        b"del server nodes/s2\n",
        b"add server nodes/x$y 127.0.0.1:1\n",
        b"add server nodes/a/b 127.0.0.1:1\n",
        b"add server nodes/s9 127.0.0.1:1\n",
        b"add server nodes/s9 127.0.0.1:1\n",
        b"del server nodes/s9\n",
        b"show cli level\n",
        # Dynamic servers' check arguments: HAProxy's errors.
        b"add server nodes/d1 127.0.0.1:1 check inter 0\n",
        b"add server nodes/d1 127.0.0.1:1 addr foo\n",
        b"add server nodes/d1 127.0.0.1:1 observe layer9\n",
        b"add server nodes/d1 127.0.0.1:1 on-error bogus\n",
        b"add server nodes/d1 127.0.0.1:1 error-limit 0\n",
        b"set server nodes/s1 check-port x\n",
        b"set server nodes/s1 check-port 70000\n",
        b"set server nodes/s1 check-port\n",
        b"set server nodes/s1 check-addr foo\n",
        b"set server nodes/s1 check-addr\n",
        b"set server nodes/s1 check-port 80\n",
        b"show version",  # no newline: not executed
        b"prompt\nshow backend\nquit\n",
    ]

    def run_engine(self, engine):
        bs = [Backend(f"s{i}") for i in (1, 2, 3)]
        port, cli_port = free_port(), free_port()
        sock = os.path.join(tempfile.mkdtemp(), "lb.sock")
        lb = LB(cfg(port, cli_port, sock, bs), engine=engine, wait_ports=[port, cli_port])
        try:
            out = [cli_tcp(cli_port, c, timeout=1) for c in self.COMMANDS]
            # Traffic follows: s3 disabled, s1 weight 3 -> only s1 and s2 serve.
            served = sorted({server_of(get(port)[2]) for _ in range(10)})
            via_unix = cli_unix(sock, b"show backend\n")
            return out, served, via_unix
        finally:
            lb.stop()
            for b in bs:
                b.close()

    def test_same_replies_as_haproxy(self):
        res = {e: self.run_engine(e) for e in ENGINES}
        ref, want = reference_of(res)
        for engine, got in res.items():
            if ref is not None and engine != ref:
                for cmd, h, p in zip(self.COMMANDS, got[0], want[0]):
                    self.assertEqual(h, p, f"{engine} vs {ref}: reply to {cmd!r}")
                self.assertEqual(got[1:], want[1:], f"{engine} vs {ref}")
            self.assertEqual(got[0][0], b"# name\nnodes\n\n", engine)
            self.assertEqual(got[1], ["s1", "s2"], engine)
            self.assertEqual(got[2], b"# name\nnodes\n\n", engine)

    def run_dynamic_check(self, engine):
        """A server added at runtime with `check port P inter T addr A`: once
        `enable health`, its checks go to A:P at T, not to its traffic
        address; `set server ... check-port` moves them."""
        web = Backend("s1")
        hc1, hc2 = Backend("hc1"), Backend("hc2")
        dead = free_port()  # nothing listens: traffic address only
        port, cli_port = free_port(), free_port()
        sock = os.path.join(tempfile.mkdtemp(), "lb.sock")
        lb = LB(cfg(port, cli_port, sock, [web]).replace("balance roundrobin",
                                                         "balance roundrobin\n    option httpchk GET /hc"),
                engine=engine, wait_ports=[port, cli_port])
        try:
            add = (f"add server nodes/d1 127.0.0.1:{dead} check port {hc1.port} inter 200 "
                   f"addr 127.0.0.1\n").encode()
            replies = [cli_tcp(cli_port, add), cli_tcp(cli_port, b"enable health nodes/d1\n"),
                       cli_tcp(cli_port, b"enable server nodes/d1\n")]
            deadline = time.time() + 5
            while time.time() < deadline and hc_count(hc1) < 2:
                time.sleep(0.05)
            first = hc_count(hc1)
            state = cli_tcp(cli_port, b"show servers state nodes\n").decode().splitlines()
            d1 = [line.split() for line in state if " d1 " in line][0]
            replies.append(cli_tcp(cli_port, f"set server nodes/d1 check-port {hc2.port}\n".encode()))
            deadline = time.time() + 5
            while time.time() < deadline and hc_count(hc2) < 2:
                time.sleep(0.05)
            moved = hc_count(hc2)
            # srv_check_port, srv_check_addr
            return replies, first >= 2, moved >= 2, d1[21] == str(hc1.port), d1[22]
        finally:
            lb.stop()
            for b in (web, hc1, hc2):
                b.close()

    def test_dynamic_server_check_arguments(self):
        res = {e: self.run_dynamic_check(e) for e in ENGINES}
        ref, want = reference_of(res)
        for engine, got in res.items():
            replies, checked, moved, shows_check_port, check_addr = got
            self.assertEqual(replies, [b"New server registered.\n\n", b"\n", b"\n", b"\n"], engine)
            self.assertTrue(checked, f"{engine}: no check reached the check port")
            self.assertTrue(moved, f"{engine}: checks did not follow set server check-port")
            self.assertTrue(shows_check_port, f"{engine}: show servers state srv_check_port")
            self.assertEqual(check_addr, "127.0.0.1", engine)
            if ref is not None and engine != ref:
                self.assertEqual(got, want, f"{engine} vs {ref}")

    def test_levels(self):
        for engine in ENGINES:
            bs = [Backend("s1")]
            port, cli_port = free_port(), free_port()
            sock = os.path.join(tempfile.mkdtemp(), "lb.sock")
            lb = LB(cfg(port, cli_port, sock, bs, level="user"), engine=engine, wait_ports=[port, cli_port])
            try:
                self.assertEqual(cli_tcp(cli_port, b"disable server nodes/s1\n"), b"Permission denied\n\n", engine)
                self.assertEqual(cli_tcp(cli_port, b"show cli level\n"), b"user\n\n", engine)
                self.assertEqual(server_of(get(port)[2]), "s1")
            finally:
                lb.stop()
                bs[0].close()


    # Settled columns of the CSV (no counters, no timings): the same on every engine.
    STAT_COLS = ("pxname", "svname", "status", "weight", "act", "bck", "type", "iid", "sid",
                 "lbtot", "check_status", "mode")  # not addr: backends differ per engine

    def stat_view(self, csv):
        lines = csv.decode().splitlines()
        header = lines[0]
        cols = header.lstrip("# ").split(",")
        idx = [cols.index(c) for c in self.STAT_COLS if c in cols]
        rows = [tuple(line.split(",")[i] for i in idx) for line in lines[1:] if line]
        return header, rows

    def test_show_stat_and_csv_page(self):
        """`show stat` on the stats socket (typed filter too) and the stats
        page's CSV (`listen stats`, `/;csv`): same header, same rows and
        settled columns as haproxy. No traffic: lbtot stays 0 everywhere."""
        res = {}
        for engine in ENGINES:
            bs = [Backend(f"s{i}") for i in (1, 2)]
            port, cli_port, stats_port = free_port(), free_port(), free_port()
            sock = os.path.join(tempfile.mkdtemp(), "lb.sock")
            text = cfg(port, cli_port, sock, bs) + (
                f"listen stats\n    bind 127.0.0.1:{stats_port}\n    stats enable\n    stats uri /\n")
            lb = LB(text, engine=engine, wait_ports=[port, cli_port, stats_port])
            try:
                res[engine] = (
                    self.stat_view(cli_tcp(cli_port, b"show stat\n")),
                    self.stat_view(cli_tcp(cli_port, b"show stat -1 4 -1\n")),
                    self.stat_view(urllib.request.urlopen(f"http://127.0.0.1:{stats_port}/;csv",
                                                          timeout=5).read()),
                )
            finally:
                lb.stop()
                for b in bs:
                    b.close()
        ref, want = reference_of(res)
        for engine, got in res.items():
            (h, rows), (_, servers), (ph, page_rows) = got
            names = [r[:2] for r in rows]
            self.assertEqual(names, [("f", "FRONTEND"), ("nodes", "s1"), ("nodes", "s2"),
                                     ("nodes", "BACKEND"), ("stats", "FRONTEND"), ("stats", "BACKEND")],
                             engine)
            self.assertEqual([r[:2] for r in servers], [("nodes", "s1"), ("nodes", "s2")], engine)
            self.assertEqual(ph, h, engine)
            if ref is not None and engine != ref:
                for a, b, what in zip(got, want, ("show stat", "show stat -1 4 -1", "/;csv")):
                    self.assertEqual(a, b, f"{engine} vs {ref}: {what}")


if __name__ == "__main__":
    unittest.main()
