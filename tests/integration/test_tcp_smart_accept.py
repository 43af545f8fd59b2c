"""`option tcp-smart-accept`: what herd and haproxy 2.6 set on their
listening sockets, seen with strace: TCP_QUICKACK 0 when the option is on
(the default in `mode http`, or `option tcp-smart-accept`), 1 when it is off
(the default in `mode tcp`, or `no option tcp-smart-accept`)."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import HAPROXY_BIN, HERD_BIN, free_port, have_haproxy, wait_port

STRACE = shutil.which("strace")


def quickack_values(binary, cfg_text):
    """The TCP_QUICKACK values `binary` sets while it starts on `cfg_text`."""
    d = tempfile.mkdtemp(prefix="smartacc-")
    try:
        cfg, out = os.path.join(d, "c.cfg"), os.path.join(d, "trace")
        port = free_port()
        with open(cfg, "w") as f:
            f.write(cfg_text.format(port=port))
        p = subprocess.Popen([STRACE, "-f", "-qq", "-e", "trace=setsockopt", "-o", out,
                              binary, "-db", "-f", cfg],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            time.sleep(0.2)
            with open(out) as f:
                first = f.readline().split()
            os.kill(int(first[0]), signal.SIGTERM)  # the traced process, strace's child
            p.wait(10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        with open(out) as f:
            return sorted(set(re.findall(r"TCP_QUICKACK, \[(\d)\]", f.read())))
    finally:
        shutil.rmtree(d, ignore_errors=True)


CFG = """
defaults
    mode {mode}
    timeout connect 1s
    timeout client 1s
    timeout server 1s
{dflt}
listen l
    bind 127.0.0.1:{{port}}
{opt}
    server s 127.0.0.1:9
"""


@unittest.skipUnless(STRACE and have_haproxy(), "strace and haproxy are needed")
class TcpSmartAccept(unittest.TestCase):
    def test_listeners_as_haproxy(self):
        cases = []
        for mode in ("http", "tcp"):
            for dflt, opt in (("", ""), ("", "    option tcp-smart-accept"),
                              ("", "    no option tcp-smart-accept"),
                              ("    option tcp-smart-accept", ""),
                              ("    no option tcp-smart-accept", "")):
                cases.append(CFG.format(mode=mode, dflt=dflt, opt=opt))
        want = [["0"], ["0"], ["1"], ["0"], ["1"], ["1"], ["0"], ["1"], ["0"], ["1"]]
        for cfg, expected in zip(cases, want):
            with self.subTest(cfg=cfg):
                got = quickack_values(HERD_BIN, cfg)
                self.assertEqual(got, quickack_values(HAPROXY_BIN, cfg))
                self.assertEqual(got, expected)


if __name__ == "__main__":
    unittest.main()
