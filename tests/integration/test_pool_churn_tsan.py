"""The pool seam under load: while clients send keep-alive requests as fast as
they can, servers are added, readied, drained, put in maintenance, deleted and
re-weighted at random through the runtime API. Every request must succeed,
and every server must have been used. The ThreadSanitizer build runs this
test too (label tsan): a data race there aborts herd and fails it."""
import os
import random
import threading
import time
import unittest

from harness import LB, Backend, Client, free_port, runtime_api, server_of


class TestPoolChurn(unittest.TestCase):
    def test_random_changes_under_full_load_lose_nothing(self):
        seconds = float(os.environ.get("HERD_CHURN_SECONDS", "6"))
        static = Backend("s1")
        dyn = [Backend(f"d{i}") for i in range(6)]
        self.addCleanup(static.close)
        for b in dyn:
            self.addCleanup(b.close)
        port, cli_port = free_port(), free_port()
        cfg = f"""
global
    nbthread 2
    stats socket ipv4@127.0.0.1:{cli_port} level admin
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend f
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    server s1 {static.addr}
"""
        lb = LB(cfg, wait_ports=[port, cli_port])
        self.addCleanup(lb.stop)
        stop = time.time() + seconds
        failures, served, lock = [], {}, threading.Lock()

        def client(n):
            c = Client(port)
            i = 0
            while time.time() < stop:
                i += 1
                try:
                    st, _, body = c.request(f"GET /c{n}/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                except (OSError, EOFError) as e:
                    with lock:
                        failures.append(f"client {n} request {i}: {e!r}")
                    c = Client(port)
                    continue
                name = server_of(body)
                with lock:
                    served[name] = served.get(name, 0) + 1
                    if st != 200:
                        failures.append(f"client {n} request {i}: status {st}")
            c.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        rng = random.Random(42)
        state = {b.name: "absent" for b in dyn}
        ops = 0
        while time.time() < stop - 0.5:
            b = rng.choice(dyn)
            st = state[b.name]
            if st == "absent":
                replies = [runtime_api(cli_port, f"add server nodes/{b.name} {b.addr}"),
                           runtime_api(cli_port, f"set server nodes/{b.name} state ready")]
                self.assertIn("New server registered.", replies[0])
                state[b.name] = "ready"
            elif st == "ready":
                action = rng.choice(["drain", "maint", "weight"])
                if action == "weight":
                    runtime_api(cli_port, f"set server nodes/{b.name} weight {rng.randint(1, 10)}")
                else:
                    runtime_api(cli_port, f"set server nodes/{b.name} state {action}")
                    state[b.name] = action
            elif st == "drain":
                runtime_api(cli_port, f"set server nodes/{b.name} state maint")
                state[b.name] = "maint"
            else:  # maint
                if rng.random() < 0.5:
                    self.assertIn("Server deleted.", runtime_api(cli_port, f"del server nodes/{b.name}"))
                    state[b.name] = "absent"
                else:
                    runtime_api(cli_port, f"set server nodes/{b.name} state ready")
                    state[b.name] = "ready"
            ops += 1
            time.sleep(0.01)
        for t in threads:
            t.join()
        self.assertIsNone(lb.proc.poll(), "herd died: " + lb.output()[-3000:])
        self.assertEqual(failures, [])
        total = sum(served.values())
        self.assertGreater(ops, 50)
        self.assertGreater(total, 500)
        used = [b.name for b in dyn if served.get(b.name)]
        self.assertGreaterEqual(len(used), 4, served)
        print(f"\nchurn: {ops} pool changes, {total} requests, 0 failed, per server {served}")


if __name__ == "__main__":
    unittest.main()
