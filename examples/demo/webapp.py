#!/usr/bin/env python3
"""The demo web application (the lab's webapp, in Python's standard library):
answers JSON {hello, ip, host, tag, sessionViews, id} and keeps a per-node
session counter in a NODESESSID cookie.  Usage: webapp.py <bind-ip> <port> [tag]"""
import http.server
import json
import os
import socket
import sys
import uuid

IP, PORT = sys.argv[1], int(sys.argv[2])
TAG = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("TAG", "demo")
NODE_ID = uuid.uuid4().hex[:8]
SESSIONS = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        sid = None
        for part in self.headers.get("Cookie", "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "NODESESSID":
                sid = v
        new = sid not in SESSIONS
        if new:
            sid = uuid.uuid4().hex
            SESSIONS[sid] = 0
        SESSIONS[sid] += 1
        body = json.dumps({"hello": "world!", "ip": f"{IP}:{PORT}", "host": socket.gethostname(),
                           "tag": TAG, "sessionViews": SESSIONS[sid], "id": NODE_ID}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if new:
            self.send_header("Set-Cookie", f"NODESESSID={sid}; Path=/")
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer((IP, PORT), Handler).serve_forever()
