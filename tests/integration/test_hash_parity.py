"""Hashing and slowstart against haproxy 2.6, on the same echo servers.

* TestHashParity: `balance uri`, `url_param`, `hdr(<name>)` (and
  `use_domain_only`) and `source` under `hash-type map-based|consistent`
  with each hash function, with and without `avalanche`: for many keys herd
  and haproxy pick the same server; a request without the key (url_param,
  hdr) falls back to round robin in the same order; `set server ... state
  maint` on one server moves the same keys in both, and with `consistent`
  only that server's keys (the share moved is printed for
  docs/configuration.md).
* TestSlowstartParity: a server with `slowstart 4s` taken from maint to
  ready under a steady request stream: its share in one-second buckets and
  the `show stat` weight and throttle columns and `show servers state`'s
  srv_op_state during the ramp, in herd and haproxy; the same when health
  checks bring the server back UP.
"""
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import LB, Backend, Client, free_port, have_haproxy, runtime_api, server_of  # noqa: E402

# (name, hash-type line) pairs; every balance below runs with each.
HASH_TYPES = [
    ("map", "hash-type map-based"),
    ("map_djb2", "hash-type map-based djb2"),
    ("map_wt6", "hash-type map-based wt6"),
    ("map_crc32_aval", "hash-type map-based crc32 avalanche"),
    ("map_sdbm_aval", "hash-type map-based sdbm avalanche"),
    ("cons", "hash-type consistent"),
    ("cons_sdbm", "hash-type consistent sdbm"),
    ("cons_djb2", "hash-type consistent djb2"),
    ("cons_wt6_aval", "hash-type consistent wt6 avalanche"),
    ("cons_crc32", "hash-type consistent crc32"),
    ("cons_crc32_aval", "hash-type consistent crc32 avalanche"),
]
BALANCES = [
    ("uri", "balance uri"),
    ("param", "balance url_param k"),
    ("hdr", "balance hdr(X-Key)"),
    ("dom", "balance hdr(host) use_domain_only"),
    ("src", "balance source"),
]
WEIGHTS = [1, 2, 1, 3]
NKEYS = 150
NSOURCES = 40


def config(ports, api, addrs):
    out = [
        "global",
        f"    stats socket ipv4@127.0.0.1:{api} level admin",
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
    ]
    for (bname, bline) in BALANCES:
        for (hname, hline) in HASH_TYPES:
            name = f"{bname}_{hname}"
            out += [f"listen {name}", f"    bind 127.0.0.1:{ports[name]}", f"    {bline}",
                    f"    {hline}"]
            for i, a in enumerate(addrs):
                out.append(f"    server s{i + 1} {a} weight {WEIGHTS[i]}")
    return "\n".join(out) + "\n"


def request_for(bname, key):
    if bname == "uri":
        return f"/k/{key}?ignored={key}", {}
    if bname == "param":
        return f"/p?a=1&k={key}&z=2", {}
    if bname == "hdr":
        return "/", {"X-Key": key}
    if bname == "dom":
        return "/", {"Host": f"www.{key}.example"}
    return "/", {}


def fetch(port, path, headers, source="127.0.0.1"):
    """One GET on a keep-alive client bound to `source`; the server's name."""
    c = Client.__new__(Client)
    c.s = socket.socket()
    c.s.bind((source, 0))
    c.s.settimeout(10)
    c.s.connect(("127.0.0.1", port))
    c.buf = b""
    try:
        hdrs = {"host": "t"}
        hdrs.update({k.lower(): v for k, v in headers.items()})
        h = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        st, _, body = c.request(f"GET {path} HTTP/1.1\r\n{h}\r\n".encode())
        return server_of(body) if st == 200 else f"status {st}"
    finally:
        c.s.close()


def fetch_many(port, reqs):
    """Sequential requests on one keep-alive connection; server names."""
    c = Client(port)
    out = []
    try:
        for path, headers in reqs:
            hdrs = {"host": "t"}
            hdrs.update({k.lower(): v for k, v in headers.items()})
            h = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
            st, _, body = c.request(f"GET {path} HTTP/1.1\r\n{h}\r\n".encode())
            out.append(server_of(body) if st == 200 else f"status {st}")
    finally:
        c.close()
    return out


def choices(port, bname):
    keys = [f"key{i}x{i * 7919 % 1000}" for i in range(NKEYS)]
    if bname == "src":
        return {f"127.0.{i // 200}.{i % 200 + 2}": fetch(port, "/", {}, f"127.0.{i // 200}.{i % 200 + 2}")
                for i in range(NSOURCES)}
    return dict(zip(keys, fetch_many(port, [request_for(bname, k) for k in keys])))


@unittest.skipUnless(have_haproxy(), "haproxy not installed")
class TestHashParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.backends = [Backend(f"s{i + 1}") for i in range(len(WEIGHTS))]
        addrs = [b.addr for b in cls.backends]
        cls.ports, cls.apis, cls.lbs = {}, {}, {}
        names = [f"{b}_{h}" for b, _ in BALANCES for h, _ in HASH_TYPES]
        for engine in ("haproxy", "herd"):
            ports = {n: free_port() for n in names}
            api = free_port()
            cls.ports[engine], cls.apis[engine] = ports, api
            cls.lbs[engine] = LB(config(ports, api, addrs), engine=engine,
                                 wait_ports=list(ports.values()))

    @classmethod
    def tearDownClass(cls):
        for lb in cls.lbs.values():
            lb.stop()
        for b in cls.backends:
            b.close()

    def both(self, name, fn):
        return {e: fn(self.ports[e][name]) for e in ("haproxy", "herd")}

    def set_state(self, name, server, state):
        for e in ("haproxy", "herd"):
            runtime_api(self.apis[e], f"set server {name}/{server} state {state}")

    def test_same_server_for_every_key(self):
        for bname, _ in BALANCES:
            for hname, _ in HASH_TYPES:
                name = f"{bname}_{hname}"
                with self.subTest(name):
                    got = self.both(name, lambda p: choices(p, bname))
                    self.assertEqual(got["herd"], got["haproxy"])
                    # The keys spread (not all on one server; consecutive
                    # source addresses without avalanche sit side by side
                    # on a consistent ring).
                    if bname != "src":
                        self.assertGreater(len(set(got["haproxy"].values())), 1)

    def test_missing_key_falls_back_to_round_robin(self):
        # Fresh backends' round robin starts at the same place in both.
        for bname in ("param", "hdr"):
            for hname in ("map", "cons_djb2"):
                name = f"{bname}_{hname}"
                with self.subTest(name):
                    reqs = [("/p?other=1", {}) if bname == "param" else ("/", {})] * 14
                    got = self.both(name, lambda p: fetch_many(p, reqs))
                    self.assertEqual(got["herd"], got["haproxy"])
                    self.assertGreater(len(set(got["haproxy"])), 2)

    def test_removing_a_server_moves_the_same_keys(self):
        shares = {}
        for hname in ("map", "cons", "cons_crc32"):
            name = f"hdr_{hname}"
            before = self.both(name, lambda p: choices(p, "hdr"))
            self.set_state(name, "s2", "maint")
            try:
                after = self.both(name, lambda p: choices(p, "hdr"))
            finally:
                self.set_state(name, "s2", "ready")
            self.assertEqual(after["herd"], after["haproxy"], hname)
            b, a = before["haproxy"], after["haproxy"]
            moved = [k for k in b if a[k] != b[k]]
            on_s2 = [k for k in b if b[k] == "s2"]
            shares[hname] = (len(moved) / len(b), len(on_s2) / len(b))
            if hname.startswith("cons"):
                # Only the removed server's keys move.
                self.assertEqual(sorted(moved), sorted(on_s2))
            self.assertNotIn("s2", a.values())
        for h, (moved, own) in shares.items():
            print(f"\n[hash parity] hdr {h}: s2 (weight 2 of 7) held {own:.0%} of "
                  f"{NKEYS} keys; removing it moved {moved:.0%}", file=sys.stderr)


SLOW_HEAD = """
global
    stats socket ipv4@127.0.0.1:{api} level admin
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
listen ss
    bind 127.0.0.1:{port}
    balance roundrobin
"""

SLOW_CFG = SLOW_HEAD + """    server s1 {a1} weight 10
    server s2 {a2} weight 10 slowstart 4s disabled
"""

# The same ramp after health checks bring the server back UP.
SLOW_CHECK_CFG = SLOW_HEAD + """    option httpchk GET /health
    # `timeout check` and fall 2: one slow answer on a loaded machine must
    # not mark s2 DOWN mid-ramp (which restarts the slowstart).
    timeout check 2s
    server s1 {a1} weight 10
    server s2 {a2} weight 10 slowstart 4s check inter 100 rise 1 fall 2
"""


class Stream(threading.Thread):
    """Sequential GETs on one keep-alive connection, (time, server) each,
    until stopped (bounded to `limit` seconds)."""

    def __init__(self, port, limit=20):
        super().__init__(daemon=True)
        self.port, self.limit = port, limit
        self.picks = []
        self.stop_ev = threading.Event()

    def run(self):
        c = Client(self.port)
        end = time.time() + self.limit
        try:
            while not self.stop_ev.is_set() and time.time() < end:
                st, _, body = c.request(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
                self.picks.append((time.monotonic(), server_of(body) if st == 200 else str(st)))
                time.sleep(0.002)
        finally:
            c.close()


def op_state(api, server):
    """srv_op_state of `server` in `show servers state ss`."""
    for line in runtime_api(api, "show servers state ss").splitlines():
        f = line.split()
        if len(f) > 5 and f[1] == "ss" and f[3] == server:
            return f[5]
    return None


def stat_row(api, server):
    out = runtime_api(api, "show stat")
    head = out.splitlines()[0].lstrip("# ").split(",")
    for line in out.splitlines()[1:]:
        f = line.split(",")
        if len(f) > 1 and f[0] == "ss" and f[1] == server:
            return dict(zip(head, f))
    return {}


@unittest.skipUnless(have_haproxy(), "haproxy not installed")
class TestSlowstartParity(unittest.TestCase):
    def scenario(self, engine, backends, by_checks=False):
        port, api = free_port(), free_port()
        cfg = SLOW_CHECK_CFG if by_checks else SLOW_CFG
        lb = LB(cfg.format(port=port, api=api, a1=backends[0].addr, a2=backends[1].addr),
                engine=engine, wait_ports=[port])
        weights = []
        try:
            if by_checks:
                backends[1].down = True
                end = time.monotonic() + 5
                while stat_row(api, "s2").get("status", "").split(" ")[0] != "DOWN":
                    self.assertLess(time.monotonic(), end, f"{engine}: s2 never went DOWN")
                    time.sleep(0.05)
            s = Stream(port)
            s.start()
            time.sleep(1.0)
            if by_checks:
                backends[1].down = False
                end = time.monotonic() + 5
                while stat_row(api, "s2").get("status", "").split(" ")[0] != "UP":
                    self.assertLess(time.monotonic(), end, f"{engine}: s2 never came UP")
                    time.sleep(0.02)
                t0 = time.monotonic()
            else:
                t0 = time.monotonic()
                runtime_api(api, "set server ss/s2 state ready")
            while time.monotonic() - t0 < 6.0:
                row = stat_row(api, "s2")
                weights.append((time.monotonic() - t0, row.get("weight"), row.get("status"),
                                row.get("throttle"), op_state(api, "s2")))
                time.sleep(0.2)
            s.stop_ev.set()
            s.join(10)
        finally:
            lb.stop()
        buckets = []
        for k in range(6):
            picks = [srv for t, srv in s.picks if t0 + k <= t < t0 + k + 1]
            buckets.append(picks.count("s2") / max(1, len(picks)))
        return buckets, weights

    def test_ramp_matches_haproxy(self):
        self.compare(False)

    def test_ramp_after_checks_matches_haproxy(self):
        self.compare(True)

    def compare(self, by_checks):
        backends = [Backend("s1"), Backend("s2")]
        try:
            got = {e: self.scenario(e, backends, by_checks) for e in ("haproxy", "herd")}
        finally:
            for b in backends:
                b.close()
        for e, (buckets, weights) in got.items():
            print(f"\n[slowstart{' after checks' if by_checks else ''}] {e}: s2 share per second "
                  f"{' '.join(f'{x:.2f}' for x in buckets)}; weight, throttle "
                  f"{[(w[1], w[3]) for w in weights]}", file=sys.stderr)
        hb, hw = got["haproxy"]
        rb, rw = got["herd"]
        # haproxy's eweight 10 x (16 s + 4) / 4 against 160: shares of about
        # .06 .24 .36 .45 then .5 (buckets straddle the steps).
        for k in range(6):
            self.assertLess(abs(rb[k] - hb[k]), 0.12, (k, rb, hb))
        self.assertLess(rb[0], 0.3)
        self.assertGreater(rb[5], 0.4)
        # The weight and throttle columns ramp through the same values (to 10
        # and to empty), the status stays the same.
        def distinct(ws, col):
            out = []
            for w in ws:
                if not out or out[-1] != w[col]:
                    out.append(w[col])
            return out
        self.assertEqual(distinct(rw, 1)[-1], "10")
        self.assertEqual(distinct(rw, 1), distinct(hw, 1))
        self.assertEqual(distinct(rw, 3), distinct(hw, 3))
        # `show servers state`: 1 (starting) during the ramp, then 2.
        self.assertEqual(distinct(hw, 4), ["1", "2"])
        self.assertEqual(distinct(rw, 4), distinct(hw, 4))
        self.assertEqual({w[2] for w in rw}, {w[2] for w in hw})


if __name__ == "__main__":
    unittest.main()
