"""Active health checks end to end, on haproxy 2.6, herd and herd's reference
mode (test_proxy_parity.ENGINES) with one config: the check bytes the server
receives, DOWN after `fall` failures with traffic moving away, UP again after
`rise` successes, statuses in `show stat` (the config's stats socket: in
reference mode haproxy's own), and the state-change lines HAProxy prints.
Every engine must show HAProxy's facts, and the same as real haproxy."""
import time
import unittest

from harness import LB, Backend, free_port, get, runtime_api, server_of
from test_proxy_parity import ENGINES, reference_of


def show_stat(cli_port):
    out = runtime_api(cli_port, "show stat", timeout=3)
    rows = {}
    for line in out.splitlines():
        if line and not line.startswith("#"):
            f = line.split(",")
            rows[(f[0], f[1])] = f
    return rows


def cfg(port, cli_port, backends):
    # fastinter 1000: a server in transition (UP 1/2, DOWN 1/2) stays there a
    # whole second, so the poll below sees the transient state even on a
    # loaded machine; steady states are checked every 200 ms.
    servers = "\n".join(
        f"    server {b.name} {b.addr} check inter 200 fastinter 1000 rise 2 fall 2" for b in backends)
    return f"""
global
    stats socket ipv4@127.0.0.1:{cli_port} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend f
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    option httpchk HEAD /
{servers}
"""


class TestHealthParity(unittest.TestCase):
    def wait_status(self, cli_port, srv, want, timeout=5):
        end = time.time() + timeout
        st = None
        while time.time() < end:
            st = show_stat(cli_port)[("nodes", srv)][17]
            if st == want:
                return time.time()
            time.sleep(0.05)
        self.fail(f"{srv} status {st!r}, wanted {want!r}")

    def scenario(self, engine):
        b1, b2 = Backend("s1"), Backend("s2")
        port, cli_port = free_port(), free_port()
        lb = LB(cfg(port, cli_port, [b1, b2]), engine=engine, wait_ports=[port, cli_port])
        try:
            self.wait_status(cli_port, "s1", "UP")
            checks = [h for h in b1.requests if h.startswith(b"HEAD")]
            b2.down = True  # answers 503 from now on
            t0 = time.time()
            self.wait_status(cli_port, "s2", "UP 1/2")
            t_down = self.wait_status(cli_port, "s2", "DOWN") - t0
            row = show_stat(cli_port)[("nodes", "s2")]
            served = {server_of(get(port)[2]) for _ in range(6)}
            b2.down = False
            t1 = time.time()
            self.wait_status(cli_port, "s2", "DOWN 1/2")
            t_up = self.wait_status(cli_port, "s2", "UP") - t1
            return {
                "check_bytes": checks[0] if checks else None,
                # one inter (first failure) + one fastinter (second), plus slack
                "down_within": t_down < 2.5,
                "up_within": t_up < 2.5,
                "check_status_down": (row[36], row[37]),
                "served_while_down": sorted(served),
                "log": lb.output(),
            }
        finally:
            lb.stop()
            b1.close()
            b2.close()

    def test_checks_down_and_up_like_haproxy(self):
        res = {e: self.scenario(e) for e in ENGINES}
        ref, want = reference_of(res)
        for engine, got in res.items():
            self.assertEqual(got["check_bytes"], b"HEAD / HTTP/1.0\r\n\r\n", engine)
            self.assertTrue(got["down_within"], engine)
            self.assertTrue(got["up_within"], engine)
            self.assertEqual(got["check_status_down"], ("L7STS", "503"), engine)
            self.assertEqual(got["served_while_down"], ["s1"], engine)
            self.assertIn("Server nodes/s2 is DOWN, reason: Layer7 wrong status, code: 503", got["log"], engine)
            self.assertIn("Server nodes/s2 is UP, reason: Layer7 check passed, code: 200", got["log"], engine)
            if ref is not None and engine != ref:
                for k in ("check_bytes", "down_within", "up_within", "check_status_down", "served_while_down"):
                    self.assertEqual(got[k], want[k], f"{engine} vs {ref}: {k}")


class TestPassiveHealthParity(unittest.TestCase):
    """`observe layer7 error-limit 2 on-error mark-down`: two 5xx answers from
    a server mark it DOWN long before its next active check (inter 10s), and
    the backup takes over."""

    def scenario(self, engine):
        b1, b2 = Backend("s1"), Backend("s2")
        port, cli_port = free_port(), free_port()
        text = cfg(port, cli_port, [b1, b2]).replace(
            "check inter 200 fastinter 1000 rise 2 fall 2",
            "check inter 10s rise 2 fall 2 observe layer7 error-limit 2 on-error mark-down").replace(
            f"server s1 {b1.addr} check", f"server s1 {b1.addr} backup check")
        lb = LB(text, engine=engine, wait_ports=[port, cli_port])
        try:
            # Servers start "UP 1/2" (usable); the first active checks are
            # spread over the 10 s interval, so only passive health can act here.
            # s1 is a backup: s2 takes every request until it is marked DOWN.
            for _ in range(2):
                get(port, "/?st=500")
            t0 = time.time()
            TestHealthParity.wait_status(self, cli_port, "s2", "DOWN", timeout=3)
            down_after = time.time() - t0
            served = {server_of(get(port)[2]) for _ in range(6)}
            return down_after < 1.0, sorted(served)
        finally:
            lb.stop()
            b1.close()
            b2.close()

    def test_observe_marks_down(self):
        res = {e: self.scenario(e) for e in ENGINES}
        for engine, got in res.items():
            self.assertEqual(got, (True, ["s1"]), engine)


if __name__ == "__main__":
    unittest.main()
