"""`option tcp-check` with `tcp-check connect|send|send-binary|expect|comment`
end to end, on haproxy 2.6, herd and herd's reference mode
(test_proxy_parity.ENGINES) with one config: servers that answer, answer
wrong, stay silent, send a banner first or refuse the connection. For every
server, `show stat` (status, check_status, check_code, last_chk), the bytes
the check sent and HAProxy's state-change lines must be the facts below and
the same as real haproxy's."""
import re
import socket
import threading
import time
import unittest

from harness import LB, free_port, runtime_api
from test_proxy_parity import ENGINES, reference_of


class Peer:
    """A TCP server on loopback: `banner` is sent on accept, `reply` after
    the first bytes arrive; the connection is then closed (`close`) or held
    for two seconds. Records what each connection sent."""

    def __init__(self, reply=b"", banner=b"", close=False):
        self.reply, self.banner, self.close_after = reply, banner, close
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.stopped = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            c.settimeout(0.5)
            if self.banner:
                c.sendall(self.banner)
            try:
                data = c.recv(4096)
            except socket.timeout:
                data = b""
            if data:
                self.received.append(data)
            if self.reply and (data or not self.banner):
                c.sendall(self.reply)
            if not self.close_after:
                time.sleep(2)
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


# backend -> (peer key, tcp-check lines, status, check_status, check_code, last_chk);
# {refused} stands for a port nothing listens on. A DOWN server is checked
# again only after 10 s (downinter): HAProxy empties last_chk while a check
# runs, so its value is read between checks.
CASES = {
    "b_ok": ("pong", ["tcp-check connect", "tcp-check send PING\\r\\n",
                      "tcp-check expect string +PONG"],
             "UP", "L7OK", "0", "(tcp-check)"),
    "b_mismatch": ("err", ["tcp-check connect", "tcp-check send PING\\r\\n",
                           "tcp-check expect string +PONG"],
                   "DOWN", "L7RSP", "", "TCPCHK did not match content '+PONG' at step 3"),
    "b_timeout": ("silent", ["tcp-check send PING\\r\\n", "tcp-check expect string +PONG"],
                  "DOWN", "L7TOUT", "", " at step 2 of tcp-check (expect string '+PONG')"),
    "b_norules": ("pong", [], "UP", "L4OK", "", ""),
    "b_refused": ("refused", [], "DOWN", "L4CON",
                  "", "Connection refused at initial connection step of tcp-check"),
    "b_refused_port": ("pong", ["tcp-check connect port {refused}",
                                "tcp-check send PING\\r\\n"],
                       "DOWN", "L4CON", "",
                       "Connection refused at step 1 of tcp-check (connect port {refused})"),
    "b_comment_regex": ("err", ['tcp-check send-binary 50494e470d0a',
                                'tcp-check comment "want pong"',
                                "tcp-check expect rstring ^\\+PO"],
                        "DOWN", "L7RSP", "",
                        "TCPCHK did not match content (regex) at step 3 comment: want pong"),
    "b_negate": ("pong", ["tcp-check send PING\\r\\n", "tcp-check expect ! string +PONG"],
                 "DOWN", "L7RSP", "", "TCPCHK matched unwanted content '+PONG' at step 2"),
    "b_binary": ("pong", ["tcp-check send PING\\r\\n", "tcp-check expect binary 2b504f4e47"],
                 "UP", "L7OK", "0", "(tcp-check)"),
    "b_banner": ("hello", ["tcp-check expect string HELLO", "tcp-check send QUIT\\r\\n"],
                 "UP", "L7OK", "0", "(tcp-check)"),
    "b_two_connects": ("pong", ["tcp-check connect port {hello}",
                                "tcp-check expect string HELLO",
                                "tcp-check connect",
                                "tcp-check send PING\\r\\n",
                                "tcp-check expect string +PONG"],
                       "UP", "L7OK", "0", "(tcp-check)"),
    "b_connect_only": ("pong", ["tcp-check connect"], "UP", "L4OK", "", "(tcp-check)"),
    # `option tcp-check` and rules in a defaults section: a backend uses the
    # rules whether or not it says `option tcp-check` again; rules of a
    # defaults section without the option are not inherited (b_norules' one)
    "b_inherited": ("err", None, "DOWN", "L7RSP", "",
                    "TCPCHK did not match content '+PONG' at step 2"),
    "b_option_again": ("err", None, "DOWN", "L7RSP", "",
                       "TCPCHK did not match content '+PONG' at step 2"),
}


def cfg(port, cli_port, ports):
    out = [f"""
global
    stats socket ipv4@127.0.0.1:{cli_port} level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
    tcp-check send NOT-INHERITED\\r\\n
    tcp-check expect string NEVER
frontend f
    bind 127.0.0.1:{port}
    default_backend b_ok
"""]
    for name, (peer, rules, *_ ) in CASES.items():
        if rules is None:
            continue
        out.append(f"backend {name}\n    option tcp-check\n")
        out += [f"    {r.format(**ports)}\n" for r in rules]
        out.append(f"    server s 127.0.0.1:{ports[peer]} check inter 1s downinter 10s rise 1 fall 1\n")
    out.append(f"""defaults withrules
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
backend b_inherited from withrules
    server s 127.0.0.1:{ports['err']} check inter 1s downinter 10s rise 1 fall 1
backend b_option_again from withrules
    option tcp-check
    server s 127.0.0.1:{ports['err']} check inter 1s downinter 10s rise 1 fall 1
""")
    return "".join(out)


def stat_rows(cli_port):
    out = runtime_api(cli_port, "show stat", timeout=3)
    lines = out.splitlines()
    head = lines[0].lstrip("# ").split(",")
    rows = {}
    for line in lines[1:]:
        if line:
            f = dict(zip(head, line.split(",")))
            rows[f["pxname"], f["svname"]] = f
    return rows


def state_lines(output):
    """HAProxy's server state-change lines, without the pid and durations."""
    found = set()
    for line in output.splitlines():
        m = re.search(r"((?:Server|backend) \S+ (?:is (?:UP|DOWN)|has no server).*)", line)
        if m:
            found.add(re.sub(r"check duration: \d+ms", "check duration: Nms", m.group(1)))
    return sorted(found)


class TestTcpCheckParity(unittest.TestCase):
    def scenario(self, engine):
        peers = {"pong": Peer(b"+PONG\r\n"), "err": Peer(b"-ERR\r\n", close=True),
                 "silent": Peer(), "hello": Peer(banner=b"HELLO\r\n")}
        ports = {k: p.port for k, p in peers.items()}
        ports["refused"] = free_port()
        port, cli_port = free_port(), free_port()
        lb = LB(cfg(port, cli_port, ports), engine=engine, wait_ports=[port, cli_port])
        try:
            want = {n: c[2] for n, c in CASES.items()}
            end = time.time() + 8
            while True:
                rows = stat_rows(cli_port)
                got = {n: rows[n, "s"]["status"] for n in CASES}
                if got == want or time.time() > end:
                    break
                time.sleep(0.1)
            # Then the rows as the checks leave them: sampled until every
            # one reads as expected (up to 5 s; on a loaded machine a sample
            # can fall between two steps of a check, on either engine), the
            # last sample compared in the test.
            expect = {n: (c[2], c[3], c[4], c[5].format(**ports)) for n, c in CASES.items()}
            end = time.time() + 5
            while True:
                time.sleep(0.5)
                rows = stat_rows(cli_port)
                stat = {n: (rows[n, "s"]["status"], rows[n, "s"]["check_status"].lstrip("* "),
                            rows[n, "s"]["check_code"], rows[n, "s"]["last_chk"]) for n in CASES}
                if stat == expect or time.time() > end:
                    break
            return {
                "stat": stat,
                "sent": {k: sorted(set(p.received)) for k, p in peers.items()},
                "lines": state_lines(lb.output()),
                "ports": ports,
            }
        finally:
            lb.stop()
            for p in peers.values():
                p.stop()

    def test_tcp_check_like_haproxy(self):
        res = {e: self.scenario(e) for e in ENGINES}
        ref, want = reference_of(res)
        for engine, got in res.items():
            for name, (_, _, status, chk, code, info) in CASES.items():
                self.assertEqual(got["stat"][name],
                                 (status, chk, code, info.format(**got["ports"])),
                                 f"{engine}: {name}")
            self.assertEqual(got["sent"]["pong"], [b"PING\r\n"], engine)
            self.assertEqual(got["sent"]["hello"], [b"QUIT\r\n"], engine)
            self.assertIn("Server b_timeout/s is DOWN, reason: Layer7 timeout, info: \" at step 2 "
                          "of tcp-check (expect string '+PONG')\", check duration: Nms. 0 active "
                          "and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining "
                          "in queue.", got["lines"], engine)
            if ref is not None and engine != ref:
                # the refused port differs between runs: compare without it
                norm = lambda ls, p: [l.replace(str(p["refused"]), "R") for l in ls]
                self.assertEqual(norm(got["lines"], got["ports"]), norm(want["lines"], want["ports"]),
                                 f"{engine} vs {ref}")


if __name__ == "__main__":
    unittest.main()
