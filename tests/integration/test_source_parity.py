"""`source <addr>[:<port>] [usesrc <addr>[:<port>] | client | clientip]` of
backends and servers, against haproxy 2.6, on loopback.

Every 127.0.0.x address is local on Linux's loopback, so the whole
transparent-proxy family can be observed without extra routing: a small
server answers each request with the address and port the connection came
from. Plain `source` binds to its address (a fixed port when given), a
server's `source` wins over its backend's, `usesrc <addr>` carries that
address (IP_TRANSPARENT, so the tests run as root), `usesrc clientip` the
client's address and `usesrc client` the client's address and port (the
client sets SO_REUSEADDR, as the port is bound twice on one host; without
it the bind fails and the answer is a 503, for haproxy as for herd). Health
checks connect from the `source` address. `herd -c` gives haproxy's
messages for the forms haproxy refuses.

tests/configs/census/07-haproxy-transparent-proxy.cfg is the config these
keywords come from (`source 0.0.0.0 usesrc client`).
"""
import os
import socket
import threading
import time
import unittest

from harness import (HAPROXY_BIN, HERD_BIN, LB, check_diagnostics, free_port, have_haproxy)


class PeerServer:
    """Answers each HTTP request with "<peer ip>:<peer port>"; records the
    peer address of every connection (health checks included)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.peers = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, a = self.sock.accept()
            except OSError:
                return
            self.peers.append(a)
            threading.Thread(target=self._serve, args=(c, a), daemon=True).start()

    @staticmethod
    def _serve(c, a):
        try:
            c.settimeout(5)
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            body = f"{a[0]}:{a[1]}".encode()
            c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
                      % len(body) + body)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


def ask(port, src, reuse=False):
    """(status code, peer ip the server saw, whether its port is the client's)."""
    s = socket.socket()
    try:
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((src, 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        d = b""
        while True:
            x = s.recv(65536)
            if not x:
                break
            d += x
        status = d.split(b"\r\n", 1)[0].split(b" ")[1].decode()
        if status != "200":
            return status, None, None
        ip, port_seen = d.split(b"\r\n\r\n", 1)[1].decode().rsplit(":", 1)
        return status, ip, int(port_seen) == s.getsockname()[1]
    finally:
        s.close()


@unittest.skipUnless(os.geteuid() == 0, "IP_TRANSPARENT needs root (CAP_NET_ADMIN)")
class SourceParity(unittest.TestCase):
    def observe(self, engine):
        peer, checked = PeerServer(), PeerServer()
        fixed = free_port()
        lines = [
            ("plain", "source 127.0.0.2", ""),
            ("server wins", "source 127.0.0.2", "source 127.0.0.3"),
            ("fixed port", "", f"source 127.0.0.4:{fixed}"),
            ("usesrc addr", "source 127.0.0.2 usesrc 127.0.0.5", ""),
            ("usesrc clientip", "source 0.0.0.0 usesrc clientip", ""),
            ("usesrc client", "source 0.0.0.0 usesrc client", ""),
            ("usesrc client, port taken", "source 0.0.0.0 usesrc client", ""),
        ]
        ports = [free_port() for _ in lines]
        cfg = ("defaults\n    mode http\n    timeout connect 1s\n    timeout client 3s\n"
               "    timeout server 3s\n    retries 1\n")
        for i, ((_, be_line, srv_opt), p) in enumerate(zip(lines, ports)):
            cfg += (f"frontend f{i}\n    bind 127.0.0.1:{p}\n    default_backend b{i}\n"
                    f"backend b{i}\n    {be_line}\n"
                    f"    server s 127.0.0.1:{peer.port} {srv_opt}\n")
        # Checks bind to the `source` address, not to the client's (HTTP
        # checks: a connection reset at once may never be accepted).
        cp = free_port()
        cfg += (f"frontend fc\n    bind 127.0.0.1:{cp}\n    default_backend bc\n"
                f"backend bc\n    option httpchk GET /\n    source 127.0.0.8 usesrc client\n"
                f"    server s 127.0.0.1:{checked.port} check inter 200\n")
        lb = LB(cfg, engine=engine, wait_ports=ports + [cp])
        out = {}
        try:
            clients = {"usesrc clientip": "127.0.0.6", "usesrc client": "127.0.0.7",
                       "usesrc client, port taken": "127.0.0.9"}
            for (name, _, _), p in zip(lines, ports):
                out[name] = ask(p, clients.get(name, "127.0.0.1"),
                                reuse=name == "usesrc client")
            time.sleep(0.8)
            out["checks from"] = sorted({a[0] for a in checked.peers})
        finally:
            lb.stop()
            peer.close()
            checked.close()
        return out

    def test_herd(self):
        o = self.observe("herd")
        self.assertEqual(o["plain"], ("200", "127.0.0.2", False))
        self.assertEqual(o["server wins"], ("200", "127.0.0.3", False))
        self.assertEqual(o["fixed port"][:2], ("200", "127.0.0.4"))
        self.assertEqual(o["usesrc addr"], ("200", "127.0.0.5", False))
        self.assertEqual(o["usesrc clientip"], ("200", "127.0.0.6", False))
        self.assertEqual(o["usesrc client"], ("200", "127.0.0.7", True))
        self.assertEqual(o["usesrc client, port taken"], ("503", None, None))
        self.assertEqual(o["checks from"], ["127.0.0.8"])

    @unittest.skipUnless(have_haproxy(), "haproxy is not installed")
    def test_parity_with_haproxy(self):
        self.assertEqual(self.observe("herd"), self.observe("haproxy"))


@unittest.skipUnless(have_haproxy(), "haproxy is not installed")
class SourceCheck(unittest.TestCase):
    """`-c` on the forms haproxy refuses: same exit status, same alerts."""

    BACKEND_FORMS = [
        "source",
        "source 1.2.3.4:1000-2000",
        "source 1.2.3.4:99999",
        "source foo.invalid",
        "source ::1",
        "source 1.2.3.4 usesrc",
        "source 1.2.3.4 usesrc foo.invalid",
        "source 1.2.3.4 usesrc 1.2.3.4:1-5",
        "source 1.2.3.4 foo",
        "source 1.2.3.4 interface",
        "source 0.0.0.0 usesrc client foo",
        "source 1.2.3.4 usesrc client usesrc clientip",
        "source 127.0.0.1:0",
    ]
    SERVER_FORMS = [
        "source",
        "source foo.invalid",
        "source 1.2.3.4 usesrc",
        "source 1.2.3.4 usesrc foo.invalid",
        "source 1.2.3.4 interface",
        "source 1.2.3.4 usesrc client check",
    ]

    def cfg(self, be_line, srv_opt):
        return ("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n"
                f"    timeout server 1s\nbackend b\n    {be_line}\n"
                f"    server s 127.0.0.1:80 {srv_opt}\n"
                f"frontend f\n    bind 127.0.0.1:{free_port()}\n    default_backend b\n")

    def test_messages_as_haproxy(self):
        texts = [self.cfg(f, "") for f in self.BACKEND_FORMS]
        texts += [self.cfg("", f) for f in self.SERVER_FORMS]
        for text in texts:
            with self.subTest(cfg=text.split("backend b\n", 1)[1].split("\nfrontend")[0]):
                self.assertEqual(check_diagnostics(HERD_BIN, text),
                                 check_diagnostics(HAPROXY_BIN, text))

    def test_frontend_and_defaults(self):
        # In defaults it goes to the backends; a frontend's is ignored with
        # haproxy's warning.
        text = ("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n"
                "    timeout server 1s\n    source 127.0.0.2\n"
                f"frontend f\n    bind 127.0.0.1:{free_port()}\n    source 127.0.0.3\n"
                "    default_backend b\nbackend b\n    server s 127.0.0.1:80\n")
        self.assertEqual(check_diagnostics(HERD_BIN, text), check_diagnostics(HAPROXY_BIN, text))


if __name__ == "__main__":
    unittest.main()
