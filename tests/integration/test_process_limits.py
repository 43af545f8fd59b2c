"""Global `ulimit-n`, `strict-limits` and `zero-warning` (issue 17), run on
haproxy 2.6 and herd with the same config: the descriptor limit the running
process has (/proc/<pid>/limits), the start-up failure and its message, and
`-c`'s verdict."""
import os
import re
import resource
import subprocess
import tempfile
import time
import unittest

from harness import HAPROXY_BIN, HERD_BIN, free_port, have_haproxy, wait_port

HARD = 4096  # the hard RLIMIT_NOFILE both engines start under

CFG = """global
{glob}
defaults
    mode http
    timeout client 2s
    timeout server 2s
    timeout connect 2s
listen a
    bind 127.0.0.1:{port}
    server s 127.0.0.1:9
"""


def lower_hard_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, HARD))


def soft_nofile(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no 'Max open files' line")


def messages(text):
    """Alert and warning texts, the program name left out."""
    out = []
    for ln in text.splitlines():
        if "[ALERT]" in ln or "[WARNING]" in ln:
            out.append(re.sub(r"\[[^] ]*\.main\(\)\]", "[X.main()]", ln.split(" : ", 1)[1]))
    return out


@unittest.skipUnless(have_haproxy(), "haproxy is not installed")
class TestLimits(unittest.TestCase):
    def start(self, binary, glob, expect_run=True):
        """Starts `binary -db` on the config; returns (pid or None, rc, output)."""
        port = free_port()
        d = tempfile.mkdtemp()
        path = os.path.join(d, "l.cfg")
        with open(path, "w") as f:
            f.write(CFG.format(glob=glob, port=port))
        log = open(os.path.join(d, "out"), "w+")
        p = subprocess.Popen([binary, "-db", "-f", path], stdout=log, stderr=subprocess.STDOUT,
                             preexec_fn=lower_hard_limit)
        try:
            if expect_run:
                wait_port(port, 10)
                return p.pid, soft_nofile(p.pid), open(log.name).read()
            rc = p.wait(10)
            return None, rc, open(log.name).read()
        finally:
            if p.poll() is None:
                p.terminate()
                p.wait(10)

    def both(self, glob, expect_run=True):
        return {name: self.start(binary, glob, expect_run)
                for name, binary in (("haproxy", HAPROXY_BIN), ("herd", HERD_BIN))}

    def test_ulimit_n_sets_the_soft_limit(self):
        res = self.both("    maxconn 1000\n    ulimit-n 3000")
        self.assertEqual(res["haproxy"][1], 3000)
        self.assertEqual(res["herd"][1], 3000)

    def test_unreachable_limit_is_fatal_by_default(self):
        # Above the hard limit and /proc/sys/fs/nr_open: setrlimit fails even for root.
        res = self.both("    ulimit-n 2000000", expect_run=False)
        self.assertEqual(res["haproxy"][1], 1)
        self.assertEqual(res["herd"][1], 1)
        want = messages(res["haproxy"][2])
        self.assertEqual(want, ["[X.main()] Cannot raise FD limit to 2000000, limit is 1024."])
        self.assertEqual(messages(res["herd"][2]), want)

    def test_strict_limits_explicit(self):
        res = self.both("    ulimit-n 2000000\n    strict-limits", expect_run=False)
        self.assertEqual((res["haproxy"][1], res["herd"][1]), (1, 1))
        self.assertEqual(messages(res["herd"][2]), messages(res["haproxy"][2]))

    def test_no_strict_limits_warns_and_takes_the_hard_limit(self):
        res = self.both("    ulimit-n 2000000\n    no strict-limits")
        self.assertEqual(res["haproxy"][1], HARD)
        self.assertEqual(res["herd"][1], HARD)
        want = messages(res["haproxy"][2])
        self.assertEqual(want, [f"[X.main()] Cannot raise FD limit to 2000000, limit is {HARD}."])
        self.assertEqual(messages(res["herd"][2]), want)

    def test_maxconn_raises_the_soft_limit(self):
        res = self.both("    maxconn 1500")
        self.assertGreaterEqual(res["haproxy"][1], 3000)
        self.assertGreaterEqual(res["herd"][1], 3000)


@unittest.skipUnless(have_haproxy(), "haproxy is not installed")
class TestZeroWarning(unittest.TestCase):
    def check(self, binary, text):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "z.cfg")
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run([os.path.abspath(binary), "-c", "-f", "z.cfg"], capture_output=True, text=True,
                               timeout=30, cwd=d)
            return r.returncode, messages(r.stdout + r.stderr)

    def test_a_warning_is_fatal(self):
        text = CFG.format(glob="    zero-warning", port=1).replace(
            "    server s", "    http-request deny\n    http-request deny\n    server s")
        want = self.check(HAPROXY_BIN, text)
        self.assertEqual(want[0], 1)
        self.assertEqual(want[1][-1], "config : Some warnings were found and 'zero-warning' is set. Aborting.")
        self.assertEqual(self.check(HERD_BIN, text), want)

    def test_no_warning_is_valid(self):
        text = CFG.format(glob="    zero-warning", port=1)
        self.assertEqual(self.check(HAPROXY_BIN, text), (0, []))
        self.assertEqual(self.check(HERD_BIN, text), (0, []))

    def test_arguments(self):
        for glob in ("    zero-warning 1", "    strict-limits x", "    ulimit-n",
                     "    ulimit-n 10 20"):
            text = CFG.format(glob=glob, port=1)
            want = self.check(HAPROXY_BIN, text)
            self.assertEqual(want[0], 1, glob)
            self.assertEqual(self.check(HERD_BIN, text), want, glob)


if __name__ == "__main__":
    unittest.main()
