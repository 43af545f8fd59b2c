"""The course lab's Serf event handlers (bench/lab/member-{join,leave,failed}.sh
→ regen.sh → haproxy.cfg from haproxy.cfg.tmpl → haproxy reload) run
unchanged as herd's event handlers, next to real `serf agent`s.

The scripts are configured only the way bench/churn.py configures them on the
lab's serf agent: through the environment of the member that runs them (here
herd's): LAB_DIR, LAB_RPC (herd's Serf RPC port, which regen.sh queries with
the real `serf members`), LB_IP, LB_PORT, CLI_PORT, BACKEND_PORT, SERF and
HAPROXY. HAPROXY is a stand-in written by the test that records its command
line and writes the pid file as `haproxy -D` would (the test checks each
generated file with the real `haproxy -c -f`). A second handler, also written
by the test, records the SERF_* environment and the stdin lines of every
member event.

Loopback addresses 127.0.0.50-59 only (other tests use other ones). Every
process is stopped by PID; every wait is bounded."""
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import (HAPROXY_BIN, HERD_BIN, free_port, have_haproxy, kill_procs, runtime_api,
                     spawn_logged, wait_port)

SERF = "/usr/bin/serf"
LAB = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../bench/lab"))
LB_IP = "127.0.0.50"
BACKEND_PORT = 3000  # only written into the generated servers lines
EVENTS = ("member-join", "member-leave", "member-failed")

MEMBERSHIP_YAML = """
node: herd-lb
bind: {ip}:7946
rpc: {ip}:{rpc}
tags: {{ role: balancer, dc: lab-1 }}
event_handlers:
{handlers}
"""

# Stand-in for haproxy's reload: records the arguments regen.sh passes
# (-f cfg -p pidfile -D [-sf pids]) and writes the pid file.
FAKE_HAPROXY = """#!/bin/sh
echo "$*" >> "$LAB_DIR/haproxy-argv.log"
pidfile=
while [ $# -gt 0 ]; do [ "$1" = -p ] && pidfile=$2; shift; done
echo $$ > "$pidfile"
"""

# One file per run: the SERF_* environment, a separator, then stdin.
RECORDER = """#!/bin/sh
f={dir}/$(date +%s%N).$$
{{ env | grep '^SERF_' | sort; echo --; cat; }} > "$f.tmp"
mv "$f.tmp" "$f.ev"
"""


@unittest.skipUnless(os.path.exists(SERF), "serf binary absent")
@unittest.skipUnless(have_haproxy(), "haproxy absent")
class TestLabHandlers(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(HERD_BIN):
            self.skipTest(f"{HERD_BIN} not built")
        self.procs = []
        self.dir = tempfile.mkdtemp(prefix="herd-lab-")
        self.lab_dir = os.path.join(self.dir, "lab")
        self.rec_dir = os.path.join(self.dir, "rec")
        os.mkdir(self.lab_dir)
        os.mkdir(self.rec_dir)
        self.cfg = os.path.join(self.lab_dir, "haproxy.cfg")  # regen.sh's output

    def tearDown(self):
        kill_procs(self.procs)
        shutil.rmtree(self.dir, ignore_errors=True)

    def spawn(self, name, args, env=None):
        return spawn_logged(self.procs, self.dir, name, args, env)

    def script(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
        return path

    def read(self, path):
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def diag(self):
        self.herd_log.flush()
        self.herd_log.seek(0)
        return (f"\nreloads.log:\n{self.read(os.path.join(self.lab_dir, 'reloads.log'))}"
                f"\nhaproxy.cfg:\n{self.read(self.cfg)}"
                f"\nshow members:\n{runtime_api(self.cli_port, 'show members', host=LB_IP)}"
                f"\nrecorded: {self.records()}"
                f"\nherd:\n{self.herd_log.read()[-4000:]}")

    def start_herd(self):
        self.port, self.cli_port, self.rpc = free_port(), free_port(), free_port()
        with open(os.path.join(LAB, "haproxy.cfg.tmpl")) as f:
            cfg = (f.read().replace("@LB_IP@", LB_IP).replace("@PORT@", str(self.port))
                   .replace("@CLI_PORT@", str(self.cli_port)))
        cpath, ypath = os.path.join(self.dir, "herd.cfg"), os.path.join(self.dir, "membership.yaml")
        with open(cpath, "w") as f:
            f.write(cfg)
        recorder = self.script("record.sh", RECORDER.format(dir=self.rec_dir))
        handlers = [f"{ev}={os.path.join(LAB, ev + '.sh')}" for ev in EVENTS]
        handlers.append(f"{','.join(EVENTS)}={recorder}")
        with open(ypath, "w") as f:
            f.write(MEMBERSHIP_YAML.format(ip=LB_IP, rpc=self.rpc,
                                           handlers="".join(f'  - "{h}"\n' for h in handlers)))
        # What bench/churn.py gives the lab's serf agent, which passes it on to its handlers.
        env = dict(os.environ, LAB_DIR=self.lab_dir, LAB_RPC=f"{LB_IP}:{self.rpc}", LB_IP=LB_IP,
                   LB_PORT=str(self.port), CLI_PORT=str(self.cli_port),
                   BACKEND_PORT=str(BACKEND_PORT), SERF=SERF,
                   HAPROXY=self.script("fake-haproxy.sh", FAKE_HAPROXY))
        self.herd, self.herd_log = self.spawn(
            "herd", [HERD_BIN, "-db", "-f", cpath, "--membership", ypath], env=env)
        try:
            wait_port(self.cli_port, host=LB_IP)
            wait_port(self.rpc, host=LB_IP)
        except TimeoutError:
            self.herd_log.seek(0)
            self.fail("herd did not start: " + self.herd_log.read())

    def serf_agent(self, name, ip):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SERF_")}
        p, _ = self.spawn("serf-" + name, [
            SERF, "agent", "-node", name, "-bind", f"{ip}:7946", "-rpc-addr", f"{ip}:7373",
            "-join", f"{LB_IP}:7946", "-tag", "role=backend", "-tag", "dc=lab-2"], env=env)
        return p

    def reloads(self):
        """regen.sh's log: [(event, servers)] in order."""
        out = []
        for line in self.read(os.path.join(self.lab_dir, "reloads.log")).splitlines():
            f = line.split()
            out.append((f[1], int(f[2])))
        return out

    def servers(self):
        return re.findall(r"^    server (\S+) (\S+)$", self.read(self.cfg), re.M)

    def records(self):
        """The recording handler's runs, in order: [(env dict, [stdin fields])]."""
        out = []
        for path in sorted(glob.glob(os.path.join(self.rec_dir, "*.ev"))):
            env_text, _, stdin = self.read(path).partition("--\n")
            env = dict(l.split("=", 1) for l in env_text.splitlines() if "=" in l)
            out.append((env, [l.split("\t") for l in stdin.splitlines()]))
        return out

    def wait_for(self, what, pred, timeout):
        end = time.time() + timeout
        while not pred():
            if time.time() > end:
                self.fail(f"timed out after {timeout}s waiting for {what}" + self.diag())
            time.sleep(0.05)
        return time.time()

    def assert_haproxy_accepts(self):
        r = subprocess.run([HAPROXY_BIN, "-c", "-f", self.cfg], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.read(self.cfg))

    def assert_recorded(self, event, name, ip):
        """The recorder saw `event` for `name`, with serf's environment and one
        stdin line "name<TAB>address<TAB>role<TAB>tags"."""
        runs = [(env, lines) for env, lines in self.records() if env.get("SERF_EVENT") == event]
        lines = [l for _, ls in runs for l in ls if l[0] == name]
        self.assertEqual(len(lines), 1, f"{event} {name}: {self.records()}")
        n, addr, role, tags = lines[0]
        self.assertEqual((n, addr, role), (name, ip, "backend"))
        self.assertEqual(sorted(tags.split(",")), ["dc=lab-2", "role=backend"])
        for env, _ in runs:
            self.assertEqual(env.get("SERF_SELF_NAME"), "herd-lb", env)
            self.assertEqual(env.get("SERF_SELF_ROLE"), "balancer", env)
            self.assertEqual(env.get("SERF_TAG_ROLE"), "balancer", env)
            self.assertEqual(env.get("SERF_TAG_DC"), "lab-1", env)

    def test_lab_scripts_as_herd_handlers(self):
        self.start_herd()
        ips = {"web1": "127.0.0.51", "web2": "127.0.0.52"}
        want = sorted((n, f"{ip}:{BACKEND_PORT}") for n, ip in ips.items())

        # Two agents join: member-join.sh regenerates the config with both.
        t0 = time.time()
        a1 = self.serf_agent("web1", ips["web1"])
        a2 = self.serf_agent("web2", ips["web2"])
        t1 = self.wait_for("both backends in the generated haproxy.cfg",
                           lambda: sorted(self.servers()) == want, 15)
        print(f"\njoin of 2 agents -> regenerated config: {t1 - t0:.2f}s")
        self.wait_for("member-join recorded for both",
                      lambda: {l[0] for e, ls in self.records() for l in ls
                               if e.get("SERF_EVENT") == "member-join"} >= set(ips), 5)
        reloads = self.reloads()
        self.assertTrue(reloads and all(ev == "member-join" for ev, _ in reloads), reloads)
        self.assertEqual(reloads[-1], ("member-join", 2))
        self.assert_haproxy_accepts()
        for name, ip in ips.items():
            self.assert_recorded("member-join", name, ip)
        # As serf does, the first member-join includes ourselves.
        self.assertIn(["herd-lb", LB_IP, "balancer", "dc=lab-1,role=balancer"],
                      self.records()[0][1])
        with open(self.cfg) as f:
            self.assertIn(f"bind {LB_IP}:{self.port}\n", f.read())  # template substituted
        argv = self.read(os.path.join(self.lab_dir, "haproxy-argv.log")).splitlines()
        pidfile = os.path.join(self.lab_dir, "haproxy.pid")
        self.assertEqual(argv[0], f"-f {self.cfg} -p {pidfile} -D")

        # Graceful leave of web1: member-leave.sh, config lists web2 only.
        n_reloads = len(reloads)
        tl = time.time()
        r = subprocess.run([SERF, "leave", "-rpc-addr", f"{ips['web1']}:7373"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(a1.wait(15), 0)
        t2 = self.wait_for("member-leave reload",
                           lambda: ("member-leave", 1) in self.reloads()[n_reloads:], 15)
        print(f"serf leave -> regenerated config: {t2 - tl:.2f}s")
        self.assertEqual(self.servers(), [("web2", f"{ips['web2']}:{BACKEND_PORT}")])
        self.assert_haproxy_accepts()
        self.wait_for("member-leave recorded",
                      lambda: any(e.get("SERF_EVENT") == "member-leave" for e, _ in self.records()),
                      5)
        self.assert_recorded("member-leave", "web1", ips["web1"])
        # Reloads after the first one pass the previous pid with -sf.
        argv = self.read(os.path.join(self.lab_dir, "haproxy-argv.log")).splitlines()
        self.assertRegex(argv[-1], rf"^-f {re.escape(self.cfg)} -p {re.escape(pidfile)} -D -sf \d+$")

        # kill -9 of web2's agent: member-failed.sh after the suspicion window.
        n_reloads = len(self.reloads())
        tc = time.time()
        a2.send_signal(signal.SIGKILL)
        a2.wait(5)
        t3 = self.wait_for("member-failed reload",
                           lambda: ("member-failed", 0) in self.reloads()[n_reloads:], 30)
        print(f"kill -9 -> regenerated config: {t3 - tc:.2f}s")
        self.assertEqual(self.servers(), [])
        self.assert_haproxy_accepts()
        self.wait_for("member-failed recorded",
                      lambda: any(e.get("SERF_EVENT") == "member-failed"
                                  for e, _ in self.records()), 5)
        self.assert_recorded("member-failed", "web2", ips["web2"])
        self.assertEqual([ev for ev, _ in self.reloads()][n_reloads:], ["member-failed"])
        self.assertIsNone(self.herd.poll())


if __name__ == "__main__":
    unittest.main()
