"""HTTP/1 framing parity on a corpus of hostile and odd messages
(http_corpus.py): every request case is sent raw on a fresh client
connection to real haproxy 2.6 and to herd, each in front of a recording
backend that parses HTTP/1.1 strictly; every response case is sent raw by the
backend in answer to a plain GET.

Compared per request case: the statuses the client got, whether the LB closed
the client connection, and what the backend parsed (requests with method,
target, version, headers, body, chunk-size lines and trailers; strict parse
errors). Per response case: what the client got (statuses, framing headers,
body bytes, closed) for the request and for a follow-up GET on the same
connection. Invariant on every engine: the backend never parses more requests
than the client got final answers.

KNOWN_DIFFERENCES lists every case where herd differs from haproxy today: the
test fails when a case newly differs and when a listed case stops differing
(so the list stays true), and each needs its reason in DELIBERATE.
STRICTER_THAN_HAPROXY lists deliberate differences where herd rejects what
haproxy accepts (a request: 4xx, nothing forwarded; a response: 502).
HERD_CORPUS_DIFFS=<file> writes the table of differences there;
HERD_CORPUS_UPDATE=1 rewrites both KNOWN_ lists in this file from the run:
  cd tests/integration && HERD_CORPUS_UPDATE=1 python3 -m unittest test_http_corpus

Each engine runs on its own frontends and backends, WORKERS frontend/backend
pairs per engine (cases run concurrently, one at a time per pair), both
engines at once."""
import base64
import hashlib
import os
import re
import socket
import threading
import time
import unittest

import http_corpus
from harness import LB, free_port, have_haproxy

WORKERS = 6
FIRST_BYTE_WAIT = 1.5  # seconds the client waits for a first answer byte
IDLE_GAP = 0.5  # then: seconds of silence that end the read
CASE_CAP = 6.0  # longest a case reads
SETTLE = 0.15  # wait before reading what the backend saw

# Deliberate, with the reason (docs/configuration.md, "HTTP/1 framing"):
# herd rejects what haproxy accepts. For a request case: herd answers 4xx and
# forwards nothing; for a response case: herd answers 502. The test fails
# when herd stops rejecting one of these.
STRICTER_THAN_HAPROXY = {
    'eol-obs-fold': 'obs-fold in a request: RFC 9112 §5.2 lets a proxy reject it (400); '
                    'haproxy unfolds it',
    'tete-cl-fold': 'a folded Transfer-Encoding line: rejected as obs-fold (400)',
    'eol-nul-value': 'NUL in a field value: RFC 9110 §5.5 (400); haproxy forwards it',
    'eol-del-value': 'DEL in a field value: not a field-vchar (400); haproxy forwards it',
    'eol-ctl-value': 'a control byte in a field value: not a field-vchar (400)',
    'uri-del': 'DEL in the request target: not a URI character (400); haproxy forwards it',
    'uri-userinfo': 'userinfo in an http URI: RFC 9110 §4.2.4 (400); haproxy forwards it',
    'h2-preface': 'herd has no HTTP/2: the preface on a clear port is a 400, where haproxy '
                  'switches to h2',
    'h2-preface-settings': 'as h2-preface',
    'r-status-4digit': 'a status code of 4 digits: RFC 9112 §4 says 3 (502)',
    'r-status-2digit': 'a status code of 2 digits (502)',
    'r-status-http2': 'HTTP/2.0 in an HTTP/1 status line (502)',
    'r-status-leading-crlf': 'an empty line before the status line (502)',
    'r-hdr-fold': 'obs-fold in a response: RFC 9112 §5.2 lets a proxy answer 502',
    'r-hdr-nul': 'NUL in a response field value: RFC 9110 §5.5 (502)',
}

# Deliberate differences that are not refusals, with the reason. Every
# KNOWN_DIFFERENCES entry must be here: the closing list of how herd differs
# from haproxy is this one and STRICTER_THAN_HAPROXY.
DELIBERATE = {
    'r-http10-noframe': 'herd says `connection: close` on a response it ends by closing '
                        '(RFC 9112 §9.6); haproxy closes without saying so',
    'r-te-http10': 'as r-http10-noframe: herd says `connection: close` when it closes after '
                   'chunked framing in an HTTP/1.0 response',
}

# Cases where herd's backend parses more requests than its client gets answers
# (the issue wants none: empty this as they are fixed; the test fails when the
# set of violations is not exactly this one). haproxy must never have any.
KNOWN_INVARIANT_VIOLATIONS = {
}

# Every case where herd differs from haproxy now (the lead's work list).
KNOWN_DIFFERENCES = {
    'r-http10-noframe':
        "answers[0]: 200 body=b'old body' / 200 [connection: close] body=b'old body'",
    'r-te-http10':
        "answers[0]: ...-encoding: chunked] body=b'abc' / ...-encoding: chunked] [connection: close] body=...",
}

CFG_HEAD = """
global
    maxconn 1000
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 3s
"""


def corpus_cfg(ports, backends):
    parts = [CFG_HEAD]
    for i, (p, b) in enumerate(zip(ports, backends)):
        parts.append(f"frontend f{i}\n    bind 127.0.0.1:{p}\n    default_backend b{i}\n"
                     f"backend b{i}\n    server s{i} 127.0.0.1:{b.port}\n")
    return "".join(parts)


# ---------------------------------------------------------------- backend --

TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
CHUNK_LINE = re.compile(rb"^([0-9A-Fa-f]+)(;[!#$%&'*+\-.^_`|~0-9A-Za-z]+(=[!#$%&'*+\-.^_`|~0-9A-Za-z\"]*)?)*$")
CANONICAL_CHUNK = re.compile(rb"^(0|[1-9A-Fa-f][0-9A-Fa-f]*)$")
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n"
OK_CLOSE = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BAD = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class StrictError(Exception):
    pass


class Reader:
    def __init__(self, sock, log):
        self.sock, self.buf, self.log = sock, b"", log

    def _more(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError
        self.log += d
        self.buf += d

    def line(self, at_start=False):
        """One line ending in CRLF (strict), without it."""
        while b"\n" not in self.buf:
            if len(self.buf) > 70000:
                raise StrictError("line too long")
            if at_start and not self.buf:
                self._more()  # EOFError: a clean end between requests
            else:
                try:
                    self._more()
                except EOFError:
                    raise StrictError(f"eof in line {self.buf[:40]!r}")
        i = self.buf.index(b"\n")
        line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
        if not line.endswith(b"\r\n"):
            raise StrictError(f"bare LF in {line[:40]!r}")
        line = line[:-2]
        if b"\r" in line:
            raise StrictError(f"bare CR in {line[:40]!r}")
        return line

    def take(self, n):
        while len(self.buf) < n:
            try:
                self._more()
            except EOFError:
                raise StrictError(f"eof in body ({len(self.buf)} of {n})")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def parse_fields(r):
    hdrs = []
    while True:
        line = r.line()
        if not line:
            return hdrs
        if line[:1] in (b" ", b"\t"):
            raise StrictError("obs-fold")
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.match(name):
            raise StrictError(f"bad header line {line[:40]!r}")
        value = value.strip(b" \t")
        if any(c < 0x20 and c != 9 or c == 0x7f for c in value):
            raise StrictError(f"control byte in {name!r}")
        hdrs.append((name.decode(), value.decode("latin-1")))
        if len(hdrs) > 200:
            raise StrictError("too many headers")


def parse_request(r):
    """One request from r, strictly; returns a dict (raises EOFError at a
    clean end, StrictError on anything a careful origin refuses)."""
    line = r.line(at_start=True)
    parts = line.split(b" ")
    if len(parts) != 3:
        raise StrictError(f"request line {line[:60]!r}")
    method, target, version = parts
    if not TOKEN.match(method) or not target or version not in (b"HTTP/1.0", b"HTTP/1.1") \
            or any(c <= 0x20 or c >= 0x7f for c in target):
        raise StrictError(f"request line {line[:60]!r}")
    hdrs = parse_fields(r)
    lower = [(k.lower(), v) for k, v in hdrs]
    te = [v for k, v in lower if k == "transfer-encoding"]
    cl = [v for k, v in lower if k == "content-length"]
    body, chunks, trailers = b"", [], []
    if te and cl:
        raise StrictError("content-length with transfer-encoding")
    if te:
        if len(te) != 1 or te[0].lower() != "chunked":
            raise StrictError(f"transfer-encoding {te!r}")
        while True:
            sl = r.line()
            m = CHUNK_LINE.match(sl)
            if not m or len(m.group(1)) > 8:
                raise StrictError(f"chunk-size line {sl[:40]!r}")
            if not CANONICAL_CHUNK.match(sl):
                chunks.append(sl.decode("latin-1"))  # only odd ones: boundaries may move
            n = int(m.group(1), 16)
            if n == 0:
                trailers = parse_fields(r)
                break
            body += r.take(n)
            if r.take(2) != b"\r\n":
                raise StrictError("chunk data not followed by CRLF")
    elif cl:
        if len(cl) != 1 or not cl[0].isdigit() or len(cl[0]) > 12:
            raise StrictError(f"content-length {cl!r}")
        body = r.take(int(cl[0]))
    return {"method": method.decode(), "target": target.decode(), "version": version.decode(),
            "headers": hdrs, "body": body, "chunks": chunks, "trailers": trailers}


def show_request(q):
    s = f"{q['method']} {q['target']} {q['version']} | " + "; ".join(f"{k}: {v}" for k, v in q["headers"])
    if q["body"]:
        s += f" | body={q['body'][:40]!r}" + ("..." if len(q["body"]) > 40 else "")
    if q["chunks"]:
        s += f" | odd chunk lines={q['chunks']}"
    if q["trailers"]:
        s += f" | trailers={q['trailers']}"
    return s


class RecordingBackend:
    """A strict HTTP/1.1 origin: records every request it parses (and every
    strict parse error) as events (conn id, text), per connection the bytes
    received; answers each request with OK (see the module's targets)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.events = []  # (conn id, kind, text)
        self.raw = {}  # conn id -> bytearray received
        self.conns = {}
        self.next_id = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                cid = self.next_id
                self.next_id += 1
                self.conns[cid] = c
                self.raw[cid] = bytearray()
            threading.Thread(target=self._serve, args=(cid, c), daemon=True).start()

    def _event(self, cid, kind, text):
        with self.lock:
            if cid in self.conns:
                self.events.append((cid, kind, text))

    def _serve(self, cid, c):
        r = Reader(c, self.raw[cid])
        try:
            while True:
                try:
                    q = parse_request(r)
                except EOFError:
                    return
                except StrictError as e:
                    if not str(e).startswith("eof"):  # a request cut when the LB gives up
                        self._event(cid, "error", f"strict: {e}")
                    c.sendall(BAD)
                    return
                self._event(cid, "request", show_request(q))
                target = q["target"]
                conn = dict((k.lower(), v.lower()) for k, v in q["headers"]).get("connection", "")
                close = "close" in conn or (q["version"] == "HTTP/1.0" and "keep-alive" not in conn)
                if target.startswith("/resp/"):
                    case = RESPONSE_BY_ID[target[len("/resp/"):]]
                    c.sendall(case[3])
                    if case[4].get("close", True):
                        return
                    continue
                if target == "/@close":
                    return
                if target == "/@101":
                    key = [v for k, v in q["headers"] if k.lower() == "sec-websocket-key"]
                    accept = b"".join(b"sec-websocket-accept: %s\r\n" % base64.b64encode(
                        hashlib.sha1(k.encode() + WS_GUID).digest()) for k in key)
                    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                              b"connection: upgrade\r\n" + accept + b"\r\n")
                    self._event(cid, "tunnel", "tunnel b''")
                    at = len(self.events) - 1
                    tunnel = r.buf
                    while True:
                        if tunnel:
                            with self.lock:
                                self.events[at] = (cid, "tunnel", f"tunnel {bytes(tunnel)!r}")
                        d = c.recv(65536)
                        if not d:
                            break
                        tunnel += d
                    return
                if target == "/@100":
                    c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                c.sendall(OK_CLOSE if close else OK)
                if close:
                    return
        except OSError:
            pass
        finally:
            with self.lock:
                self.conns.pop(cid, None)
            try:
                c.close()
            except OSError:
                pass

    def mark(self):
        with self.lock:
            return len(self.events)

    def since(self, mark):
        with self.lock:
            return list(self.events[mark:])

    def reset(self):
        """Closes every connection (a clean slate for the next case)."""
        with self.lock:
            conns = list(self.conns.values())
            self.conns.clear()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.reset()
        self.sock.close()


RESPONSE_BY_ID = {c[0]: c for c in http_corpus.RESPONSES}

# ----------------------------------------------------------------- client --


def read_answers(s, first_wait=FIRST_BYTE_WAIT):
    """Everything the LB sends until it closes or goes quiet; returns
    (bytes, closed)."""
    out = b""
    end = time.time() + CASE_CAP
    s.settimeout(first_wait)
    while time.time() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            return out, False
        except OSError:
            return out, True
        if not d:
            return out, True
        out += d
        s.settimeout(IDLE_GAP)
    return out, False


def parse_answers(data, head_request=False):
    """The responses in data, leniently: [(status, framing headers, body)],
    plus a note on what did not parse. head_request: the first final
    response answers a HEAD (no body)."""
    out = []
    while data:
        if not data.startswith(b"HTTP/"):
            out.append(("non-http", data[:24].hex()))
            break
        i = data.find(b"\r\n\r\n")
        if i < 0:
            out.append(("incomplete head", len(data)))
            break
        head, data = data[:i + 4], data[i + 4:]
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ")[1] if " " in lines[0] else lines[0]
        hdrs = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:] if ":" in l]
        framing = tuple((k.lower(), v) for k, v in hdrs
                        if k.lower() in ("content-length", "transfer-encoding", "connection", "upgrade"))
        d = dict((k.lower(), v.lower()) for k, v in hdrs)
        if status.startswith("1") and status != "101":
            out.append((status, framing, b""))
            continue
        if status == "101":
            body, data = data, b""  # the tunnel
        elif status in ("204", "304") or head_request:
            body = b""
        elif "chunked" in d.get("transfer-encoding", ""):
            body, data, note = dechunk(data)
            if note:
                body += note.encode()
        elif "content-length" in d and d["content-length"].isdigit():
            n = int(d["content-length"])
            body, data = data[:n], data[n:]
            if len(body) < n:
                body += b"<cut>"
        else:
            body, data = data, b""
        out.append((status, framing, body))
        head_request = False
    return out


def dechunk(data):
    body = b""
    while True:
        i = data.find(b"\r\n")
        if i < 0:
            return body, b"", "<chunked cut>"
        try:
            n = int(data[:i].split(b";")[0], 16)
        except ValueError:
            return body, b"", f"<bad chunk line {data[:i][:20]!r}>"
        data = data[i + 2:]
        if n == 0:
            j = data.find(b"\r\n\r\n") if not data.startswith(b"\r\n") else -2
            if j == -2:
                return body, data[2:], ""
            if j < 0:
                return body, b"", "<trailers cut>"
            return body, data[j + 4:], f"<trailers {data[:j]!r}>"
        if len(data) < n + 2:
            return body + data, b"", "<chunk cut>"
        body += data[:n]
        data = data[n + 2:]


def final_statuses(answers):
    return [a[0] for a in answers if a[0] not in ("non-http", "incomplete head") and not
            (a[0].startswith("1") and a[0] != "101")]


def run_request_case(port, backend, case):
    cid, _, _, raw = case
    backend.reset()
    time.sleep(0.03)
    mark = backend.mark()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(raw)
        data, closed = read_answers(s)
    except OSError as e:
        data, closed = b"", f"error {type(e).__name__}"
    finally:
        s.close()
    time.sleep(SETTLE)
    answers = parse_answers(data, head_request=raw.startswith(b"HEAD "))
    seen = [f"{k}: {t}" for _, k, t in backend.since(mark)]
    return {"statuses": [a[0] for a in answers], "closed": closed, "backend": seen,
            "parsed": sum(1 for _, k, _ in backend.since(mark) if k == "request"),
            "answered": len(final_statuses(answers))}


def show_answer(a):
    """One response as a short string: status, framing headers, body."""
    if a[0] in ("non-http", "incomplete head"):
        return f"{a[0]} {a[1]}"
    status, framing, body = a
    s = status + "".join(f" [{k}: {v}]" for k, v in framing)
    if body.startswith(b"<html><body><h1>"):
        return s + " <error page>"
    return s + (f" body={body[:60]!r}" if body else "")


def run_response_case(port, backend, case):
    cid, _, _, raw, opts = case
    backend.reset()
    time.sleep(0.03)
    mark = backend.mark()
    req = opts.get("request", f"GET /resp/{cid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    res = {"after": "not sent", "after_closed": None}
    answered = 0
    try:
        s.sendall(req)
        data, closed = read_answers(s)
        answers = parse_answers(data, head_request=req.startswith(b"HEAD "))
        answered += len(final_statuses(answers))
        res.update(answers=[show_answer(a) for a in answers], closed=closed)
        if closed is False:
            s.sendall(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
            data, closed = read_answers(s)
            answers = parse_answers(data)
            answered += len(final_statuses(answers))
            res.update(after=[show_answer(a) for a in answers], after_closed=closed)
    except OSError as e:
        res["error"] = type(e).__name__
    finally:
        s.close()
    time.sleep(SETTLE)
    ev = backend.since(mark)
    res["backend"] = [f"{k}: {t}" for _, k, t in ev if k != "request"] + \
        [t.split(" | ")[0] for _, k, t in ev if k == "request"]
    res.update(parsed=sum(1 for _, k, _ in ev if k == "request"), answered=answered)
    return res


def run_engine(engine, out):
    backends = [RecordingBackend() for _ in range(WORKERS)]
    ports = [free_port() for _ in range(WORKERS)]
    lb = LB(corpus_cfg(ports, backends), engine=engine, wait_ports=ports)
    work = [("req", c) for c in http_corpus.REQUESTS] + [("resp", c) for c in http_corpus.RESPONSES]
    lock = threading.Lock()

    def worker(i):
        while True:
            with lock:
                if not work:
                    return
                kind, case = work.pop(0)
            fn = run_request_case if kind == "req" else run_response_case
            try:
                res = fn(ports[i], backends[i], case)
            except Exception as e:  # a harness failure shows as a result
                res = {"harness error": repr(e), "parsed": 0, "answered": 0}
            out[case[0]] = res

    try:
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        lb.stop()
        for b in backends:
            b.close()


def comparable(res):
    return {k: v for k, v in res.items() if k not in ("parsed", "answered")}


def short(v, n=90):
    v = repr(v) if not isinstance(v, str) else v
    return v if len(v) <= n else v[:n] + "..."


def around_difference(p, q, n=70):
    """p and q (strings) from a little before where they start to differ."""
    i = next((i for i, (x, y) in enumerate(zip(p, q)) if x != y), min(len(p), len(q)))
    start = max(0, i - 20)
    cut = (lambda v: ("..." if start else "") + v[start:start + n] + ("..." if len(v) > start + n else ""))
    return f"{cut(p)} / {cut(q)}"


def what_differs(a, b):
    """One line: the fields of two results that differ (haproxy's first)."""
    out = []
    order = ["statuses", "answers", "closed", "backend", "after", "after_closed"]
    for k in sorted(set(a) | set(b), key=lambda k: (order.index(k) if k in order else 9, k)):
        x, y = a.get(k), b.get(k)
        if x == y:
            continue
        if isinstance(x, list) and isinstance(y, list) and len(x) == len(y) and k != "statuses":
            for i, (p, q) in enumerate(zip(x, y)):
                if p != q:
                    out.append(f"{k}[{i}]: " + (around_difference(p, q) if isinstance(p, str) and
                                                isinstance(q, str) else f"{short(p)} / {short(q)}"))
                    break
        else:
            out.append(f"{k}: {short(x)} / {short(y)}")
    return "; ".join(out)


def diff_table(rows):
    out = []
    for cid, why, ha, he in rows:
        out.append(f"== {cid} [{CASE_CLASS.get(cid, '?')}] {CASE_DESC.get(cid, '')}: {why}")
        out.append(f"   differs : (haproxy / herd) {what_differs(ha, he)}")
        for name, r in (("haproxy", ha), ("herd", he)):
            out.append(f"   {name:8}: {r}")
    return "\n".join(out)


CASE_CLASS = {c[0]: c[1] for c in http_corpus.REQUESTS + http_corpus.RESPONSES}
CASE_DESC = {c[0]: c[2] for c in http_corpus.REQUESTS + http_corpus.RESPONSES}


RESPONSE_CASES = {c[0] for c in http_corpus.RESPONSES}


def herd_rejected(cid, r):
    """Whether herd refused the case: a request answered 4xx with nothing
    forwarded, or a response replaced by herd's 502."""
    if cid in RESPONSE_CASES:
        answers = r.get("answers") or ["x"]
        return str(answers[0]).startswith("502")
    return r.get("backend") == [] and all(str(s).startswith("4") for s in r.get("statuses", ["x"]))


def differences(ha, he):
    """[(id, note, haproxy's result, herd's)] for every case where they
    differ, less the STRICTER_THAN_HAPROXY ones where herd did reject."""
    rows = []
    for cid in [c[0] for c in http_corpus.REQUESTS + http_corpus.RESPONSES]:
        a, b = comparable(ha[cid]), comparable(he[cid])
        if a == b:
            continue
        if cid in STRICTER_THAN_HAPROXY and herd_rejected(cid, b):
            continue
        rows.append((cid, KNOWN_DIFFERENCES.get(cid, "NEW difference"), a, b))
    return rows


def violations(res):
    """{id: text} where the backend parsed more requests than were answered."""
    return {cid: f"{r['parsed']} parsed, {r['answered']} answered"
            for cid, r in sorted(res.items()) if r["parsed"] > r["answered"]}


def write_report(path, results, runtime):
    """The lead's work list: one line per differing case, then the details."""
    lines = [f"HTTP corpus: {len(http_corpus.REQUESTS)} request and {len(http_corpus.RESPONSES)} "
             f"response cases, runtime {runtime:.1f} s"]
    for engine, res in results.items():
        v = violations(res)
        lines.append(f"\n{engine}: {len(v)} cases where the backend parsed more requests than answered")
        lines += [f"  {cid} [{CASE_CLASS[cid]}] {CASE_DESC[cid]}: {t}" for cid, t in v.items()]
    if "haproxy" in results:
        rows = differences(results["haproxy"], results["herd"])
        lines.append(f"\n{len(rows)} cases where herd differs from haproxy "
                     "(what differs: haproxy's / herd's)")
        for cid, _, a, b in rows:
            lines.append(f"  {cid} [{CASE_CLASS[cid]}] {CASE_DESC[cid]}\n      {what_differs(a, b)}")
        lines.append("\nDetails\n" + diff_table(rows))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def rewrite_known(results):
    """HERD_CORPUS_UPDATE=1: rewrites KNOWN_DIFFERENCES and
    KNOWN_INVARIANT_VIOLATIONS in this file from this run (review the diff)."""
    with open(__file__) as f:
        src = f.read()

    def put(name, entries):
        nonlocal src
        start = src.index(name + " = {\n")
        end = src.index("\n}\n", start) + 3
        body = "".join(f"    {k!r}:\n        {v!r},\n" for k, v in entries.items())
        src = src[:start] + name + " = {\n" + body + "}\n" + src[end:]

    rows = differences(results["haproxy"], results["herd"])
    put("KNOWN_DIFFERENCES", {cid: short(what_differs(a, b), 97) for cid, _, a, b in rows})
    put("KNOWN_INVARIANT_VIOLATIONS", {cid: KNOWN_INVARIANT_VIOLATIONS.get(cid, t)
                                       for cid, t in violations(results["herd"]).items()})
    with open(__file__, "w") as f:
        f.write(src)


class TestHttpCorpus(unittest.TestCase):
    results = {}

    @classmethod
    def setUpClass(cls):
        cls.engines = ["herd"] + (["haproxy"] if have_haproxy() else [])
        cls.results = {e: {} for e in cls.engines}
        t0 = time.time()
        ts = [threading.Thread(target=run_engine, args=(e, cls.results[e])) for e in cls.engines]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        cls.runtime = time.time() - t0
        if os.environ.get("HERD_CORPUS_DIFFS"):
            write_report(os.environ["HERD_CORPUS_DIFFS"], cls.results, cls.runtime)
        if os.environ.get("HERD_CORPUS_UPDATE") and "haproxy" in cls.results:
            rewrite_known(cls.results)

    def test_corpus_size(self):
        self.assertGreaterEqual(len(http_corpus.REQUESTS), 100)
        self.assertGreaterEqual(len(http_corpus.RESPONSES), 30)
        ids = [c[0] for c in http_corpus.REQUESTS + http_corpus.RESPONSES]
        self.assertEqual(len(ids), len(set(ids)))
        for known in (KNOWN_DIFFERENCES, STRICTER_THAN_HAPROXY, KNOWN_INVARIANT_VIOLATIONS,
                      DELIBERATE):
            self.assertFalse(set(known) - set(ids), "unknown case ids")
        self.assertEqual(set(KNOWN_DIFFERENCES), set(DELIBERATE),
                         "every known difference needs its reason in DELIBERATE")

    def test_backend_never_parses_more_requests_than_answered(self):
        for engine, res in self.results.items():
            bad = violations(res)
            known = KNOWN_INVARIANT_VIOLATIONS if engine == "herd" else {}
            with self.subTest(engine=engine):
                if set(bad) != set(known):
                    self.fail(f"{engine}: the backend parsed more requests than the client got "
                              f"answers (known: {sorted(known)}):\n" + "\n".join(
                                  f"  {cid} [{CASE_CLASS[cid]}] {CASE_DESC[cid]}: {v}\n"
                                  f"     {comparable(res[cid])}" for cid, v in bad.items()))

    def test_same_as_haproxy(self):
        if "haproxy" not in self.results:
            self.skipTest("haproxy is not installed")
        rows = differences(self.results["haproxy"], self.results["herd"])
        differing = {r[0] for r in rows}
        new = sorted(differing - set(KNOWN_DIFFERENCES))
        fixed = sorted(set(KNOWN_DIFFERENCES) - differing)
        self.assertFalse(new or fixed, f"\nnewly differing: {new}\nno longer differing (remove from "
                         f"KNOWN_DIFFERENCES): {fixed}\n" + diff_table(
                             [r for r in rows if r[0] in new]
                             + [(cid, "no longer differs", self.results["haproxy"][cid],
                                 self.results["herd"][cid]) for cid in fixed]))


if __name__ == "__main__":
    unittest.main()
