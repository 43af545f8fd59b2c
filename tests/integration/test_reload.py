"""Reloads (issue 16): `herd -sf <old pid>` with and without `-x <stats
socket>` under keep-alive load lose no request; `-x` takes the old process's
listening sockets, so connections waiting in its accept queue are served
instead of reset; with membership, the new process takes the gossip and RPC
sockets and the member state over, and a real `serf agent` never sees the
balancer leave or fail.

Every process is started with -db and stopped by PID; every loop is bounded
in time. Addresses: 127.0.0.1 (ports from free_port()), and 127.0.0.120-123
for the gossip members (each binds 7946)."""
import base64
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (HAPROXY_BIN, HERD_BIN, Backend, free_port, get, kill_procs, log_text,
                     parse_headers, read_body, read_head, runtime_api, server_of, spawn_logged,
                     wait_port)

SERF = "/usr/bin/serf"
REQ = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"

CFG = """
global
    nbthread {nbthread}
    maxconn {maxconn}
    stats socket {sock} level admin expose-fd listeners
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout http-keep-alive 2s
frontend f
    bind {ip}:{port}
    default_backend b
backend b
{servers}
"""


class KeepAliveLoad:
    """`n` keep-alive clients in threads, each sending GETs one after the
    other on its connection (a new one when the answer said `connection:
    close`, as clients do), until stopped (bounded by `limit` s). A request
    fails when its connection is refused, reset or closed before the whole
    answer came, or when the answer is not a 200."""

    def __init__(self, port, n=8, host="127.0.0.1", limit=30):
        self.port, self.host, self.limit = port, host, limit
        self.ok, self.failed, self.by_server = 0, [], {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def _run(self):
        end = time.time() + self.limit
        s, buf = None, b""
        while not self._stop.is_set() and time.time() < end:
            try:
                if s is None:
                    s, buf = socket.create_connection((self.host, self.port), timeout=5), b""
                s.sendall(REQ)
                head, buf = read_head(s, buf)
                if head is None:
                    raise EOFError("closed before the answer")
                line, hdrs = parse_headers(head)
                body, buf = read_body(s, hdrs, buf)
                with self.lock:
                    if line.split(" ")[1] == "200":
                        self.ok += 1
                        srv = server_of(body)
                        self.by_server[srv] = self.by_server.get(srv, 0) + 1
                    else:
                        self.failed.append(line)
                if dict(hdrs).get("connection", "").lower() == "close":
                    s.close()
                    s = None
            except (OSError, EOFError, ValueError) as e:
                with self.lock:
                    self.failed.append(repr(e))
                if s is not None:
                    s.close()
                s = None
        if s is not None:
            s.close()

    def stop(self):
        self._stop.set()
        for t in self.threads:
            t.join(10)


class ReloadCase(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(HERD_BIN):
            self.skipTest(f"{HERD_BIN} not built")
        self.procs = []
        self.backends = []
        self.dir = tempfile.mkdtemp(prefix="herd-reload-")
        self.sock = os.path.join(self.dir, "admin.sock")

    def tearDown(self):
        kill_procs(self.procs)
        for b in self.backends:
            b.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def write_cfg(self, servers, nbthread=2, maxconn=1000, ip="127.0.0.1", port=None):
        self.port = port or free_port()
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(CFG.format(nbthread=nbthread, maxconn=maxconn, sock=self.sock, ip=ip,
                               port=self.port, servers=servers))

    def start(self, extra=(), binary=HERD_BIN, old=None, x=False, name="lb"):
        args = [binary, "-db", "-f", self.cfg, *extra]
        if old is not None:
            args += ["-sf", str(old.pid)] + (["-x", self.sock] if x else [])
        p, log = spawn_logged(self.procs, self.dir, f"{name}-{len(self.procs)}", args)
        return p, log

    def wait_socket(self, timeout=5):
        end = time.time() + timeout
        while time.time() < end:
            try:
                runtime_api_unix(self.sock, "show info")
                return
            except OSError:
                time.sleep(0.02)
        self.fail("the stats socket did not open")


def runtime_api_unix(path, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    s.sendall(cmd.encode() + b"\n")
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return out.decode()


class TestReloadUnderLoad(ReloadCase):
    def reload_loop(self, binary, x, reloads=5):
        b = Backend("s1")
        self.backends.append(b)
        self.write_cfg(f"    server s1 {b.addr}")
        cur, log = self.start(binary=binary)
        wait_port(self.port)
        self.wait_socket()
        load = KeepAliveLoad(self.port, n=8)
        time.sleep(0.3)
        olds = []
        for _ in range(reloads):
            new, log = self.start(binary=binary, old=cur, x=x)
            olds.append(cur)
            time.sleep(0.5)
            self.assertIsNone(new.poll(), f"the new process ended: {log_text(log)}")
            cur = new
        time.sleep(0.3)
        load.stop()
        for p in olds:
            self.assertEqual(p.wait(5), 0)
        return load

    def test_sf_reloads_under_keep_alive_load_lose_no_request(self):
        load = self.reload_loop(HERD_BIN, x=False)
        self.assertEqual(load.failed, [], f"{len(load.failed)} failed of {load.ok + len(load.failed)}")
        self.assertGreater(load.ok, 200)

    def test_sf_x_reloads_under_keep_alive_load_lose_no_request(self):
        load = self.reload_loop(HERD_BIN, x=True)
        self.assertEqual(load.failed, [], f"{len(load.failed)} failed of {load.ok + len(load.failed)}")
        self.assertGreater(load.ok, 200)


class TestSocketHandOver(ReloadCase):
    def queued_clients(self, n):
        """Connections the kernel completed but the balancer, at its maxconn
        of 1 (held by `self.hold`), has not accepted: each sent a request."""
        self.hold = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.hold.sendall(REQ)
        head, _ = read_head(self.hold)
        self.assertIn(b" 200 ", head)
        queued = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            queued.append(s)
        time.sleep(0.3)
        return queued

    def answers(self, queued):
        out = []
        for s in queued:
            s.settimeout(5)
            data = b""
            try:
                while chunk := s.recv(65536):
                    data += chunk
                out.append(data.split(b"\r\n", 1)[0].decode())
            except OSError as e:
                out.append(repr(e))
            s.close()
        return out

    def test_x_serves_the_connections_queued_on_the_old_process(self):
        """At its maxconn the old process accepts nothing: three connections
        wait in its listener's queue. `-sf -x` hands that very socket over
        and the new process answers them; the listening socket is the same
        one (its inode)."""
        b = Backend("s1")
        self.backends.append(b)
        self.write_cfg(f"    server s1 {b.addr}", nbthread=1, maxconn=1)
        old, old_log = self.start()
        wait_port(self.port)
        self.wait_socket()
        queued = self.queued_clients(3)
        inode = listen_inodes(self.port)
        new, log = self.start(old=old, x=True)
        self.assertEqual(self.answers(queued), ["HTTP/1.1 200 OK"] * 3, log_text(log))
        self.hold.close()
        self.assertEqual(old.wait(5), 0)
        self.assertEqual(listen_inodes(self.port), inode)
        self.assertIn("handed 1 listening socket(s) over to a new process", log_text(old_log))
        self.assertEqual(get(self.port)[0], 200)
        # The stats socket's path now belongs to the new process: the old
        # one did not remove it when it left.
        self.assertIn("Pid: " + str(new.pid), runtime_api_unix(self.sock, "show info"))

    def test_without_x_the_old_process_serves_its_queue_before_closing(self):
        """With SO_REUSEPORT alone, the connections queued on the old
        process's listener would be reset when it closes it: at its soft
        stop it takes them from the queue first and answers them."""
        b = Backend("s1")
        self.backends.append(b)
        self.write_cfg(f"    server s1 {b.addr}", nbthread=1, maxconn=1)
        old, _ = self.start()
        wait_port(self.port)
        queued = self.queued_clients(3)
        self.start(old=old, x=False)
        self.assertEqual(self.answers(queued), ["HTTP/1.1 200 OK"] * 3)
        self.hold.close()
        self.assertEqual(old.wait(5), 0)

    def test_x_takes_haproxys_sockets_and_haproxy_takes_herds(self):
        """The wire format is haproxy 2.6's `_getsocks`: haproxy hands its
        listener to herd -x, and herd hands its listeners to haproxy -x."""
        if not os.path.exists(HAPROXY_BIN):
            self.skipTest("haproxy absent")
        b = Backend("s1")
        self.backends.append(b)
        self.write_cfg(f"    server s1 {b.addr}", nbthread=1)
        for first, second in ((HAPROXY_BIN, HERD_BIN), (HERD_BIN, HAPROXY_BIN)):
            old, _ = self.start(binary=first)
            wait_port(self.port)
            self.wait_socket()
            inode = listen_inodes(self.port)
            new, log = self.start(binary=second, old=old, x=True)
            self.assertEqual(old.wait(5), 0)
            self.assertEqual(listen_inodes(self.port), inode, (first, second, log_text(log)))
            self.assertEqual(get(self.port)[0], 200)
            new.send_signal(signal.SIGTERM)
            new.wait(5)

    def test_x_fails_without_expose_fd(self):
        """As haproxy: -x on a socket without `expose-fd listeners` is fatal."""
        b = Backend("s1")
        self.backends.append(b)
        self.write_cfg(f"    server s1 {b.addr}", nbthread=1)
        with open(self.cfg) as f:
            text = f.read().replace(" expose-fd listeners", "")
        with open(self.cfg, "w") as f:
            f.write(text)
        old, _ = self.start()
        wait_port(self.port)
        self.wait_socket()
        new, log = self.start(old=old, x=True)
        self.assertEqual(new.wait(5), 1)
        self.assertIn("Failed to get the sockets from the old process!", log_text(log))
        self.assertIsNone(old.poll())


@unittest.skipUnless(os.path.exists(HAPROXY_BIN), "haproxy not installed")
class TestReferenceModeReload(ReloadCase):
    def test_x_passes_to_the_supervised_haproxy(self):
        """Reference mode (`--engine haproxy`): `herd -sf <old> -x <socket>`
        starts its haproxy with `-x <socket>` (the configuration's
        `expose-fd listeners` socket, which the old herd's haproxy serves),
        waits for it to serve, then soft-stops the old herd: the listening
        sockets go over (the same socket inode throughout), and under
        keep-alive load no connection is refused or reset."""
        b = Backend("s1")
        self.backends.append(b)
        self.write_cfg(f"    server s1 {b.addr}", nbthread=1)
        cur, log = self.start(extra=["--engine", "haproxy"])
        wait_port(self.port)
        self.wait_socket()
        load = KeepAliveLoad(self.port, n=8)
        inodes = listen_inodes(self.port)
        for _ in range(3):
            time.sleep(0.5)
            new, log = self.start(extra=["--engine", "haproxy"], old=cur, x=True)
            self.assertEqual(cur.wait(15), 0, log_text(log))
            self.assertIsNone(new.poll(), log_text(log))
            cur = new
        time.sleep(0.5)
        load.stop()
        # The same listening socket all along: taken over, never bound again.
        self.assertEqual(listen_inodes(self.port), inodes)
        # No connection refused or reset by a listener that went away. What
        # remains is haproxy's own race: an idle keep-alive connection closed
        # by the old worker as the client reuses it (a few in thousands, as
        # in bench/reload.py's haproxy figure), which herd does not drive.
        lost = [f for f in load.failed if "closed before the answer" not in f]
        self.assertEqual(lost, [], f"{len(load.failed)} failed of {load.ok + len(load.failed)}")
        self.assertLess(len(load.failed), 20, load.failed)
        self.assertGreater(load.ok, 100)
        # haproxy's master passes -x on to its worker.
        def children(pid):
            return subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                  text=True).stdout.split()

        cmdlines = []
        for m in children(cur.pid):
            for p in [m] + children(m):
                with open(f"/proc/{p}/cmdline") as f:
                    cmdlines.append(f.read().replace("\0", " "))
        self.assertTrue(any(f"-x {self.sock}" in c for c in cmdlines), cmdlines)


def listen_inodes(port):
    out = subprocess.run(["ss", "-Hltne", f"sport = :{port}"], capture_output=True, text=True).stdout
    return sorted(l.split("ino:")[1].split()[0] for l in out.splitlines() if "ino:" in l)


LB_IP, NODE_IP = "127.0.0.120", "127.0.0.121"

MEMBERSHIP_YAML = """
node: herd-lb
bind: {ip}:7946
rpc: {ip}:{rpc}
pools:
  - backend: b
    match: {{ role: backend }}
    port: {bport}
"""

HANDLER = """#!/bin/sh
while read -r line; do echo "$SERF_EVENT $line" >> {log}; done
"""


@unittest.skipUnless(os.path.exists(SERF), "serf binary absent")
class TestMembershipReload(ReloadCase):
    def test_serf_never_sees_the_balancer_leave_or_fail(self):
        self.membership_reloads(master=False)

    def test_serf_never_sees_the_balancer_leave_or_fail_with_sigusr2(self):
        """The same with `herd -W` reloaded by SIGUSR2 (app/master.h)."""
        self.membership_reloads(master=True)

    def membership_reloads(self, master):
        """herd -sf -x with membership: the new process takes the gossip UDP
        and TCP sockets, the RPC listener and the member state; a real serf
        agent shows herd-lb alive all along and its event handler records
        no member-leave nor member-failed; the serf node's web server stays
        in the pool (requests keep reaching it, none fails)."""
        bport = free_port()
        web = Backend("web1", port=bport, host=NODE_IP)
        self.backends.append(web)
        self.write_cfg("", nbthread=1, ip=LB_IP)
        rpc = free_port()
        yml = os.path.join(self.dir, "membership.yaml")
        with open(yml, "w") as f:
            f.write(MEMBERSHIP_YAML.format(ip=LB_IP, rpc=rpc, bport=bport))
        events = os.path.join(self.dir, "events.log")
        handler = os.path.join(self.dir, "handler.sh")
        with open(handler, "w") as f:
            f.write(HANDLER.format(log=events))
        os.chmod(handler, 0o755)
        herd, herd_log = self.start(extra=["--membership", yml] + (["-W"] if master else []))
        wait_port(self.port, host=LB_IP)
        wait_port(rpc, host=LB_IP)
        self.wait_socket()
        spawn_logged(self.procs, self.dir, "serf",
                     [SERF, "agent", "-node", "web1", "-bind", f"{NODE_IP}:7946",
                      "-rpc-addr", f"{NODE_IP}:7373", "-join", f"{LB_IP}:7946",
                      "-tag", "role=backend", "-event-handler", handler])
        end = time.time() + 10
        while time.time() < end:
            try:
                if server_of(get(self.port, host=LB_IP)[2]) == "web1":
                    break
            except (OSError, EOFError):
                pass
            time.sleep(0.05)
        else:
            self.fail("web1 never served: " + log_text(herd_log))
        views, stop = [], threading.Event()

        def watch():
            while not stop.is_set():
                out = subprocess.run([SERF, "members", "-rpc-addr", f"{NODE_IP}:7373"],
                                     capture_output=True, text=True, timeout=5).stdout
                views.append(next((l.split()[2] for l in out.splitlines()
                                   if l.startswith("herd-lb ")), "absent"))
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        load = KeepAliveLoad(self.port, n=4, host=LB_IP)
        cur, log = herd, herd_log
        for i in range(3):
            if master:
                n = log_text(log).count("Loading success.")
                herd.send_signal(signal.SIGUSR2)
                end = time.time() + 10
                while log_text(log).count("Loading success.") == n and time.time() < end:
                    time.sleep(0.05)
                self.assertIsNone(herd.poll(), log_text(log))
            else:
                new, log = self.start(extra=["--membership", yml], old=cur, x=True)
                self.assertEqual(cur.wait(10), 0)
                self.assertIsNone(new.poll(), log_text(log))
                cur = new
            time.sleep(1)
        # Long enough for serf to suspect and declare failed a silent member
        # (probe interval 1 s, suspicion 4 × 1 s for two members).
        time.sleep(5)
        load.stop()
        stop.set()
        watcher.join(10)
        self.assertEqual(len(load.failed), 0,
                         f"{load.failed[:3]}: {log_text(herd_log)[-1500:]}\n{log_text(log)[-2500:]}")
        self.assertGreater(load.by_server.get("web1", 0), 50)
        self.assertTrue(views and set(views) == {"alive"}, views)
        with open(events) as f:
            evs = f.read()
        self.assertNotIn("member-leave herd-lb", evs, evs)
        self.assertNotIn("member-failed herd-lb", evs, evs)
        self.assertIn("web1", runtime_api_unix(self.sock, "show members"))
        self.assertIn("taking over from the previous process", log_text(log))
        if master:  # the workers leave the cluster, then the master exits
            herd.send_signal(signal.SIGTERM)
            self.assertEqual(herd.wait(20), 0)

    def start_lb(self, servers, bport, yaml_extra, extra=()):
        """herd on LB_IP with `servers` in backend b and MEMBERSHIP_YAML plus
        `yaml_extra`; returns (process, log, membership file) once its RPC
        port and stats socket listen."""
        self.write_cfg(servers, nbthread=1, ip=LB_IP)
        rpc = free_port()
        yml = os.path.join(self.dir, "membership.yaml")
        with open(yml, "w") as f:
            f.write(MEMBERSHIP_YAML.format(ip=LB_IP, rpc=rpc, bport=bport) + yaml_extra)
        cur, log = self.start(extra=["--membership", yml, *extra])
        try:
            wait_port(rpc, host=LB_IP)
        except TimeoutError:  # e.g. 127.0.0.120:7946 held by another run
            self.fail(log_text(log))
        self.wait_socket()
        return cur, log, yml

    def test_member_servers_keep_their_health_and_admin_state(self):
        self.carried_states(master=False)

    def test_member_servers_keep_their_state_with_sigusr2(self):
        """The same with `herd -W` reloaded by SIGUSR2 (the new worker asks
        the old one over the master's socket)."""
        self.carried_states(master=True)

    def carried_states(self, master):
        """The servers three serf members added (`check inter 60s rise 2
        fall 1`: the first check runs when a server is added, the next a
        minute later) come back in the new process with the old one's state,
        before any check of its own: web1 UP with the weight `set weight`
        gave it, web2 DOWN by its check, web3 in MAINT by `set server`. Just
        before the reload web1's backend starts failing its checks and
        web2's passing them, so a new process that started them as new
        servers (DOWN, h = rise - 1), or that checked them at once, would show
        web1 DOWN and web2 UP."""
        nodes = {"web1": "127.0.0.121", "web2": "127.0.0.122", "web3": "127.0.0.123"}
        bport = free_port()
        webs = {n: Backend(n, port=bport, host=ip) for n, ip in nodes.items()}
        self.backends += webs.values()
        webs["web2"].down = True
        cur, log, yml = self.start_lb("    option httpchk GET /health", bport,
                                      '    server: "check inter 60s rise 2 fall 1"\n',
                                      ["-W"] if master else [])
        for n, ip in nodes.items():
            spawn_logged(self.procs, self.dir, f"serf-{n}",
                         [SERF, "agent", "-node", n, "-bind", f"{ip}:7946",
                          "-rpc-addr", f"{ip}:7373", "-join", f"{LB_IP}:7946",
                          "-tag", "role=backend"])

        def stat():
            """{server: (status, check status, weight)} from `show stat`."""
            rows = runtime_api_unix(self.sock, "show stat").splitlines()
            head = rows[0].lstrip("# ").split(",")
            out = {}
            for r in rows[1:]:
                f = dict(zip(head, r.split(",")))
                if f.get("pxname") == "b" and f["svname"] in nodes:
                    out[f["svname"]] = (f["status"], f["check_status"], f["weight"])
            return out

        def states():
            """{server: (op state, admin state, user weight)} from `show servers state`."""
            out = {}
            for line in runtime_api_unix(self.sock, "show servers state b").splitlines()[1:]:
                w = line.split()
                if w and not w[0].startswith("#") and w[3] in nodes:
                    out[w[3]] = (int(w[5]), int(w[6]), int(w[7]))
            return out

        end = time.time() + 15
        while time.time() < end:
            st = stat()
            if (st.get("web1", ("",))[0] == "UP" and st.get("web3", ("",))[0] == "UP" and
                    st.get("web2", ("", ""))[:2] == ("DOWN", "L7STS")):
                break
            time.sleep(0.1)
        else:
            self.fail(f"{stat()}\n{log_text(log)}")
        for cmd in ("set server b/web3 state maint", "set weight b/web1 7"):
            self.assertEqual(runtime_api_unix(self.sock, cmd).strip(), "", cmd)
        before = states()
        self.assertEqual(before, {"web1": (2, 0, 7), "web2": (0, 0, 1), "web3": (0, 1, 1)})
        webs["web1"].down, webs["web2"].down = True, False
        if master:
            mark = len(log_text(log))
            cur.send_signal(signal.SIGUSR2)
            end = time.time() + 10
            while "Loading success." not in log_text(log)[mark:] and time.time() < end:
                time.sleep(0.05)
            self.assertIsNone(cur.poll(), log_text(log))
            # The old worker stops once the new one serves: until then the
            # stats socket may still be the old worker's.
            while "carries on as this member" not in log_text(log)[mark:] and time.time() < end:
                time.sleep(0.05)
        else:
            new, log = self.start(extra=["--membership", yml], old=cur, x=True)
            self.assertEqual(cur.wait(10), 0, log_text(log))
            self.assertIsNone(new.poll(), log_text(log))
            mark = 0
        # The members join the new process again (its catch-up with the
        # members the old one knew); on a loaded machine that takes seconds.
        end = time.time() + 15
        while len(states()) < len(nodes) and time.time() < end:
            time.sleep(0.05)
        self.assertEqual(states(), before, log_text(log))
        st = stat()
        self.assertEqual({n: v[0] for n, v in st.items()},
                         {"web1": "UP", "web2": "DOWN", "web3": "MAINT"}, f"{st}\n{log_text(log)}")
        self.assertEqual(st["web1"][2], "7")
        # No check ran yet: the check status is INI (not carried, see membership.md).
        self.assertEqual((st["web1"][1], st["web2"][1]), ("INI", "INI"))
        text = log_text(log)[mark:]
        for n in nodes:
            self.assertIn(f"membership: server b/{n} keeps its state from the previous process",
                          text)
        self.assertNotIn(", reason: ", text)  # no check result logged
        if master:  # the workers leave the cluster, then the master exits
            cur.send_signal(signal.SIGTERM)
            self.assertEqual(cur.wait(20), 0)

    def test_a_rotated_keyring_survives_the_reload(self):
        """`serf keys` rotates the cluster's key (key queries, which herd
        answers) after herd started with `encrypt: K1`; a reload then takes
        the keyring in use from the old process, not the configuration's K1,
        which no member has any more: serf keeps seeing herd-lb alive, and
        every member (herd's new process included) lists K2 alone."""
        k1 = base64.b64encode(b"herd-reload-k1..").decode()
        k2 = base64.b64encode(b"herd-reload-k2..").decode()
        cur, log, yml = self.start_lb("", free_port(), f"encrypt: {k1}\n")
        spawn_logged(self.procs, self.dir, "serf",
                     [SERF, "agent", "-node", "web1", "-bind", f"{NODE_IP}:7946",
                      "-rpc-addr", f"{NODE_IP}:7373", "-join", f"{LB_IP}:7946",
                      "-encrypt", k1])

        def serf(*args):
            return subprocess.run([SERF, *args, "-rpc-addr", f"{NODE_IP}:7373"],
                                  capture_output=True, text=True, timeout=10)

        def herd_view():
            out = serf("members").stdout
            return next((l.split()[2] for l in out.splitlines() if l.startswith("herd-lb ")),
                        "absent")

        end = time.time() + 10
        while herd_view() != "alive" and time.time() < end:
            time.sleep(0.1)
        self.assertEqual(herd_view(), "alive", log_text(log))
        for step in (["-install", k2], ["-use", k2], ["-remove", k1]):
            r = serf("keys", *step)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr + log_text(log))
        new, log = self.start(extra=["--membership", yml], old=cur, x=True)
        self.assertEqual(cur.wait(10), 0)
        views = []
        # Long enough for serf to declare failed a member it cannot talk to
        # (probe interval 1 s, suspicion 4 x 1 s for two members).
        end = time.time() + 7
        while time.time() < end:
            views.append(herd_view())
            time.sleep(0.2)
        self.assertEqual(set(views), {"alive"}, log_text(log))
        self.assertIsNone(new.poll(), log_text(log))
        self.assertIn("keyring with 1 keys taken over from the previous process", log_text(log))
        listed = serf("keys", "-list")
        self.assertEqual(listed.returncode, 0, listed.stdout + listed.stderr)
        self.assertIn([k2, "[2/2]"], [l.split() for l in listed.stdout.splitlines()], listed.stdout)
        self.assertNotIn(k1, listed.stdout)


if __name__ == "__main__":
    unittest.main()
