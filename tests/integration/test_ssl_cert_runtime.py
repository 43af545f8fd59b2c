"""The runtime API's certificate commands (`show/set/commit/abort/new/del
ssl cert`, with `set`'s `<<` payload), compared with haproxy 2.6: the
replies line for line, what new TLS connections are served after a commit, and a rotation
under load (keep-alive and new-connection TLS clients) that loses no
request on either engine."""

import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
import unittest

from harness import LB, Backend, free_port, have_haproxy, runtime_api as cli
from test_tls import CURL, OPENSSL, make_pki


def der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def served_cert(port):
    """The DER certificate a new TLS connection without SNI is served."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            return s.getpeercert(binary_form=True)


CFG = """
global
    stats socket {d}/admin.sock level admin
    stats socket {d}/oper.sock level operator
    stats socket {d}/user.sock level user
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend f
    bind 127.0.0.1:{port} ssl crt {d}/site.pem crt {d}/b.pem
    default_backend b
backend b
    server s1 127.0.0.1:{be}
"""


@unittest.skipUnless(OPENSSL and CURL and have_haproxy(), "openssl, curl and haproxy are needed")
class SslCertRuntime(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="herd-sslcert-")
        make_pki(cls.pki)
        cls.backend = Backend("s1")

    @classmethod
    def tearDownClass(cls):
        cls.backend.close()
        shutil.rmtree(cls.pki, ignore_errors=True)

    def start(self, engine):
        """A fresh folder holding site.pem (a copy of a.pem), b.pem and the
        sockets, and the engine serving it."""
        d = tempfile.mkdtemp(prefix=f"sslcert-{engine}-", dir=self.pki)
        for n in ("b.pem",):
            shutil.copy(os.path.join(self.pki, n), d)
        shutil.copy(os.path.join(self.pki, "a.pem"), os.path.join(d, "site.pem"))
        port = free_port()
        lb = LB(CFG.format(d=d, port=port, be=self.backend.port), engine=engine,
                wait_ports=[port])
        self.addCleanup(lb.stop)
        return d, port, lb

    def read(self, name):
        with open(os.path.join(self.pki, name)) as f:
            return f.read()

    def transcript(self, engine, steps_for):
        """Runs steps_for(d, adm)'s (socket, command) steps on a fresh
        engine: the (command, reply) pairs with the folder as <d>, and the
        certificate new connections got before and after."""
        d, port, _ = self.start(engine)
        steps = steps_for(d, os.path.join(d, "admin.sock"))
        before = served_cert(port)
        out = []
        for sock, text in steps:
            out.append((text.split("\n")[0].replace(d, "<d>"), cli(sock, text).replace(d, "<d>")))
        after = served_cert(port)
        return out, before, after

    def compare(self, steps_for):
        """Both engines' transcripts; herd's replies must be haproxy's."""
        got = {e: self.transcript(e, steps_for) for e in ("haproxy", "herd")}
        for (cmd, want), (_, have) in zip(got["haproxy"][0], got["herd"][0]):
            self.assertEqual(have, want, cmd)
        self.assertEqual(len(got["haproxy"][0]), len(got["herd"][0]))
        return got

    def replace_steps(self, d, adm):
        a_crt, b_crt, b_key = self.read("a.crt"), self.read("b.crt"), self.read("b.key")
        b_pem = self.read("b.pem")
        site = f"{d}/site.pem"
        return [
            (adm, "show ssl cert\n"),
            (adm, f"show ssl cert {site}\n"),
            (adm, f"show ssl cert {d}/nosuch.pem\n"),
            (adm, f"commit ssl cert {site}\n"),
            (adm, f"abort ssl cert {site}\n"),
            (adm, "set ssl cert\n"),
            (adm, "commit ssl cert\n"),
            (adm, f"set ssl cert {d}/other.pem <<\n{b_pem}\n"),
            (adm, f"set ssl cert {site} <<\nnot a certificate\n\n"),
            (adm, f"set ssl cert {site} <<\n{b_pem}\n"),
            (adm, "show ssl cert\n"),
            (adm, f"show ssl cert *{site}\n"),
            (adm, f"set ssl cert {site} <<\n{b_pem}\n"),
            (adm, f"abort ssl cert {d}/other.pem\n"),
            (adm, f"commit ssl cert {d}/other.pem\n"),
            (adm, f"commit ssl cert {site}\n"),
            (adm, f"show ssl cert {site}\n"),
            (adm, "show ssl cert\n"),
            # A certificate without its key, then a key that is not its own.
            (adm, f"set ssl cert {site} <<\n{a_crt}\n"),
            (adm, f"commit ssl cert {site}\n"),
            (adm, f"abort ssl cert {site}\n"),
            (adm, f"set ssl cert {site} <<\n{a_crt}{b_key}\n"),
            (adm, f"commit ssl cert {site}\n"),
            (adm, f"abort ssl cert {site}\n"),
            # Levels.
            (os.path.join(d, "oper.sock"), f"show ssl cert {site}\n"),
            (os.path.join(d, "oper.sock"), f"set ssl cert {site} <<\n{b_crt}\n"),
            (os.path.join(d, "oper.sock"), f"abort ssl cert {site}\n"),
            (os.path.join(d, "user.sock"), "show ssl cert\n"),
        ]

    def test_replies_and_served_certificate_as_haproxy(self):
        got = self.compare(self.replace_steps)
        for engine, (_, before, after) in got.items():
            # New connections get the committed certificate (b), not a's.
            self.assertEqual(before, der(os.path.join(self.pki, "a.crt")), engine)
            self.assertEqual(after, der(os.path.join(self.pki, "b.crt")), engine)
        # The transcript holds the commit's success, so the comparison above
        # cannot pass on two engines that both refuse everything.
        self.assertEqual(sum("Success!" in reply for _, reply in got["herd"][0]), 1)

    def new_del_steps(self, d, adm):
        b_crt, b_pem = self.read("b.crt"), self.read("b.pem")
        site, new = f"{d}/site.pem", f"{d}/new.pem"
        oper = os.path.join(d, "oper.sock")
        return [
            (adm, "new ssl cert\n"),
            (adm, "del ssl cert\n"),
            (adm, f"new ssl cert {new}\n"),
            (adm, f"new ssl cert {new}\n"),
            (adm, f"new ssl cert {site}\n"),
            (adm, "show ssl cert\n"),
            (adm, f"show ssl cert {new}\n"),
            (oper, f"show ssl cert {new}\n"),
            (adm, f"del ssl cert {site}\n"),
            (adm, f"del ssl cert {d}/nosuch.pem\n"),
            # Filling the new entry: no transaction, a certificate without
            # its key, then the whole file.
            (adm, f"commit ssl cert {new}\n"),
            (adm, f"set ssl cert {new} <<\n{b_crt}\n"),
            (adm, f"commit ssl cert {new}\n"),
            (adm, f"del ssl cert {new}\n"),
            (adm, f"set ssl cert {new} <<\n{b_pem}\n"),
            (adm, "show ssl cert\n"),
            (adm, f"show ssl cert *{new}\n"),
            (adm, f"show ssl cert {new}\n"),
            (adm, f"commit ssl cert {new}\n"),
            (adm, f"show ssl cert {new}\n"),
            (adm, "show ssl cert\n"),
            # A transaction on a file a bind uses.
            (adm, f"set ssl cert {site} <<\n{b_pem}\n"),
            (adm, f"del ssl cert {site}\n"),
            (adm, f"del ssl cert {new}\n"),
            (adm, f"abort ssl cert {site}\n"),
            (adm, f"del ssl cert {new}\n"),
            (adm, f"show ssl cert {new}\n"),
            (adm, "show ssl cert\n"),
            # An entry deleted while empty; names sort as haproxy's tree.
            (adm, f"new ssl cert {d}/x.pem\n"),
            (adm, "new ssl cert a\n"),
            (adm, "new ssl cert *star.pem\n"),
            (adm, "show ssl cert\n"),
            (adm, f"del ssl cert {d}/x.pem\n"),
            (adm, f"del ssl cert {d}/x.pem\n"),
            (adm, "del ssl cert *star.pem\n"),
            # Levels.
            (oper, f"new ssl cert {d}/y.pem\n"),
            (oper, "del ssl cert a\n"),
            (adm, "show ssl cert\n"),
        ]

    def test_new_and_del_as_haproxy(self):
        got = self.compare(self.new_del_steps)
        a = der(os.path.join(self.pki, "a.crt"))
        for engine, (_, before, after) in got.items():
            # No bind serves a new certificate, even once filled.
            self.assertEqual((before, after), (a, a), engine)
        # The transcript holds each command's success (both engines
        # refusing everything cannot pass).
        replies = [reply for _, reply in got["herd"][0]]
        self.assertEqual(sum("New empty certificate store" in r for r in replies), 4)
        self.assertEqual(sum("Success!" in r for r in replies), 1)
        self.assertEqual(sum(r.endswith("' deleted!\n\n") for r in replies), 3)

    def test_help_lists_the_ssl_cert_commands_as_haproxy(self):
        lines = {}
        for engine in ("haproxy", "herd"):
            d, _, _ = self.start(engine)
            help_ = cli(os.path.join(d, "admin.sock"), "help\n")
            lines[engine] = [ln for ln in help_.splitlines() if " ssl cert " in ln]
        self.assertEqual(len(lines["haproxy"]), 6)
        self.assertEqual(lines["herd"], lines["haproxy"])

    def rotate_under_load(self, engine):
        """Keep-alive and new-connection TLS clients for ~3 s; the
        certificate is replaced after 1 s. Returns (failed, requests, certs
        seen by new connections before and after the commit, whether the
        keep-alive connection opened before the commit served after it)."""
        d, port, _ = self.start(engine)
        adm = os.path.join(d, "admin.sock")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        stop = time.time() + 3.0
        committed = threading.Event()
        stats = {"failed": 0, "requests": 0, "before": set(), "after": set(), "ka_after": 0}
        lock = threading.Lock()
        req = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"

        def read_response(s):
            buf = b""
            while b"\r\n\r\n" not in buf:
                d_ = s.recv(65536)
                if not d_:
                    raise ConnectionError("closed")
                buf += d_
            head, _, body = buf.partition(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            while len(body) < n:
                d_ = s.recv(65536)
                if not d_:
                    raise ConnectionError("closed")
                body += d_
            return head.split(b" ")[1]

        def keepalive():
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw) as s:
                    while time.time() < stop:
                        try:
                            s.sendall(req)
                            ok = read_response(s) == b"200"
                        except OSError:
                            ok = False
                        with lock:
                            stats["requests"] += 1
                            stats["failed"] += not ok
                            if ok and committed.is_set():
                                stats["ka_after"] += 1
                        if not ok:
                            return
                        time.sleep(0.01)

        def newconn():
            while time.time() < stop:
                was_committed = committed.is_set()
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                        with ctx.wrap_socket(raw) as s:
                            cert = s.getpeercert(binary_form=True)
                            s.sendall(req)
                            ok = read_response(s) == b"200"
                except OSError:
                    ok, cert = False, None
                with lock:
                    stats["requests"] += 1
                    stats["failed"] += not ok
                    if ok and committed.is_set() == was_committed:
                        stats["after" if was_committed else "before"].add(cert)

        threads = [threading.Thread(target=keepalive)] + [
            threading.Thread(target=newconn) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        reply = cli(adm, f"set ssl cert {d}/site.pem <<\n{self.read('b.pem')}\n")
        reply += cli(adm, f"commit ssl cert {d}/site.pem\n")
        committed.set()
        for t in threads:
            t.join()
        return reply, stats

    def test_rotation_under_load_loses_nothing(self):
        a, b = der(os.path.join(self.pki, "a.crt")), der(os.path.join(self.pki, "b.crt"))
        for engine in ("haproxy", "herd"):
            reply, st = self.rotate_under_load(engine)
            self.assertIn("Success!", reply, engine)
            self.assertGreater(st["requests"], 50, (engine, st))
            self.assertEqual(st["failed"], 0, (engine, st))
            self.assertEqual(st["before"], {a}, engine)
            self.assertEqual(st["after"], {b}, engine)
            # The connection made before the commit carried on after it.
            self.assertGreater(st["ka_after"], 0, (engine, st))


if __name__ == "__main__":
    unittest.main()
