"""herd's -snapshot, -tags-file and -profile against a real `serf agent`
(Debian's /usr/bin/serf, 0.8).

A `herd agent` with -snapshot joins a serf agent, runs its user-event handler
once for an event, is killed (SIGKILL: no leave) and started again WITHOUT
-join: it rejoins the agent from the addresses in its snapshot, and the
event (which the agent still hands out in its push/pull) does not run the
handler again, because the event clock came back from the snapshot; a new
event does run it; `serf tags` against herd rewrites the tags file, and
the next start has those tags. The same restart with the clock lines cut out of the
snapshot does replay the old event (so the check can fail). After a
graceful leave (SIGTERM) the snapshot ends in `leave` and a restart does not
rejoin; with -rejoin it does (serf's -rejoin).

Loopback addresses 127.0.0.110-112, which no other test uses. Every process
is stopped by PID; every loop is bounded."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import HERD_BIN, kill_procs, log_text, spawn_logged

SERF = "/usr/bin/serf"
SERF_IP = "127.0.0.110"
HERD_IP = "127.0.0.111"

HANDLER = """#!/bin/sh
payload=$(cat)
echo "$SERF_USER_LTIME $payload" >> "{out}"
"""


def wait_until(pred, timeout, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


@unittest.skipUnless(os.path.exists(SERF), "serf binary absent")
class TestMembershipSnapshot(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(HERD_BIN):
            self.skipTest(f"{HERD_BIN} not built")
        self.procs = []
        self.dir = tempfile.mkdtemp(prefix="herd-snap-")
        self.snap = os.path.join(self.dir, "snapshot")
        self.tags = os.path.join(self.dir, "tags.json")
        self.events = os.path.join(self.dir, "events")
        handler = os.path.join(self.dir, "handler.sh")
        with open(handler, "w") as f:
            f.write(HANDLER.format(out=self.events))
        os.chmod(handler, 0o755)
        self.handler = handler
        self.runs = 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("SERF_")}
        self.serf, self.serf_log = spawn_logged(self.procs, self.dir, "serf", [
            SERF, "agent", "-node", "snap-s1", "-bind", f"{SERF_IP}:7946",
            "-rpc-addr", f"{SERF_IP}:7373", "-tag", "role=backend"], env=env)
        if not wait_until(lambda: self.members(SERF_IP) is not None, 10):
            self.fail("serf agent did not start: " + log_text(self.serf_log))

    def tearDown(self):
        kill_procs(self.procs)
        shutil.rmtree(self.dir, ignore_errors=True)

    def start_herd(self, join=True, extra=()):
        self.runs += 1
        args = [HERD_BIN, "agent", "-node", "snap-herd", "-bind", f"{HERD_IP}:7946",
                "-rpc-addr", f"{HERD_IP}:7373", "-snapshot", self.snap, "-tags-file", self.tags,
                "-profile", "local", "-event-handler", f"user:deploy={self.handler}", *extra]
        if join:
            args += ["-join", f"{SERF_IP}:7946"]
        p, log = spawn_logged(self.procs, self.dir, f"herd{self.runs}", args)
        if not wait_until(lambda: self.members(HERD_IP) is not None, 10):
            self.fail("herd did not start: " + log_text(log))
        return p, log

    def members(self, ip):
        """{name: (status, tags)} from `serf members` against ip's RPC, or None."""
        try:
            out = subprocess.run([SERF, "members", "-rpc-addr", f"{ip}:7373", "-format", "json"],
                                 capture_output=True, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            return None
        if out.returncode != 0:
            return None
        return {m["name"]: (m["status"], m.get("tags", {}))
                for m in json.loads(out.stdout)["members"]}

    def status(self, ip, name):
        m = self.members(ip) or {}
        return m.get(name, (None, None))[0]

    def handler_runs(self):
        try:
            with open(self.events) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def send_event(self, payload):
        subprocess.run([SERF, "event", "-rpc-addr", f"{SERF_IP}:7373", "-coalesce=false",
                        "deploy", payload], check=True, capture_output=True, timeout=5)

    def snapshot_text(self):
        with open(self.snap) as f:
            return f.read()

    def kill9(self, p):
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=5)

    def join_and_event(self):
        with open(self.tags, "w") as f:
            f.write('{\n  "role": "lb"\n}')
        herd, log = self.start_herd(join=True)
        self.assertTrue(wait_until(lambda: self.status(SERF_IP, "snap-herd") == "alive", 10),
                        log_text(log))
        # -tags-file: the agent sees herd's tags from the file.
        self.assertEqual(self.members(SERF_IP)["snap-herd"][1], {"role": "lb"})
        self.send_event("v1")
        self.assertTrue(wait_until(lambda: len(self.handler_runs()) == 1, 10), log_text(log))
        ltime = int(self.handler_runs()[0].split()[0])
        text = wait_until(lambda: "event-clock: %d\n" % ltime in self.snapshot_text() and
                          self.snapshot_text(), 5)
        self.assertTrue(text, self.snapshot_text())
        self.assertIn(f"alive: snap-s1 {SERF_IP}:7946\n", text)
        self.assertIn(f"alive: snap-herd {HERD_IP}:7946\n", text)
        self.assertRegex(text, r"(?m)^clock: [1-9]\d*$")
        return herd, log, ltime

    def test_restart_rejoins_from_snapshot_without_replaying_events(self):
        herd, log, ltime = self.join_and_event()
        self.kill9(herd)
        t0 = time.monotonic()
        herd, log = self.start_herd(join=False)
        self.assertTrue(wait_until(lambda: self.status(HERD_IP, "snap-s1") == "alive", 15),
                        log_text(log))
        rejoin_s = time.monotonic() - t0
        self.assertIn("re-joined to previously known node snap-s1", log_text(log))
        self.assertTrue(wait_until(lambda: self.status(SERF_IP, "snap-herd") == "alive", 15),
                        log_text(log))
        # The agent hands its recent events out in every push/pull; give the
        # rejoin's push/pull and a few gossip rounds the time to deliver them.
        time.sleep(4)
        self.assertEqual(len(self.handler_runs()), 1, self.handler_runs())
        # The handler still runs for a new event, with a later LTime.
        self.send_event("v2")
        self.assertTrue(wait_until(lambda: len(self.handler_runs()) == 2, 10), log_text(log))
        self.assertGreater(int(self.handler_runs()[1].split()[0]), ltime)
        self.assertEqual(self.handler_runs()[1].split()[1], "v2")
        # -tags-file: `serf tags` against herd rewrites the file, in Go's form.
        subprocess.run([SERF, "tags", "-rpc-addr", f"{HERD_IP}:7373", "-set", "dc=b",
                        "-delete", "role"], check=True, capture_output=True, timeout=5)
        with open(self.tags) as f:
            self.assertEqual(f.read(), '{\n  "dc": "b"\n}')
        self.assertEqual(os.stat(self.tags).st_mode & 0o777, 0o600)
        self.assertTrue(wait_until(
            lambda: self.members(SERF_IP)["snap-herd"][1] == {"dc": "b"}, 10))
        print(f"\nrejoin from snapshot: herd sees snap-s1 alive {rejoin_s:.2f}s after restart")

        # Control: the same restart with the clocks cut out of the snapshot
        # replays the old events (so the check above can fail).
        self.kill9(herd)
        with open(self.snap) as f:
            lines = [l for l in f if "clock" not in l]
        with open(self.snap, "w") as f:
            f.writelines(lines)
        herd, log = self.start_herd(join=False)
        self.assertTrue(wait_until(lambda: len(self.handler_runs()) > 2, 10),
                        "old events were not replayed without the snapshot's clocks: " +
                        log_text(log))
        # The tags came back from the file.
        self.assertEqual(self.members(HERD_IP)["snap-herd"][1], {"dc": "b"})

    def test_graceful_leave_is_not_rejoined_unless_rejoin(self):
        herd, log, _ = self.join_and_event()
        herd.send_signal(signal.SIGTERM)
        herd.wait(timeout=15)
        self.assertTrue(self.snapshot_text().endswith("leave\n"), self.snapshot_text())
        self.assertTrue(wait_until(lambda: self.status(SERF_IP, "snap-herd") == "left", 10))
        herd, log = self.start_herd(join=False)
        time.sleep(3)
        self.assertEqual(set(self.members(HERD_IP)), {"snap-herd"}, log_text(log))
        self.assertEqual(self.status(SERF_IP, "snap-herd"), "left")
        self.kill9(herd)
        # -rejoin (serf's rejoin_after_leave): the leave line is ignored, but
        # the members after the graceful leave were recorded before it.
        herd, log = self.start_herd(join=False, extra=["-rejoin"])
        self.assertTrue(wait_until(lambda: self.status(SERF_IP, "snap-herd") == "alive", 15),
                        log_text(log))


if __name__ == "__main__":
    unittest.main()
