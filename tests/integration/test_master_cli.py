"""The master CLI (issue 16, app/master.h, app/master_cli.h): `-W -S <socket>`
opens HAProxy's master CLI on the master. herd and haproxy 2.6 run the same
configuration side by side and are asked the same things: `show proc`
(same header bytes, same sections, same columns, same reload counts and
`[failed: N]` through a good reload, a reload with an invalid
configuration and a good one again; PIDs and uptimes differ), `reload`
(empty answer, a new worker; the old one listed under `# old workers`
while a request is in flight), `@1` / `@!<pid>` routing to the current
worker's CLI and to the old one's, and the error for a PID that is no
worker.

Every process is started with -db and stopped by PID; loops are bounded."""
import os
import re
import signal
import socket
import time
import unittest

from harness import HAPROXY_BIN, HERD_BIN, free_port, log_text, spawn_logged, wait_port
from test_reload import CFG, ReloadCase

ROW = re.compile(r"^(\d+) +(master|worker) +(\d+(?: \[failed: \d+\])?) +(\d+d\d\dh\d\dm\d\ds) +(\S+) *$")


def master_cli(path, cmd):
    """One command line, then end of input (as `socat` does): haproxy's
    master CLI waits for more commands until the client half-closes."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(path)
        s.sendall(cmd.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out.decode()
    finally:
        s.close()


def parse_proc(text):
    """show proc -> (section lines, rows {section: [(pid, reloads, version, starts)]})."""
    shape, rows, section = [], {}, "master"
    for line in text.split("\n"):
        if line.startswith("#<PID>"):
            shape.append("header")
            continue
        if line.startswith("# "):
            section = line[2:]
            shape.append(line)
            continue
        if line == "":
            shape.append("")
            continue
        m = ROW.match(line)
        assert m, f"not a show proc row: {line!r}"
        starts = [m.start(i) for i in range(1, 6)]
        rows.setdefault(section, []).append((int(m.group(1)), m.group(3), m.group(5), starts))
        shape.append(m.group(2))
    return shape, rows


class Engine:
    def __init__(self, case, binary, name):
        self.case, self.binary, self.name = case, binary, name
        self.dir = os.path.join(case.dir, name)
        os.mkdir(self.dir)
        self.sock = os.path.join(self.dir, "admin.sock")
        self.master_sock = os.path.join(self.dir, "master.sock")
        self.port = free_port()
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        self.write_cfg()

    def write_cfg(self, extra=""):
        with open(self.cfg, "w") as f:
            f.write(CFG.format(nbthread=1, maxconn=100, sock=self.sock, ip="127.0.0.1",
                               port=self.port, servers="    server s1 127.0.0.1:9\n" + extra)
                    .replace(" expose-fd listeners", ""))

    def start(self):
        self.proc, self.log = spawn_logged(self.case.procs, self.dir, "master",
                                           [self.binary, "-W", "-S", self.master_sock, "-db",
                                            "-f", self.cfg])
        wait_port(self.port)
        end = time.time() + 10
        while time.time() < end:
            try:
                if "# workers\n" in self.cli("show proc") and self.workers():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.case.fail(f"{self.name}: no worker in show proc\n{log_text(self.log)}")

    def cli(self, cmd):
        return master_cli(self.master_sock, cmd)

    def proc_rows(self, timeout=10):
        """show proc's rows; haproxy's master re-executes itself on a
        reload: its socket refuses connections for a moment."""
        end = time.time() + timeout
        while True:
            try:
                return parse_proc(self.cli("show proc"))[1]
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.05)

    def workers(self):
        return [r[0] for r in self.proc_rows().get("workers", [])]

    def wait_master_reloads(self, n, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            rows = self.proc_rows()
            if rows["master"][0][1].startswith(f"{n} ") and rows.get("workers"):
                return rows
            time.sleep(0.1)
        self.case.fail(f"{self.name}: the master did not count {n} reloads: "
                       f"{self.cli('show proc')}\n{log_text(self.log)}")


@unittest.skipUnless(os.path.exists(HAPROXY_BIN), "haproxy not installed")
class TestMasterCli(ReloadCase):
    def scenario(self, e):
        """Returns what was observed, engine-independent where it must match."""
        seen = {}
        e.start()
        text0 = e.cli("show proc")
        seen["header"] = text0.split("\n")[0]
        shape0, rows0 = parse_proc(text0)
        seen["shape0"] = shape0
        version = e.cli("show version").split("\n")[0]
        seen["columns"] = sorted({repr(r[3]) for sec in rows0.values() for r in sec})
        self.assertEqual([r[2] for sec in rows0.values() for r in sec], [version] * 2, e.name)
        seen["master0"] = rows0["master"][0][1]
        first = rows0["workers"][0][0]
        seen["worker0_reloads"] = rows0["workers"][0][1]

        # @1 and @!<pid> reach the current worker's CLI.
        self.assertIn(f"\nPid: {first}\n", e.cli("@1 show info"), e.name)
        self.assertIn(f"\nPid: {first}\n", e.cli(f"@!{first} show info"), e.name)
        seen["bad_pid"] = e.cli("@!999999 show info")
        seen["bad_rel"] = e.cli("@2 show info")

        # A request in flight keeps the old worker; `reload` answers nothing.
        held = socket.create_connection(("127.0.0.1", e.port), timeout=5)
        held.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")  # not finished
        time.sleep(0.2)
        seen["reload_reply"] = e.cli("reload")
        rows1 = e.wait_master_reloads(1)
        end = time.time() + 10
        while time.time() < end and rows1.get("workers", [[first]])[0][0] == first:
            time.sleep(0.1)
            rows1 = e.proc_rows()
        second = rows1["workers"][0][0]
        self.assertNotEqual(second, first, e.name)
        text1 = e.cli("show proc")
        seen["shape1"], rows1 = parse_proc(text1)
        seen["master1"] = rows1["master"][0][1]
        seen["worker1"] = [r[1] for r in rows1["workers"]]
        seen["old1"] = [(r[0] == first, r[1]) for r in rows1.get("old workers", [])]
        self.assertIn(f"\nPid: {second}\n", e.cli("@1 show info"), e.name)
        # The old worker, finishing its request, still answers `@!<pid>`.
        self.assertIn(f"\nPid: {first}\n", e.cli(f"@!{first} show info"), e.name)
        held.close()

        # An invalid configuration: the reload fails, the worker stays.
        e.write_cfg("    bogus-keyword\n")
        self.assertEqual(e.cli("reload"), "")
        rows2 = e.wait_master_reloads(2)
        time.sleep(0.5)
        rows2 = e.proc_rows()
        seen["master2"] = rows2["master"][0][1]
        seen["worker2"] = [(r[0] == second, r[1]) for r in rows2["workers"]]

        # A good one again resets the failures.
        e.write_cfg()
        e.cli("reload")
        rows3 = e.wait_master_reloads(3)
        end = time.time() + 10
        while time.time() < end and rows3["workers"][0][0] == second:
            time.sleep(0.1)
            rows3 = e.proc_rows()
        seen["master3"] = rows3["master"][0][1]
        seen["worker3"] = [(r[0] != second, r[1]) for r in rows3["workers"]]

        e.proc.send_signal(signal.SIGTERM)
        e.proc.wait(10)
        return seen

    def test_show_proc_reload_and_routing_as_haproxy(self):
        ref = self.scenario(Engine(self, HAPROXY_BIN, "haproxy"))
        got = self.scenario(Engine(self, HERD_BIN, "herd"))
        self.assertEqual(ref["header"], "#<PID>          <type>          <reloads>       <uptime>"
                                        "        <version>      ")
        self.assertEqual(ref["shape0"], ["header", "master", "# workers", "worker",
                                         "# programs", "", ""])
        self.assertEqual(ref["master1"], "1 [failed: 0]")
        self.assertEqual(ref["old1"], [(True, "1")])
        self.assertEqual(ref["master2"], "2 [failed: 1]")
        self.assertEqual(ref["master3"], "3 [failed: 0]")
        for k in ref:
            self.assertEqual(got[k], ref[k], f"{k}: herd {got[k]!r}, haproxy {ref[k]!r}")


if __name__ == "__main__":
    unittest.main()
