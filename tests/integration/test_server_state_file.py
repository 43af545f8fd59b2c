"""server-state-file semantics (issue 16, stats/server_state_file.h): a
backend with `load-server-state-from-file global|local` takes back at
start-up what `show servers state` saved: MAINT, DRAIN, health DOWN, a
runtime weight, health checks disabled, a changed port. haproxy 2.6 and
herd get the same runtime changes, dump their states, and each loads the
file haproxy wrote (and haproxy the one herd wrote); `show servers state`
(every column but times, check status/result and the check health counter),
`show stat` (status, weight) and the warnings logged at start-up are
compared. In reference mode herd's pool loads the file as its haproxy does.

Every process is started with -db and stopped by PID; loops are bounded."""
import os
import re
import shutil
import signal
import tempfile
import time
import unittest

from harness import (HAPROXY_BIN, HERD_BIN, free_port, kill_procs, log_text, spawn_logged,
                     wait_port)
from test_reload import runtime_api_unix

CFG = """
global
    stats socket {dir}/admin.sock level admin
    server-state-base {dir}
    server-state-file global.state
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    load-server-state-from-file global
frontend f
    bind 127.0.0.1:{port}
    default_backend b
backend b
    server s1 127.0.0.1:{p1} weight 7
    server s2 127.0.0.1:{p2} weight 5 check inter 60s
    server s3 127.0.0.1:{p3} weight 3 check inter 60s
    server s4 127.0.0.1:{p4}
    server s5 127.0.0.1:{p5} weight 0
    server s6 127.0.0.1:{p1} disabled
    server s7 127.0.0.1:{p2} check inter 60s disabled
    server s8 127.0.0.1:{p1} disabled
    server s9 127.0.0.1:{p2} check inter 60s disabled
backend c
    load-server-state-from-file local
    server c1 127.0.0.1:{p1} weight 4
    server c2 127.0.0.1:{p2} weight 6
backend d
    load-server-state-from-file local
    server-state-file-name d-missing
    server d1 127.0.0.1:{p1}
backend e
    load-server-state-from-file none
    server e1 127.0.0.1:{p1} weight 9
"""

CHANGES = [
    "set server b/s1 state maint",
    "set weight b/s2 2",
    "set server b/s2 health down",
    "set server b/s4 addr 127.0.0.9 port 4444",
    "set server b/s3 check-port 5555",
    "disable health b/s3",
    "set server b/s4 state drain",
    "set server b/s5 state drain",
    "set weight c/c2 1",
    "set server c/c1 state maint",
    "set weight e/e1 1",
    # `disabled` servers made ready keep the config's mark (srv_admin_state 4).
    "set server b/s8 state ready",
    "set server b/s9 state ready",
]

# show servers state columns compared: be_name srv_name srv_addr srv_op_state
# srv_admin_state srv_uweight srv_iweight srv_check_state srv_port
# srv_check_port srv_check_addr (times, check status/result and the health
# counter depend on when checks ran).
COLS = [1, 3, 4, 5, 6, 7, 8, 13, 18, 21, 22]


def state_rows(text, cols=COLS):
    rows = []
    for line in text.splitlines()[2:]:
        f = line.split()
        if f:
            rows.append(tuple(f[i] for i in cols))
    return rows


def stat_rows(text):
    out = []
    for line in text.splitlines()[1:]:
        f = line.split(",")
        if len(f) > 19 and f[1] not in ("FRONTEND",):
            out.append((f[0], f[1], f[17], f[18]))
    return out


@unittest.skipUnless(os.path.exists(HAPROXY_BIN), "haproxy not installed")
class TestServerStateFile(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(HERD_BIN):
            self.skipTest(f"{HERD_BIN} not built")
        self.procs = []
        self.dir = tempfile.mkdtemp(prefix="herd-state-")
        # Server ports nobody listens on: checks fail (slowly: inter 60s).
        self.ports = {f"p{i}": free_port() for i in range(1, 6)}

    def tearDown(self):
        kill_procs(self.procs)
        shutil.rmtree(self.dir, ignore_errors=True)

    def engine_dir(self, name):
        d = os.path.join(self.dir, name)
        os.makedirs(d, exist_ok=True)
        return d

    def run_engine(self, binary, d, changes=()):
        """Starts `binary` on the configuration in `d`; applies `changes`;
        returns (show servers state, show stat, start-up warnings) and the
        states of backends b and c saved as global.state and c."""
        port = free_port()
        with open(os.path.join(d, "haproxy.cfg"), "w") as f:
            f.write(CFG.format(dir=d, port=port, **self.ports))
        p, log = spawn_logged(self.procs, d, f"{os.path.basename(binary)}-{len(self.procs)}",
                              [binary, "-db", "-f", os.path.join(d, "haproxy.cfg")])
        wait_port(port)
        sock = os.path.join(d, "admin.sock")
        end = time.time() + 5
        while not os.path.exists(sock) and time.time() < end:
            time.sleep(0.02)
        # The first check (b/s2's, at once on both engines: the first of the
        # checks spread over the smallest inter) fails at once on a port
        # nobody listens on: let it finish on both, so that the states read
        # below do not depend on whether it had run yet (it had on herd and
        # not on haproxy once, under load).
        time.sleep(1.0)
        for c in changes:
            runtime_api_unix(sock, c)
        state = runtime_api_unix(sock, "show servers state")
        stat = runtime_api_unix(sock, "show stat")
        p.send_signal(signal.SIGUSR1)
        p.wait(10)
        warnings = sorted(re.sub(r"^\[WARNING\]\s+\(\d+\) : ", "", line).replace(d, "<dir>")
                          for line in log_text(log).splitlines()
                          if line.startswith("[WARNING]") and "config : " in line)
        return state, stat, warnings

    def save(self, d, state):
        with open(os.path.join(d, "global.state"), "w") as f:
            f.write(state)
        lines = state.splitlines()
        with open(os.path.join(d, "c"), "w") as f:
            f.write("\n".join(lines[:2] + [ln for ln in lines[2:] if ln.split()[1:2] == ["c"]])
                    + "\n")

    def test_both_engines_load_the_same_state_file(self):
        # The runtime changes, on both engines: the states they dump agree.
        hd, rd = self.engine_dir("haproxy"), self.engine_dir("herd")
        ref_state, _, _ = self.run_engine(HAPROXY_BIN, hd, CHANGES)
        got_state, _, _ = self.run_engine(HERD_BIN, rd, CHANGES)
        self.assertEqual(state_rows(got_state), state_rows(ref_state))

        # Both load the file haproxy wrote.
        self.save(hd, ref_state)
        self.save(rd, ref_state)
        ref = self.run_engine(HAPROXY_BIN, hd)
        got = self.run_engine(HERD_BIN, rd)
        rows = state_rows(ref[0])
        self.assertIn(("b", "s1", "127.0.0.1", "0", "1", "7", "7"), [r[:7] for r in rows])
        self.assertIn(("c", "c2", "127.0.0.1", "2", "0", "1", "6"), [r[:7] for r in rows])
        self.assertIn(("e", "e1", "127.0.0.1", "2", "0", "9", "9"), [r[:7] for r in rows])
        self.assertEqual(state_rows(got[0]), rows)
        # Loaded, the health counters are stable too (the checked servers are
        # down, or their checks disabled): srv_check_health compared as well.
        self.assertEqual(state_rows(got[0], COLS + [12]), state_rows(ref[0], COLS + [12]))
        self.assertEqual(stat_rows(got[1]), stat_rows(ref[1]))
        self.assertIn("config : Server b/s4 remains in forced drain mode.", ref[2])
        self.maxDiff = None
        self.assertEqual(got[2], ref[2])

        # haproxy loads the file herd wrote as its own.
        self.save(hd, got_state)
        again = self.run_engine(HAPROXY_BIN, hd)
        self.assertEqual(state_rows(again[0]), rows)

    def test_missing_and_corrupted_files(self):
        results = []
        for binary in (HAPROXY_BIN, HERD_BIN):
            d = self.engine_dir(os.path.basename(binary) + "-bad")
            with open(os.path.join(d, "global.state"), "w") as f:
                f.write("1\n# header\n3 b 1 s1 127.0.0.1 2 1 7 7\n")  # too few fields
            with open(os.path.join(d, "c"), "w") as f:
                f.write("2\n")  # not version 1
            state, stat, warnings = self.run_engine(binary, d)
            results.append((state_rows(state), stat_rows(stat), warnings))
        self.assertEqual(len(results[0][2]), 3, results[0][2])
        self.assertEqual(results[1], results[0])

    def test_reference_mode_starts_from_the_state_haproxy_loads(self):
        """`--engine haproxy`: the supervised haproxy loads the file, herd's
        pool loads it too (its `--cli` shows the same states), and herd sends
        haproxy nothing that undoes them."""
        hd = self.engine_dir("saved")
        saved, _, _ = self.run_engine(HAPROXY_BIN, hd, CHANGES)
        d = self.engine_dir("reference")
        self.save(d, saved)
        port = free_port()
        with open(os.path.join(d, "haproxy.cfg"), "w") as f:
            f.write(CFG.format(dir=d, port=port, **self.ports))
        cli = os.path.join(d, "herd-cli.sock")
        p, log = spawn_logged(self.procs, d, "reference",
                              [HERD_BIN, "--engine", "haproxy", "--cli", cli, "-db",
                               "-f", os.path.join(d, "haproxy.cfg")])
        wait_port(port)
        end = time.time() + 10
        while time.time() < end and "applying the pool" not in log_text(log):
            time.sleep(0.05)
        time.sleep(1)  # a few engine ticks: anything herd would send, it sent
        ref = state_rows(runtime_api_unix(os.path.join(d, "admin.sock"), "show servers state"))
        mine = state_rows(runtime_api_unix(cli, "show servers state"))
        self.assertIn(("b", "s1", "127.0.0.1", "0", "1", "7", "7"), [r[:7] for r in ref])
        self.assertIn(("c", "c2", "127.0.0.1", "2", "0", "1", "6"), [r[:7] for r in ref])
        self.assertEqual(mine, ref)
        p.send_signal(signal.SIGTERM)
        p.wait(15)


if __name__ == "__main__":
    unittest.main()
