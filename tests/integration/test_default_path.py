"""`default-path current|config|parent|origin <dir>` (global): the directory
relative files of the config (here `errorfile`) are read from, on haproxy
2.6 and herd. `-c` on a tree of files run from another directory must give
the same verdicts, and the error page read through `default-path origin`
is the one served."""
import os
import subprocess
import tempfile
import unittest

from harness import HAPROXY_BIN, HERD_BIN, LB, free_port, get, have_haproxy
from test_proxy_parity import ENGINES

PAGE = ("HTTP/1.0 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 18\r\n"
        "\r\nfrom-default-path\n")


def cfg(global_lines, errorfile, port=None):
    bind = f"frontend f\n    bind 127.0.0.1:{port}\n    default_backend b\n" if port else ""
    return (f"global\n{global_lines}defaults\n    mode http\n    timeout connect 1s\n"
            f"    timeout client 5s\n    timeout server 5s\n    errorfile 503 {errorfile}\n"
            f"{bind}backend b\n")


class TestDefaultPath(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        self.conf = os.path.join(self.root, "conf")
        os.mkdir(self.conf)
        with open(os.path.join(self.conf, "e503.http"), "w") as f:
            f.write(PAGE)
        self.elsewhere = os.path.join(self.root, "elsewhere")  # the working directory
        os.mkdir(self.elsewhere)

    def tearDown(self):
        self.tmp.cleanup()

    def verdict(self, binary, text):
        path = os.path.join(self.conf, "h.cfg")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([binary, "-c", "-f", path], cwd=self.elsewhere,
                           capture_output=True, text=True, timeout=30)
        return r.returncode in (0, 2)

    def test_check_verdicts(self):
        cases = {
            "none": (cfg("", "e503.http"), False),
            "current": (cfg("    default-path current\n", "e503.http"), False),
            "config": (cfg("    default-path config\n", "e503.http"), True),
            "parent": (cfg("    default-path parent\n", "conf/e503.http"), True),
            "origin": (cfg(f"    default-path origin {self.conf}\n", "e503.http"), True),
            "origin-missing": (cfg(f"    default-path origin {self.root}/nowhere\n",
                                   "e503.http"), False),
            "bad-mode": (cfg("    default-path somewhere\n", "e503.http"), False),
            "no-mode": (cfg("    default-path\n", "e503.http"), False),
        }
        bins = {"herd": os.path.abspath(HERD_BIN)}
        if have_haproxy():
            bins["haproxy"] = HAPROXY_BIN
        for name, (text, want) in cases.items():
            for engine, binary in bins.items():
                self.assertEqual(self.verdict(binary, text), want, f"{engine}: {name}")

    def test_error_page_is_served(self):
        for engine in ENGINES:
            port = free_port()
            lb = LB(cfg(f"    default-path origin {self.conf}\n", "e503.http", port),
                    engine=engine, wait_ports=[port])
            try:
                status, _, body = get(port)
                self.assertEqual((status, body), (503, b"from-default-path\n"), engine)
            finally:
                lb.stop()


if __name__ == "__main__":
    unittest.main()
