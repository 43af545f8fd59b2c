"""`user`/`group`/`uid`/`gid`/`chroot` in `global`: the same config on
haproxy 2.6 and on herd leaves both processes running as the named user and
group, jailed in the directory, after their listeners and sockets were bound
(ports below 1024 included), and still proxying. `-c` diagnostics for bad
values are haproxy's. Run as root only (the point is dropping root)."""
import os
import pwd
import grp
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import HERD_BIN, Backend, free_port, get, kill_procs, log_text, server_of, spawn_logged, wait_port
from test_proxy_parity import ENGINES

CFG = """
global
    user nobody
    group {group}
    chroot {jail}
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f
    bind 127.0.0.1:{port}
    bind 127.0.0.1:{low}
    default_backend b
backend b
    server s1 {addr}
"""


def engine_args(engine, cfg):
    if engine == "haproxy":
        return ["haproxy", "-db", "-f", cfg]
    if engine == "herd":
        return [HERD_BIN, "-db", "-f", cfg]
    return None  # reference mode: haproxy applies it itself, not herd


def ids(pid):
    """(real, effective, saved uid), the same for gid, and the root directory."""
    with open(f"/proc/{pid}/status") as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    uid = tuple(int(x) for x in st["Uid"].split()[:3])
    gid = tuple(int(x) for x in st["Gid"].split()[:3])
    groups = st["Groups"].split()
    return uid, gid, groups, os.readlink(f"/proc/{pid}/root")


def nogroup():
    for name in ("nogroup", "nobody"):
        try:
            return name, grp.getgrnam(name).gr_gid
        except KeyError:
            pass
    return None, None


@unittest.skipUnless(os.geteuid() == 0, "dropping privileges needs root")
class TestProcessIdentity(unittest.TestCase):
    def run_engine(self, engine):
        group, gid = nogroup()
        uid = pwd.getpwnam("nobody").pw_uid
        d = tempfile.mkdtemp(prefix="herd-ident-")
        jail = os.path.join(d, "jail")
        os.mkdir(jail, 0o755)
        web = Backend("s1")
        procs = []
        try:
            port, low = free_port(), 1000 + free_port() % 23  # a privileged port
            cfg = os.path.join(d, "lb.cfg")
            with open(cfg, "w") as f:
                f.write(CFG.format(group=group, jail=jail, sock=os.path.join(d, "lb.sock"), port=port,
                                   low=low, addr=web.addr))
            p, log = spawn_logged(procs, d, engine, engine_args(engine, cfg))
            wait_port(port)
            wait_port(low)
            deadline = time.time() + 5
            seen = None
            while time.time() < deadline:  # haproxy drops right after binding too
                seen = ids(p.pid)
                if seen[0][0] != 0:
                    break
                time.sleep(0.05)
            served = [server_of(get(pt)[2]) for pt in (port, low)]
            return (seen[0] == (uid,) * 3, seen[1] == (gid,) * 3, seen[2], seen[3] == jail, served,
                    p.poll() is None), log_text(log)
        finally:
            kill_procs(procs)
            web.close()
            shutil.rmtree(d, ignore_errors=True)

    def test_runs_as_user_and_group_in_the_jail_like_haproxy(self):
        if nogroup()[0] is None:
            self.skipTest("no nogroup/nobody group")
        results = {}
        for e in ENGINES:
            if engine_args(e, "") is None:
                continue
            results[e], log = self.run_engine(e)
            self.assertEqual(results[e], (True, True, [], True, ["s1", "s1"], True), f"{e}: {log}")
        if "haproxy" in results and "herd" in results:
            self.assertEqual(results["herd"], results["haproxy"])

    def test_stats_socket_owner_and_mode_like_haproxy(self):
        """`stats socket ... user/group/uid/gid/mode`: the Unix sockets are
        owned and moded as haproxy leaves them."""
        group, gid = nogroup()
        if group is None:
            self.skipTest("no nogroup/nobody group")
        seen = {}
        for e in ("haproxy", "herd"):
            if e == "haproxy" and "haproxy" not in ENGINES:
                continue
            d = tempfile.mkdtemp(prefix="herd-ident-")
            procs = []
            try:
                port = free_port()
                cfg = os.path.join(d, "s.cfg")
                with open(cfg, "w") as f:
                    f.write(f"global\n    stats socket {d}/a.sock user nobody group {group} mode 640\n"
                            f"    stats socket {d}/b.sock uid 123x gid 45 level admin\n"
                            f"    stats socket {d}/c.sock mode 600\n" +
                            ("defaults" + CFG.split("defaults", 1)[1]).format(
                                port=port, low=free_port(), addr="127.0.0.1:9"))
                spawn_logged(procs, d, e, engine_args(e, cfg))
                wait_port(port)
                paths = [os.path.join(d, n) for n in ("a.sock", "b.sock", "c.sock")]
                deadline = time.time() + 5
                while not all(map(os.path.exists, paths)) and time.time() < deadline:
                    time.sleep(0.05)
                st = [os.stat(p) for p in paths]
                seen[e] = [(x.st_uid, x.st_gid, oct(x.st_mode & 0o777)) for x in st]
            finally:
                kill_procs(procs)
                shutil.rmtree(d, ignore_errors=True)
        self.assertEqual(seen["herd"][0], (pwd.getpwnam("nobody").pw_uid, gid, "0o640"))
        self.assertEqual(seen["herd"][1][:2], (123, 45))
        self.assertEqual(seen["herd"][2][:2], (0, 0))
        if "haproxy" in seen:
            self.assertEqual(seen["herd"], seen["haproxy"])

    def test_check_messages_like_haproxy(self):
        cases = ["user nosuchuser", "group nosuchgroup", "uid abc", "gid x1",
                 "user nobody\n    uid 3", "group nogroup\n    group nogroup", "chroot",
                 "chroot /a\n    chroot /b", "uid",
                 "stats socket unix@x.sock user nosuchuser", "stats socket unix@x.sock group nosuchgroup",
                 "stats socket unix@x.sock user", "stats socket unix@x.sock group",
                 "stats socket unix@x.sock uid", "stats socket unix@x.sock gid 5 uid abc"]
        d = tempfile.mkdtemp(prefix="herd-ident-")
        try:
            for case in cases:
                cfg = os.path.join(d, "c.cfg")
                with open(cfg, "w") as f:
                    body = "defaults" + CFG.split("defaults", 1)[1]
                    f.write(f"global\n    {case}\n" + body.format(port=free_port(), low=free_port(),
                                                                    addr="127.0.0.1:9"))
                outs = {}
                for e in ("haproxy", "herd"):
                    if e == "haproxy" and "haproxy" not in ENGINES:
                        continue
                    r = subprocess.run(engine_args(e, cfg)[:1] + ["-c", "-f", cfg], capture_output=True,
                                       text=True, timeout=10)
                    lines = [l.split(") : ", 1)[-1] for l in (r.stdout + r.stderr).splitlines()
                             if "[NOTICE]" not in l]
                    outs[e] = (r.returncode, lines)
                if len(outs) == 2:
                    self.assertEqual(outs["herd"], outs["haproxy"], case)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
