"""`userlist` sections, `http_auth`/`http_auth_group` and the
`http_auth_user|pass|type` fetches, `http-request auth` and
`http-request tarpit` with `timeout tarpit` (issue 17), run on haproxy 2.6
and herd with the same config: the bytes of the 401 and tarpit answers,
what reaches the server, how long a tarpitted request is held, whether the
connection stays open, and `-c`'s messages for broken userlists."""
import base64
import time
import unittest

from harness import HAPROXY_BIN, HERD_BIN, Client, check_diagnostics, have_haproxy, raw
from test_http_rules_parity import DEFAULTS
from test_proxy_parity import ParityCase

# Hashes of "secret" made with `openssl passwd -6|-5|-1` (SHA-512, SHA-256
# and MD5 crypt).
SHA512 = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
SHA256 = "$5$ab$uBQPK5nh89waaCXDSRwBxzVzl.pS5fPkZnKN7HXbvj6"
MD5 = "$1$ab$dslkcXxVH.x8LwW1W/oAB/"


AUTH_CFG = DEFAULTS + """
userlist L1
    group adm users alice,carol
    group dev
    user alice password {sha512}
    user bob insecure-password pw groups dev
    user carol password {md5} groups dev
    user dave password {sha256}
    user frank password $6$k6y3o.eP$JlKBx9za9667qe4xHSwRv6J.C0/D7cV91

frontend f
    bind 127.0.0.1:{p}
    acl a_adm http_auth_group(L1) adm
    acl who_bob http_auth_user -i BOB
    http-request auth realm "Admin Area" if {{ path_beg /adm }} !a_adm
    http-request deny deny_status 403 if {{ path_beg /nobob }} who_bob
    http-request set-header X-User %[http_auth_user]
    http-request set-header X-Pass %[http_auth_pass]
    http-request set-header X-Type %[http_auth_type]
    use_backend dev if {{ path_beg /dev }}
    use_backend open if {{ path_beg /open }}
    default_backend b

backend b
    acl a_ok http_auth(L1)
    http-request auth unless a_ok
    server s1 {b0}

backend dev
    acl a_dev http_auth_group(L2) two
    http-request auth if !a_dev
    server s1 {b0}

backend open
    server s1 {b0}

userlist L2
    group one
    group two users thomas
    user thomas insecure-password white-rabbit groups one
    user neo insecure-password x groups one
"""


def basic(user, pw):
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def seen(body, name):
    """The value of header `name` in the request head the backend echoes."""
    for line in body.split(b"\r\n"):
        if line.lower().startswith(name.encode() + b":"):
            return line.split(b":", 1)[1].strip().decode()
    return None


def exchange(port, path, auth=None, extra=""):
    c = Client(port)
    try:
        a = f"Authorization: {auth}\r\n" if auth is not None else ""
        status, hdrs, body = c.request(f"GET {path} HTTP/1.1\r\nHost: t\r\n{a}{extra}\r\n".encode())
        return (status, dict(hdrs).get("www-authenticate"), seen(body, "x-user"),
                seen(body, "x-pass"), seen(body, "x-type"), not c.closed(0.2))
    finally:
        c.close()


AUTH_CASES = [
    ("/", None),
    ("/", basic("alice", "secret")),          # SHA-512 crypt
    ("/", basic("alice", "wrong")),
    ("/", basic("carol", "secret")),            # MD5 crypt
    ("/", basic("carol", "wrong")),
    ("/", basic("dave", "secret")),           # SHA-256 crypt
    ("/", basic("bob", "pw")),                 # insecure-password
    ("/", basic("bob", "PW")),
    ("/", basic("frank", "x")),                # a hash crypt(3) cannot match
    ("/", basic("nobody", "pw")),
    ("/", basic("bob", "pw").replace("Basic", "basic")),
    ("/", basic("bob", "pw").replace("Basic", "Bas")),
    ("/", basic("bob", "pw").replace("Basic ", "Basic   ")),
    ("/", basic("bob", "pw") + "="),           # broken base64
    ("/", "Basic " + base64.b64encode(b"bobpw").decode()),  # no colon
    ("/", "Bearer abc.def"),
    ("/", "Digest x"),
    ("/", basic("bob", "pw") + ", " + basic("alice", "secret")),
    ("/", basic("bob", "p:w:x")),
    ("/adm/x", basic("bob", "pw")),            # not in adm: realm "Admin Area"
    ("/adm/x", basic("carol", "secret")),       # adm through `group ... users`
    ("/adm/x", basic("alice", "secret")),
    ("/nobob", basic("bob", "pw")),            # http_auth_user -i
    ("/dev", basic("thomas", "white-rabbit")),  # another userlist, default realm
    ("/dev", basic("neo", "x")),
    ("/open", "Bearer abc.def"),               # no auth needed: the fetches reach the server
    ("/open", basic("who", "ever")),
    ("/open", None),
]


class TestHttpAuth(ParityCase):
    def test_basic_auth_users_groups_and_fetches(self):
        def cfg(p, b):
            return AUTH_CFG.format(p=p, b0=b[0].addr, sha512=SHA512, sha256=SHA256, md5=MD5)


        def scenario(port, backends):
            out = [exchange(port, path, auth) for path, auth in AUTH_CASES]
            # The 401's bytes: HTTP/1.1, HTTP/1.0 (closes), HEAD.
            out.append(raw(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"))
            out.append(raw(port, b"GET /adm HTTP/1.0\r\n\r\n", until_close=True))
            out.append(raw(port, b"HEAD /dev HTTP/1.1\r\nHost: t\r\n\r\n", timeout=1))
            return out

        res = self.assert_same(self.run_both(cfg, scenario))
        statuses = [r[0] for r in res[:len(AUTH_CASES)]]
        self.assertEqual(statuses, [401, 200, 401, 200, 401, 200, 200, 401, 401, 401, 200, 200, 200,
                                    401, 401, 401, 401, 200, 401, 401, 200, 200, 403, 200, 401,
                                    200, 200, 200])
        self.assertEqual(res[0][1], 'Basic realm="b"')  # the backend's name
        self.assertEqual(res[19][1], 'Basic realm="Admin Area"')
        self.assertEqual(res[24][1], 'Basic realm="dev"')
        self.assertEqual(res[1][2:5], ("alice", "secret", "Basic"))
        self.assertEqual(res[25][2:5], ("", "", "Bearer"))
        self.assertEqual(res[26][2:5], ("who", "ever", "Basic"))
        self.assertTrue(all(r[5] for r in res[:len(AUTH_CASES)]), "a 401 keeps an HTTP/1.1 connection")
        self.assertIn(b'\r\ncontent-type: text/html\r\nwww-authenticate: Basic realm="b"\r\n\r\n',
                      res[-3])
        self.assertIn(b"\r\nconnection: close\r\n\r\n<html>", res[-2])
        self.assertTrue(res[-1].endswith(b'realm="dev"\r\n\r\n'))


TARPIT_CFG = DEFAULTS + """
frontend f
    bind 127.0.0.1:{p}
    timeout tarpit 400
    http-request tarpit if {{ path_beg /tp }}
    http-request tarpit deny_status 429 if {{ path_beg /t429 }}
    default_backend b

frontend g
    bind 127.0.0.1:{p2}
    http-request tarpit if {{ path_beg /tp }}
    default_backend b

backend b
    timeout connect 600
    http-request tarpit if {{ path_beg /bt }}
    server s1 {b0}
"""


class TestTarpit(ParityCase):
    def test_tarpit_delay_status_and_connection(self):
        from harness import free_port
        p2 = free_port()

        def cfg(p, b):
            return TARPIT_CFG.format(p=p, p2=p2, b0=b[0].addr)

        def timed(port, path, version="1.1"):
            c = Client(port)
            try:
                t0 = time.monotonic()
                status, hdrs, body = c.request(
                    f"GET {path} HTTP/{version}\r\nHost: t\r\n\r\n".encode())
                took = time.monotonic() - t0
                return status, body.split(b"\n")[0], took, not c.closed(0.2)
            finally:
                c.close()

        def scenario(port, backends):
            out = {
                "fe": timed(port, "/tp"),          # the frontend's timeout tarpit
                "429": timed(port, "/t429"),
                "be": timed(port, "/bt"),          # the backend's: its timeout connect
                "none": timed(p2, "/tp"),          # a frontend has no connect timeout: no wait
                "ok": timed(port, "/x"),
            }
            out["wire"] = raw(port, b"GET /tp HTTP/1.0\r\n\r\n", until_close=True)
            return out

        results = self.run_both(cfg, scenario)
        for engine, r in results.items():
            for name, lo, hi in (("fe", 0.39, 0.7), ("429", 0.39, 0.7), ("be", 0.59, 0.9),
                                 ("none", 0, 0.2)):
                self.assertTrue(lo <= r[name][2] <= hi, f"{engine} {name}: {r[name][2]:.3f}s")
        # Without timings, the engines agree byte for byte.
        strip = {e: {k: (v[:2] + v[3:] if isinstance(v, tuple) else v) for k, v in r.items()}
                 for e, r in results.items()}
        herd = self.assert_same(strip)
        self.assertEqual(herd["fe"][:2], (500, b"<html><body><h1>500 Internal Server Error</h1>"))
        self.assertEqual(herd["429"][0], 429)
        self.assertEqual(herd["be"][0], 500)
        self.assertTrue(herd["fe"][2], "a tarpitted HTTP/1.1 connection stays open")
        self.assertTrue(herd["wire"].startswith(b"HTTP/1.1 500 Internal Server Error\r\n"))


class TestUserlistMessages(unittest.TestCase):
    """`-c` on broken userlists: the same exit status and alerts as haproxy."""

    def test_diagnostics(self):
        if not have_haproxy():
            self.skipTest("haproxy is not installed")
        head = ("defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n"
                "  timeout connect 1s\n")
        fe = "frontend f\n  bind 127.0.0.1:1\n"
        bodies = [
            "userlist L\n  group g users nobody\n",
            "userlist L\n  user a insecure-password x groups nog\n",
            "userlist L\n  user a insecure-password x\n  user a insecure-password y\n",
            "userlist L\n  group g\n  group g\n",
            "userlist L\n  user a foo bar\n",
            "userlist L\n  group g foo a\n",
            "userlist L\n  group\n",
            "userlist L\n  user\n",
            "userlist L\n  frob x\n",
            "userlist L\nuserlist L\n",
            "userlist\n",
            "userlist L extra\n",
            "userlist L\n  user a insecure-password x groups g,,h\n  group g\n  group h\n"
            "  group k users a,,a\n",
            fe + "  acl a http_auth(X)\n",
            fe + "  acl a http_auth\n",
            fe + "  acl a http_auth_group(L) nog\n" + "userlist L\n  group g\n",
            fe + "  acl a http_auth_group(L)\n" + "userlist L\n  group g\n",
            fe + "  http-request deny if { http_auth_group(L) g }\nuserlist L\n  group g\n",
            fe + "  http-request auth realm\n",
            fe + "  http-request auth foo\n",
            fe + "  http-request auth realm x y\n",
            fe + "  http-request auth\n  http-request deny\n",
            fe + "  http-request tarpit deny_status 999\n",
            fe + "  http-request tarpit\n  http-request deny\n",
            fe + "  timeout tarpit 2s\n  timeout tarpit x\n",
        ]
        for body in bodies:
            text = head + body
            outs = [check_diagnostics(b, text) for b in (HAPROXY_BIN, HERD_BIN)]
            self.assertEqual(outs[1], outs[0], body)


if __name__ == "__main__":
    unittest.main()


def slow_serve(c):
    """Answers with a 200 whose 20,000-byte body comes in 1,000-byte pieces
    every 0.1 s."""
    try:
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 20000\r\nconnection: close\r\n\r\n")
        for _ in range(20):
            c.sendall(b"x" * 1000)
            time.sleep(0.1)
    except OSError:
        pass
    finally:
        c.close()


class TestContstats(unittest.TestCase):
    """`option contstats`: the frontend's and server's bytes out grow during
    a slow download (in `mode http`, haproxy counts them only at the end
    without it), in `mode http` and `mode tcp`, on both engines."""

    def test_bytes_out_during_a_transfer(self):
        import threading
        from harness import LB, free_port, runtime_api, serve_in_threads
        if not have_haproxy():
            self.skipTest("haproxy is not installed")

        def bout(api):
            rows = [ln.split(",") for ln in runtime_api(api, "show stat").splitlines()
                    if ln and not ln.startswith("#")]
            return {r[1]: int(r[9]) for r in rows if r[0] in ("f", "b")}

        results = {}
        for engine in ("haproxy", "herd"):
            for mode in ("http", "tcp"):
                for cs in ("", "option contstats"):
                    port, api = free_port(), free_port()
                    srv = serve_in_threads(slow_serve)
                    addr = "127.0.0.1:%d" % srv.getsockname()[1]
                    cfg = (f"global\n    stats socket ipv4@127.0.0.1:{api} level admin\n"
                           f"defaults\n    mode {mode}\n    timeout connect 5s\n"
                           f"    timeout client 10s\n    timeout server 10s\n    {cs}\n"
                           f"frontend f\n    bind 127.0.0.1:{port}\n    default_backend b\n"
                           f"backend b\n    server s {addr}\n")
                    lb = LB(cfg, engine=engine, wait_ports=[port])
                    try:
                        t = threading.Thread(target=raw, args=(
                            port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"),
                            kwargs={"timeout": 5, "until_close": True})
                        t.start()
                        # Samples during the 2 s transfer: haproxy updates a
                        # stream's counters when the stream wakes, which data
                        # forwarded in `mode tcp` need not do for a while on a
                        # loaded machine; one sample in the middle is too few.
                        mids = []
                        for _ in range(5):
                            time.sleep(0.3)
                            mids.append(bout(api))
                        t.join()
                        time.sleep(0.3)
                        end = bout(api)
                    finally:
                        lb.stop()
                        srv.close()
                    results[(engine, mode, cs)] = (mids, end)
        for key, (mids, end) in results.items():
            total = end["FRONTEND"]
            self.assertGreater(total, 20000, key)
            self.assertEqual(end["s"], total, key)
            if key[2]:
                self.assertTrue(any(0 < m["FRONTEND"] < total and 0 < m["s"] < total
                                    for m in mids), (key, mids))
            elif key[1] == "http":
                # Without it, an HTTP response's bytes count when it ends. (haproxy's
                # `mode tcp` shows part of them earlier; herd counts them at the end.)
                for m in mids:
                    self.assertEqual(m, {"FRONTEND": 0, "s": 0, "BACKEND": 0}, key)
        # herd's totals are the bytes written; haproxy 2.6.12's differ a little
        # (a response head counted by its internal size; 2,000 more in
        # `mode tcp`), so only herd's own consistency is checked at the end.
