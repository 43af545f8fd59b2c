"""Master-worker mode (issue 16, app/master.h): `herd -W` runs a master that
starts a worker; SIGUSR2 reloads (configuration checked, a new worker takes
the listening sockets over the workers' private socket, the old one
soft-stops) with no failed request under keep-alive load; an invalid
configuration keeps the current worker and the master says why; `-Ws`
speaks systemd's notify protocol; `master-worker` in global does what -W
does; the current worker dying ends the master with its code.

Every process is started with -db and stopped by PID; loops are bounded."""
import os
import signal
import socket
import time
import unittest

from harness import Backend, free_port, get, log_text, wait_port
from test_reload import KeepAliveLoad, ReloadCase, runtime_api_unix


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped by its parent) counts as gone.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


class TestMasterWorker(ReloadCase):
    def setUp(self):
        super().setUp()
        b = Backend("s1")
        self.backends.append(b)
        self.write_cfg(f"    server s1 {b.addr}")
        with open(self.cfg) as f:  # the private socket is the master's; this one is for the test
            text = f.read().replace(" expose-fd listeners", "")
        with open(self.cfg, "w") as f:
            f.write(text)

    def worker_pid(self):
        for line in runtime_api_unix(self.sock, "show info").splitlines():
            if line.startswith("Pid: "):
                return int(line[5:])
        self.fail("no Pid in show info")

    def wait_worker_change(self, before, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            try:
                pid = self.worker_pid()
                if pid != before:
                    return pid
            except OSError:
                pass
            time.sleep(0.05)
        self.fail(f"the worker is still {before}")

    def start_master(self, args=("-W",)):
        master, log = self.start(extra=list(args))
        self.addCleanup(lambda: master.poll() is None and master.send_signal(signal.SIGTERM)
                        and None)
        wait_port(self.port)
        self.wait_socket()
        end = time.time() + 5  # the master saw its worker ready
        while "Loading success." not in log_text(log) and time.time() < end:
            time.sleep(0.02)
        return master, log

    def test_sigusr2_reloads_under_load_lose_no_request(self):
        master, log = self.start_master()
        workers = [self.worker_pid()]
        self.assertNotEqual(workers[0], master.pid)
        load = KeepAliveLoad(self.port, n=8)
        for _ in range(3):
            time.sleep(0.7)
            master.send_signal(signal.SIGUSR2)
            workers.append(self.wait_worker_change(workers[-1]))
        time.sleep(0.5)
        load.stop()
        self.assertEqual(load.failed, [], f"{len(load.failed)} failed of {load.ok + len(load.failed)}")
        self.assertGreater(load.ok, 200)
        end = time.time() + 5
        while time.time() < end and any(alive(p) for p in workers[:-1]):
            time.sleep(0.05)
        self.assertEqual([p for p in workers[:-1] if alive(p)], [], log_text(log))
        self.assertEqual(log_text(log).count("Loading success."), 4)
        master.send_signal(signal.SIGTERM)
        self.assertEqual(master.wait(10), 0)
        self.assertFalse(alive(workers[-1]))
        self.assertIn("All workers exited. Exiting... (0)", log_text(log))

    def test_an_invalid_configuration_keeps_the_worker(self):
        master, log = self.start_master()
        before = self.worker_pid()
        with open(self.cfg, "a") as f:
            f.write("    bogus-keyword\n")
        master.send_signal(signal.SIGUSR2)
        end = time.time() + 5
        while "keeps serving" not in log_text(log) and time.time() < end:
            time.sleep(0.05)
        text = log_text(log)
        self.assertIn("the new configuration is not valid; worker (%d) keeps serving" % before, text)
        self.assertIn("unknown keyword 'bogus-keyword' in 'backend' section", text)
        self.assertEqual(self.worker_pid(), before)
        self.assertEqual(get(self.port)[0], 200)
        self.assertIsNone(master.poll())

    def test_ws_speaks_systemds_notify_protocol(self):
        path = os.path.join(self.dir, "notify.sock")
        n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        n.bind(path)
        n.settimeout(10)
        self.addCleanup(n.close)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            master, log = self.start_master(args=("-Ws",))
        finally:
            del os.environ["NOTIFY_SOCKET"]
        self.assertTrue(n.recv(4096).startswith(b"READY=1\nMAINPID=%d" % master.pid))
        before = self.worker_pid()
        master.send_signal(signal.SIGUSR2)
        self.assertEqual(n.recv(4096), b"RELOADING=1")
        self.assertEqual(n.recv(4096), b"READY=1")
        self.assertNotEqual(self.worker_pid(), before)
        master.send_signal(signal.SIGTERM)
        self.assertEqual(n.recv(4096), b"STOPPING=1")
        self.assertEqual(master.wait(10), 0)

    def test_master_worker_keyword_and_a_dying_worker(self):
        """`master-worker` in global is -W; kill -9 of the current worker
        ends the master with the worker's code (137), as HAProxy's."""
        with open(self.cfg) as f:
            text = f.read().replace("global\n", "global\n    master-worker\n", 1)
        with open(self.cfg, "w") as f:
            f.write(text)
        master, log = self.start_master(args=())
        worker = self.worker_pid()
        self.assertNotEqual(worker, master.pid)
        os.kill(worker, signal.SIGKILL)
        self.assertEqual(master.wait(10), 137, log_text(log))
        self.assertIn("Current worker (%d) exited with code 137" % worker, log_text(log))

    def test_workers_end_with_a_killed_master(self):
        master, _ = self.start_master()
        worker = self.worker_pid()
        master.kill()
        master.wait(5)
        end = time.time() + 5
        while alive(worker) and time.time() < end:
            time.sleep(0.05)
        self.assertFalse(alive(worker))


if __name__ == "__main__":
    unittest.main()
