"""Integration-test harness: real processes on loopback.

* Backend: a small HTTP/1.1 keep-alive server (threads, raw sockets) that
  answers "<name>\\n" + the exact request head it received, like the harness
  that captured HAProxy's behaviour (tests/data/haproxy-captures/). Query
  options: ?sleep=S, ?st=NNN (status), ?garbage=1 (invalid response),
  ?hdr=Name:value (a response header field; repeatable),
  ?close=1 (no keep-alive), ?chunked=1, ?size=N (body of N bytes).
  Every request head it receives is recorded in `.requests`.
* LB: starts `herd` (HERD_BIN), real `haproxy`, or `herd --engine haproxy`
  (herd supervising haproxy, engine "herd-haproxy") on a config text, waits
  for its ports, stops it by PID. parity_engines() is the engine list of the
  parity suites (HERD_PARITY_ENGINES=haproxy,herd,herd-haproxy by default).
* raw(): sends bytes on a fresh connection and reads the answer.

Everything listens on 127.0.0.1 with ports chosen by the kernel, so tests
run in parallel. Nothing here talks to any other address.
"""
import fcntl
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

HERD_BIN = os.environ.get("HERD_BIN", os.path.join(os.path.dirname(__file__), "../../build/herd"))
HAPROXY_BIN = shutil.which("haproxy") or "/usr/sbin/haproxy"
# Fixtures (captured haproxy 2.6 bytes, Serf vectors) live in the repository.
TEST_DATA = os.environ.get("HERD_TEST_DATA", os.path.join(os.path.dirname(__file__), "../data"))
CAPTURES = os.path.join(TEST_DATA, "haproxy-captures")


_PORT_DIR = "/tmp/herd-test-ports"
_port_locks = []  # descriptors holding our ports' locks until this process exits


def free_port():
    """A port for a listener of this test process. Ports come from below the
    ephemeral range (so no outgoing connection takes them) and each is locked
    (flock on /tmp/herd-test-ports/<port>) for the life of the process: two
    test files running at once under `ctest -j` never get the same port, which
    matters because herd and haproxy bind with SO_REUSEPORT and would
    otherwise silently share one."""
    os.makedirs(_PORT_DIR, exist_ok=True)
    for _ in range(500):
        p = random.randint(20000, 32000)
        fd = os.open(os.path.join(_PORT_DIR, str(p)), os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            os.close(fd)
            continue
        finally:
            s.close()
        _port_locks.append(fd)
        return p
    raise RuntimeError("no free port in 20000-32000")


def wait_port(port, timeout=10.0, host="127.0.0.1"):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"port {port} did not open")


def read_head(sock, buf=b""):
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            return None, buf
        buf += d
    i = buf.index(b"\r\n\r\n") + 4
    return buf[:i], buf[i:]


def parse_headers(head):
    lines = head.decode("latin-1").split("\r\n")
    hdrs = []
    for l in lines[1:]:
        if l:
            k, _, v = l.partition(":")
            hdrs.append((k.strip().lower(), v.strip()))
    return lines[0], hdrs


def read_body(sock, hdrs, rest, no_body=False):
    """Reads a body framed by content-length or chunked; returns (body, rest)."""
    d = dict(hdrs)
    if no_body:
        return b"", rest
    if "chunked" in d.get("transfer-encoding", "").lower():
        body = b""
        buf = rest
        while True:
            while b"\r\n" not in buf:
                x = sock.recv(65536)
                if not x:
                    raise EOFError("chunked body cut")
                buf += x
            line, buf = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            while len(buf) < size + 2:
                x = sock.recv(65536)
                if not x:
                    raise EOFError("chunk cut")
                buf += x
            body += buf[:size]
            buf = buf[size + 2:]
            if size == 0:
                return body, buf
    n = int(d.get("content-length", "0"))
    buf = rest
    while len(buf) < n:
        x = sock.recv(65536)
        if not x:
            raise EOFError("body cut")
        buf += x
    return buf[:n], buf[n:]


def serve_in_threads(serve):
    """A listening socket on 127.0.0.1 (an ephemeral port) whose connections
    are each passed to serve(conn) in a thread of their own; close() the
    socket to stop accepting."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)

    def accept():
        while True:
            try:
                c, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return sock


class Backend:
    """A keep-alive HTTP/1.1 echo server named `name` on 127.0.0.1:port."""

    def __init__(self, name, port=0, host="127.0.0.1"):
        self.name = name
        self.requests = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.host = host
        self.down = False  # answer 503 (health checks fail)
        self.conns = 0
        self._stop = False
        self._clients = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        return f"{self.host}:{self.port}"

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            self._clients.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        try:
            while True:
                head, buf = read_head(c, buf)
                if head is None:
                    return
                line, hdrs = parse_headers(head)
                method, target = line.split(" ")[0], line.split(" ")[1]
                if "early" in target:
                    # Answer before reading the request body (nginx's `return 200` does),
                    # then read and discard the body so the connection stays usable.
                    c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nearly\n")
                    body, buf = read_body(c, hdrs, buf, no_body=False)
                    with self.lock:
                        self.requests.append(head)
                    continue
                body, buf = read_body(c, hdrs, buf, no_body=False)
                with self.lock:
                    self.requests.append(head)
                if "upgrade" in dict(hdrs):
                    # Switch protocols, then echo every byte (a WebSocket-like tunnel).
                    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\n"
                              b"connection: upgrade\r\n\r\n" + (self.name + "\n").encode() + buf)
                    while True:
                        d = c.recv(65536)
                        if not d:
                            return
                        c.sendall(d)
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
                if "sleep" in q:
                    time.sleep(float(q["sleep"][0]))
                if "garbage" in q:
                    c.sendall(b"this is not http\r\n\r\n")
                    c.close()
                    return
                status = int(q.get("st", ["503" if self.down else "200"])[0])
                payload = (self.name + "\n").encode() + head
                if "size" in q:
                    payload = b"x" * int(q["size"][0])
                if "echo" in q:
                    payload = body
                close = "close" in q or dict(hdrs).get("connection", "").lower() == "close"
                out = f"HTTP/1.1 {status} {'OK' if status == 200 else 'Status'}\r\ncontent-type: text/plain\r\n"
                for h in q.get("hdr", []):  # ?hdr=Name:value adds a response header field
                    out += h.replace(":", ": ", 1) + "\r\n"
                if "chunked" in q:
                    out += "transfer-encoding: chunked\r\n"
                    if close:
                        out += "connection: close\r\n"
                    out = out.encode() + b"\r\n"
                    if method != "HEAD":
                        parts = [out]
                        for i in range(0, len(payload), 16384):
                            part = payload[i:i + 16384]
                            parts.append(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                        parts.append(b"0\r\n\r\n")
                        out = b"".join(parts)
                else:
                    out += f"content-length: {len(payload)}\r\n"
                    if close:
                        out += "connection: close\r\n"
                    out = out.encode() + b"\r\n" + (b"" if method == "HEAD" else payload)
                c.sendall(out)
                if close:
                    c.close()
                    return
        except (OSError, EOFError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def close(self):
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass
        for c in self._clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass


ENGINES_ALL = ("haproxy", "herd", "herd-haproxy")


def engine_cmd(engine):
    """The command line (without -db -f cfg) of an engine: real haproxy,
    herd (native) or herd's reference mode driving a real haproxy."""
    if engine == "haproxy":
        return [HAPROXY_BIN]
    if engine == "herd":
        return [HERD_BIN]
    if engine == "herd-haproxy":
        return [HERD_BIN, "--engine", "haproxy", "--haproxy-bin", HAPROXY_BIN]
    raise ValueError(f"unknown engine {engine!r}")


def parity_engines():
    """Engines the parity suites run on: HERD_PARITY_ENGINES (comma-separated
    subset of ENGINES_ALL) or all three; those that need haproxy only when it
    is installed."""
    env = os.environ.get("HERD_PARITY_ENGINES", "")
    names = [e.strip() for e in env.split(",") if e.strip()] or list(ENGINES_ALL)
    for e in names:
        if e not in ENGINES_ALL:
            raise ValueError(f"HERD_PARITY_ENGINES: unknown engine {e!r}")
    return [e for e in names if e == "herd" or have_haproxy()]


class LB:
    """`engine` (see engine_cmd) running `cfg` (a config text)."""

    def __init__(self, cfg, engine="herd", wait_ports=(), env=None, args=()):
        self.engine = engine
        self.dir = tempfile.mkdtemp(prefix=f"{engine}-")
        self.cfg_path = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg_path, "w") as f:
            f.write(cfg)
        self.log = open(os.path.join(self.dir, "stderr.log"), "w+")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([*engine_cmd(engine), "-db", "-f", self.cfg_path, *args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=e)
        for p in wait_ports:
            try:
                wait_port(p)
            except TimeoutError:
                self.stop()
                raise RuntimeError(f"{engine} did not start: {self.output()}")

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def raw(port, data, timeout=5.0, until_close=False, host="127.0.0.1"):
    """Sends `data` on a new connection; returns what came back before the
    server closed or (unless until_close) before `timeout` of silence."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            out += d
            if not until_close and complete_responses(out):
                break
        return out
    finally:
        s.close()


def complete_responses(data, head_only=False):
    """True when `data` holds at least one complete response."""
    if b"\r\n\r\n" not in data:
        return False
    head, rest = data.split(b"\r\n\r\n", 1)
    _, hdrs = parse_headers(head + b"\r\n\r\n")
    d = dict(hdrs)
    if head_only or head.startswith(b"HTTP/1.1 1") or head.split(b" ")[1] in (b"204", b"304"):
        return True
    if "content-length" in d:
        return len(rest) >= int(d["content-length"])
    if "chunked" in d.get("transfer-encoding", ""):
        return rest.endswith(b"0\r\n\r\n")
    return False


class Client:
    """A keep-alive client connection that sends requests one at a time."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def request(self, data, head_only=False):
        self.s.sendall(data)
        head, self.buf = read_head(self.s, self.buf)
        if head is None:
            raise EOFError("connection closed")
        line, hdrs = parse_headers(head)
        body, self.buf = read_body(self.s, hdrs, self.buf, no_body=head_only)
        return int(line.split(" ")[1]), hdrs, body

    def closed(self, wait=1.0):
        self.s.settimeout(wait)
        try:
            return self.s.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        self.s.close()


def runtime_api(port, cmd, host="127.0.0.1", timeout=10):
    """One runtime API command line over TCP (`port` a number) or a Unix
    socket (`port` a path); returns the reply (read to EOF). `cmd` gets its
    "\n" unless it ends with one (several lines, a payload). A refused
    connection is retried for up to 3 s: the stats socket opens after the
    frontends, and callers usually wait for a frontend port only."""
    end = time.time() + 3
    while True:
        try:
            if isinstance(port, str):
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(timeout)
                s.connect(port)
            else:
                s = socket.create_connection((host, port), timeout=timeout)
            break
        except (ConnectionRefusedError, FileNotFoundError):
            if time.time() > end:
                raise
            time.sleep(0.05)
    s.sendall(cmd.encode() + (b"" if cmd.endswith("\n") else b"\n"))
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    return out.decode(errors="replace")


class Load:
    """GETs on new connections in a thread until stopped (bounded to `limit` s):
    counts successes, failures and which server answered."""

    def __init__(self, port, host="127.0.0.1", limit=60):
        self.port, self.host, self.limit = port, host, limit
        self.ok, self.failed, self.by_server = 0, [], {}
        self._stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        end = time.time() + self.limit
        while not self._stop.is_set() and time.time() < end:
            try:
                st, _, body = get(self.port, "/", host=self.host)
                if st == 200:
                    self.ok += 1
                    s = server_of(body)
                    self.by_server[s] = self.by_server.get(s, 0) + 1
                else:
                    self.failed.append(st)
            except (OSError, EOFError, ValueError) as e:
                self.failed.append(repr(e))
            time.sleep(0.005)

    def stop(self):
        self._stop.set()
        self.t.join(10)


def get(port, path="/", headers=None, host="127.0.0.1"):
    """One GET on a new connection; returns (status, headers, body)."""
    h = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    c = Client(port, host)
    try:
        return c.request(f"GET {path} HTTP/1.1\r\nhost: t\r\n{h}\r\n".encode())
    finally:
        c.close()


def server_of(body):
    return body.split(b"\n", 1)[0].decode()


def have_haproxy():
    return os.path.exists(HAPROXY_BIN)


def spawn_logged(procs, directory, name, args, env=None):
    """Starts `args` with stdout and stderr in <directory>/<name>.log and
    records (Popen, log file) in `procs` for kill_procs(); returns both."""
    log = open(os.path.join(directory, name + ".log"), "w+", errors="replace")
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    procs.append((p, log))
    return p, log


def log_text(log):
    """Everything written so far to a log file opened by spawn_logged()."""
    if log is None:
        return ""
    log.flush()
    log.seek(0)
    return log.read()


def kill_procs(procs):
    """Tear-down of [(Popen, log file)]: SIGKILL by PID those still running,
    newest first, reap them and close their logs."""
    for p, log in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(10)
        log.close()


LAB_CFG = """
global
    maxconn 4096
    nbthread {nbthread}
defaults
    mode http
    option httplog
    option dontlognull
    timeout connect {tconnect}
    timeout client {tclient}
    timeout server {tserver}
frontend localnodes
    bind 127.0.0.1:{port}
    mode http
    default_backend nodes
backend nodes
    mode http
    balance {balance}
    option forwardfor
    http-request set-header X-Forwarded-Port %[dst_port]
{servers}
"""


def lab_cfg(port, backends, balance="roundrobin", weights=None, extra_server="", nbthread=1,
            tconnect=5000, tclient=50000, tserver=50000, extra_backend=""):
    lines = []
    for i, b in enumerate(backends):
        w = f" weight {weights[i]}" if weights else ""
        lines.append(f"    server {b.name} {b.addr}{w}{extra_server}")
    return LAB_CFG.format(port=port, balance=balance, servers="\n".join(lines) + "\n" + extra_backend,
                          nbthread=nbthread, tconnect=tconnect, tclient=tclient, tserver=tserver)


def check_diagnostics(binary, text, name="t.cfg"):
    """`<binary> -c -f <name>` on the config `text` (written in a temporary
    directory, the working directory): its exit status and the texts of its
    alerts and warnings (without the level and pid), for comparing herd's
    `-c` with haproxy's."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
        r = subprocess.run([os.path.abspath(binary), "-c", "-f", name], cwd=d,
                           capture_output=True, text=True, timeout=30)
    return r.returncode, [ln.split(" : ", 1)[1] for ln in (r.stdout + r.stderr).splitlines()
                          if "[ALERT]" in ln or "[WARNING]" in ln]
