"""Server `socks4 <addr>:<port>` and `check-via-socks4`, against haproxy 2.6.

A small SOCKS4 proxy (asyncio, in this test) records each CONNECT request
(its 16 bytes as received: version 4, command 1, port, address, user id),
answers 0x5A (granted) or, for one destination, 0x5B (refused), then relays
the bytes. Behind it an echo server answers TCP traffic and HTTP requests.
Through both engines: `mode tcp` and `mode http` traffic reaches the server
through the proxy, a refused CONNECT fails the connection (503 in HTTP),
health checks go through the proxy only with `check-via-socks4`, and the
server's state in the stats CSV is the same. The config these keywords come
from is tests/configs/census/05-haproxy-socks4.cfg. `herd -c` gives
haproxy's messages for the forms haproxy refuses.
"""
import asyncio
import subprocess
import threading
import time
import unittest

from harness import (HAPROXY_BIN, HERD_BIN, LB, check_diagnostics, free_port, have_haproxy,
                     raw)


class Socks4World:
    """The SOCKS4 proxy and the echo server, on one asyncio loop in a thread."""

    def __init__(self):
        self.requests = []     # the bytes of each CONNECT request
        self.relayed = set()   # local ports of the proxy's connections to servers
        self.refuse_port = 0   # CONNECTs to this port are answered 0x5B
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.proxy = self.loop.run_until_complete(
            asyncio.start_server(self._socks, "127.0.0.1", 0))
        self.echo = self.loop.run_until_complete(
            asyncio.start_server(self._echo, "127.0.0.1", 0))
        self.proxy_port = self.proxy.sockets[0].getsockname()[1]
        self.echo_port = self.echo.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _socks(self, reader, writer):
        try:
            head = await reader.readexactly(8)
            user = await reader.readuntil(b"\0")
            req = head + user
            self.requests.append(req)
            port = int.from_bytes(head[2:4], "big")
            ip = ".".join(str(b) for b in head[4:8])
            if head[0] != 4 or head[1] != 1 or port == self.refuse_port:
                writer.write(b"\0\x5b" + b"\0" * 6)
                await writer.drain()
                writer.close()
                return
            up_r, up_w = await asyncio.open_connection(ip, port)
            self.relayed.add(up_w.get_extra_info("sockname")[1])
            writer.write(b"\0\x5a" + b"\0" * 6)
            await writer.drain()

            async def pipe(r, w):
                try:
                    while True:
                        d = await r.read(65536)
                        if not d:
                            break
                        w.write(d)
                        await w.drain()
                finally:
                    w.close()

            await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            writer.close()

    async def _echo(self, reader, writer):
        try:
            data = await reader.read(65536)
            via = b"via socks" if writer.get_extra_info("peername")[1] in self.relayed \
                else b"direct"
            if data.startswith(b"GET "):
                body = b"echo " + via
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
                             % len(body) + body)
            elif data:
                writer.write(b"echo " + via + b": " + data)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def csv_states(port):
    csv = subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/s;csv"],
                         capture_output=True, timeout=10).stdout.decode()
    head = csv.splitlines()[0].lstrip("# ").split(",")
    out = {}
    for r in csv.splitlines()[1:]:
        f = r.split(",")
        if len(f) > 2 and f[1] not in ("FRONTEND", "BACKEND"):
            # ("* " before a check status: a check is under way as the row is
            # read, on either engine; a timing, not a state.)
            out[f"{f[0]}/{f[1]}"] = (f[head.index("status")],
                                     f[head.index("check_status")].lstrip("* "))
    return out


class Socks4Parity(unittest.TestCase):
    def observe(self, engine):
        w = Socks4World()
        closed = free_port()  # nothing listens here: a refused destination
        w.refuse_port = closed
        pt, ph, pr, pc, ps = (free_port() for _ in range(5))
        via = f"socks4 127.0.0.1:{w.proxy_port}"
        cfg = f"""defaults
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    retries 1
listen tcp
    mode tcp
    bind 127.0.0.1:{pt}
    option tcp-check
    server s 127.0.0.1:{w.echo_port} {via} check-via-socks4 check inter 300
listen http
    mode http
    bind 127.0.0.1:{ph}
    server s 127.0.0.1:{w.echo_port} {via} check inter 300
listen refused
    mode http
    bind 127.0.0.1:{pr}
    server s 127.0.0.1:{closed} {via}
listen checkref
    mode tcp
    bind 127.0.0.1:{pc}
    server s 127.0.0.1:{closed} {via} check-via-socks4 check inter 300
listen st
    mode http
    bind 127.0.0.1:{ps}
    stats enable
    stats uri /s
"""
        lb = LB(cfg, engine=engine, wait_ports=[pt, ph, pr, pc, ps])
        out = {}
        try:
            time.sleep(1.5)  # a few checks
            out["tcp"] = raw(pt, b"hello", until_close=True)
            out["http"] = raw(ph, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                              until_close=True).split(b"\r\n")[0] + b" " + \
                raw(ph, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                    until_close=True).split(b"\r\n\r\n", 1)[-1]
            out["refused"] = raw(pr, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n",
                                 until_close=True).split(b"\r\n")[0]
            # What the proxy received: the distinct requests (checks included).
            names = {closed: "closed", w.echo_port: "echo"}
            out["requests"] = sorted({(r[:2], names.get(int.from_bytes(r[2:4], "big")), r[4:])
                                      for r in w.requests})
            out["states"] = csv_states(ps)
        finally:
            lb.stop()
            w.close()
        return out

    def test_herd(self):
        o = self.observe("herd")
        self.assertEqual(o["tcp"], b"echo via socks: hello")
        self.assertEqual(o["http"], b"HTTP/1.1 200 OK echo via socks")
        self.assertEqual(o["refused"], b"HTTP/1.1 503 Service Unavailable")
        self.assertEqual(o["requests"], [(b"\x04\x01", "closed", b"\x7f\0\0\x01HAProxy\0"),
                                         (b"\x04\x01", "echo", b"\x7f\0\0\x01HAProxy\0")])
        self.assertEqual(o["states"]["tcp/s"], ("UP", "L4OK"))
        self.assertEqual(o["states"]["http/s"], ("UP", "L4OK"))  # checked directly
        self.assertEqual(o["states"]["checkref/s"], ("DOWN", "SOCKERR"))

    @unittest.skipUnless(have_haproxy(), "haproxy is not installed")
    def test_parity_with_haproxy(self):
        self.assertEqual(self.observe("herd"), self.observe("haproxy"))


@unittest.skipUnless(have_haproxy(), "haproxy is not installed")
class Socks4Check(unittest.TestCase):
    FORMS = ["socks4", "socks4 127.0.0.1", "socks4 foo.invalid:1080", "socks4 127.0.0.1:1080",
             "check-via-socks4", "socks4 127.0.0.1:99999"]

    def test_messages_as_haproxy(self):
        for form in self.FORMS:
            text = ("defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n"
                    "    timeout server 1s\nbackend b\n"
                    f"    server s 127.0.0.1:80 {form}\n"
                    f"frontend f\n    bind 127.0.0.1:{free_port()}\n    default_backend b\n")
            with self.subTest(form=form):
                self.assertEqual(check_diagnostics(HERD_BIN, text),
                                 check_diagnostics(HAPROXY_BIN, text))


if __name__ == "__main__":
    unittest.main()
