"""No heap allocation per request (issue 5, hot path): with keep-alive on both
sides and request heads of about 2 KiB (under 8 KiB), herd's request path
calls malloc zero times per request. Counted with a small LD_PRELOAD shim
(compiled here with the system C compiler) that counts malloc calls and
writes the total at exit: two runs of herd, 300 and 2 300 requests over the
same keep-alive connections; (mallocs_b - mallocs_a) / 2 000 must be ~0.
Runs on the I/O backend the environment selects (HERD_IO)."""
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from harness import HERD_BIN, Backend, Client, free_port, wait_port

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
static atomic_long calls;
static void* (*next_malloc)(size_t);
void* malloc(size_t n) {
  if (!next_malloc) next_malloc = (void* (*)(size_t))dlsym(RTLD_NEXT, "malloc");
  atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
  return next_malloc(n);
}
__attribute__((destructor)) static void report(void) {
  const char* path = getenv("HERD_MALLOC_COUNT");
  FILE* f = path ? fopen(path, "w") : NULL;
  if (f) { fprintf(f, "%ld\n", atomic_load(&calls)); fclose(f); }
}
"""

CFG = """
global
    nbthread 1
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    option forwardfor
frontend f
    bind 127.0.0.1:{port}
    http-request set-header X-Forwarded-Port %[dst_port]
    http-request add-header X-Via herd-allocation-test
    default_backend b
backend b
    balance roundrobin
    server s1 127.0.0.1:{p1}
    server s2 127.0.0.1:{p2}
"""

# About 2 KiB of request head: typical browser-like fields and a cookie.
HEAD = (b"GET /page?q=1 HTTP/1.1\r\nHost: shop.example\r\n"
        b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n"
        b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n"
        b"Cookie: session=" + b"a" * 1200 + b"; theme=dark\r\n"
        b"X-Request-Id: 0123456789abcdef0123456789abcdef\r\n"
        b"Referer: http://shop.example/catalog/items/12345\r\n\r\n")


@unittest.skipUnless(shutil.which("cc"), "needs a C compiler for the malloc-counting shim")
@unittest.skipIf(os.environ.get("HERD_SANITIZER"),
                 "AddressSanitizer owns malloc: an LD_PRELOAD counter cannot come before it")
class TestNoAllocationPerRequest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="herd-alloc-")
        src = os.path.join(cls.dir, "count.c")
        with open(src, "w") as f:
            f.write(SHIM)
        cls.shim = os.path.join(cls.dir, "count.so")
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", cls.shim, src, "-ldl"], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def mallocs_for(self, requests):
        b1, b2 = Backend("s1"), Backend("s2")
        port = free_port()
        cfg = os.path.join(self.dir, "h.cfg")
        with open(cfg, "w") as f:
            f.write(CFG.format(port=port, p1=b1.port, p2=b2.port))
        out = os.path.join(self.dir, "count.txt")
        env = {**os.environ, "LD_PRELOAD": self.shim, "HERD_MALLOC_COUNT": out}
        p = subprocess.Popen([HERD_BIN, "-db", "-q", "-f", cfg], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            clients = [Client(port) for _ in range(4)]
            for i in range(requests):
                status, _, body = clients[i % 4].request(HEAD)
                self.assertEqual(status, 200)
            for c in clients:
                c.close()
            p.send_signal(signal.SIGUSR1)  # soft stop: exit() runs the shim's destructor
            self.assertEqual(p.wait(10), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            b1.close()
            b2.close()
        with open(out) as f:
            return int(f.read())

    def test_request_path_does_not_allocate(self):
        a = self.mallocs_for(300)
        b = self.mallocs_for(2300)
        per_request = (b - a) / 2000
        print(f"\nmalloc calls: {a} for 300 requests, {b} for 2300: {per_request:.3f} per request")
        self.assertLess(per_request, 0.05)


if __name__ == "__main__":
    unittest.main()
