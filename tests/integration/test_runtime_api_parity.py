"""Runtime API (stats socket) over real TCP and unix sockets: the same command
lines against haproxy 2.6 and herd must give the same bytes, and changes made
through it must reach traffic."""
import os
import socket
import tempfile
import time
import unittest

from harness import Backend, LB, free_port, get, have_haproxy, server_of
from test_proxy_parity import ENGINES


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
        b"add server nodes/s9 127.0.0.1:1\n",
        b"add server nodes/s9 127.0.0.1:1\n",
        b"del server nodes/s9\n",
        b"show cli level\n",
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
        herd = res["herd"]
        if "haproxy" in res:
            for cmd, h, p in zip(self.COMMANDS, herd[0], res["haproxy"][0]):
                self.assertEqual(h, p, f"reply to {cmd!r}")
            self.assertEqual(herd[1:], res["haproxy"][1:])
        self.assertEqual(herd[0][0], b"# name\nnodes\n\n")
        self.assertEqual(herd[1], ["s1", "s2"])
        self.assertEqual(herd[2], b"# name\nnodes\n\n")

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


if __name__ == "__main__":
    unittest.main()
