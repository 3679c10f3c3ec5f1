"""A throwaway nginx on a free loopback port, in front of a small upstream, for the http tests.

Theory of operation: ``Nginx.start()`` writes a config into a scratch
directory and runs the Debian ``nginx`` binary in the foreground
(``daemon off``, ``master_process off``: one process, our user, no root
paths). nginx is the real keep-alive peer: it closes an idle connection
after ``keepalive_timeout`` and sends ``Connection: close`` on the
``keepalive_requests``-th response. It serves

- ``/static/<name>``: files from ``www/`` (Content-Length bodies);
- ``/hinted/<name>``: the same files with a ``Keep-Alive: timeout=N`` hint;
- ``/up/...``: proxied to ``Upstream``, a threaded Python server that nginx
  reaches over HTTP/1.0 without a length for ``/up/chunked/<n>`` (so nginx
  re-frames it chunked to us), with a length for ``/up/large/<n>``, and that
  echoes POST bodies on ``/up/echo`` and counts POSTs on ``/up/count``.

Bodies are ``body(path, n)``: derived from the path, so a client can check
that every answer it got is the one it asked for.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
STATIC = {"small.txt": 1_000, "page.html": 20_000, "big.bin": 2_000_000}

CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    default_type application/octet-stream;
    keepalive_timeout {keepalive_timeout}s;
    keepalive_requests {keepalive_requests};
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location /static/ {{ alias {root}/www/; }}
        location /hinted/ {{
            alias {root}/www/;
            keepalive_timeout {keepalive_timeout}s {keepalive_timeout};
        }}
        location /up/ {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_buffering off;
        }}
    }}
}}
"""


def find_nginx():
    """Return the nginx binary's path, or None when nginx is not installed."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((c for c in CANDIDATES if os.access(c, os.X_OK)), None)


def body(path, size):
    """Return the ``size``-byte body the peers serve for ``path`` (a repeated digest)."""
    seed = hashlib.sha256(path.encode()).hexdigest().encode()
    return (seed * (size // len(seed) + 1))[:size]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # nginx's default to upstreams: one request per connection

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        kind, _, size = self.path.removeprefix("/up/").partition("/")
        if kind not in ("large", "chunked") or not size.isdigit():
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        data = body(self.path, int(size))
        if kind == "large":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for start in range(0, len(data), 65536):  # in pieces, as a real upstream streams
            self.wfile.write(data[start : start + 65536])

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/up/count":
            with self.server.lock:
                self.server.posts += 1
                data = str(self.server.posts).encode()
        elif self.path != "/up/echo":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Upstream(http.server.ThreadingHTTPServer):
    """The application server behind nginx, in a daemon thread."""

    daemon_threads = True
    request_queue_size = 256  # socketserver's 5 drops nginx's SYNs under load (1 s retransmit)

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.posts = 0
        self.port = self.server_address[1]
        self._thread = threading.Thread(target=self.serve_forever, name="upstream", daemon=True)
        self._thread.start()

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)
        # else: nginx gave up on the response (its client went away): nothing to report

    def stop(self):
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10.0)


class Nginx:
    """nginx plus its upstream; ``port`` is where nginx listens. Use as a context manager."""

    def __init__(self, *, keepalive_timeout=1, keepalive_requests=5, binary=None):
        self.binary = binary or find_nginx()
        if self.binary is None:
            raise FileNotFoundError("nginx is not installed: apt-get install nginx-light")
        self.keepalive_timeout = keepalive_timeout
        self.keepalive_requests = keepalive_requests
        self.host = "127.0.0.1"
        self.port = None
        self.upstream = None
        self.root = None
        self._proc = None

    def start(self, *, attempts=5, within=10.0):
        """Start the upstream and nginx; return once nginx accepts connections."""
        self.root = Path(tempfile.mkdtemp(prefix="fleet-nginx-"))
        (self.root / "www").mkdir()
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.root / "tmp" / sub).mkdir(parents=True)
        for name, size in STATIC.items():
            (self.root / "www" / name).write_bytes(body(f"/static/{name}", size))
        self.upstream = Upstream()
        for _ in range(attempts):  # another process may take the free port before nginx does
            self.port = free_port()
            config = self.root / "nginx.conf"
            config.write_text(
                CONFIG.format(
                    root=self.root,
                    port=self.port,
                    upstream_port=self.upstream.port,
                    keepalive_timeout=self.keepalive_timeout,
                    keepalive_requests=self.keepalive_requests,
                )
            )
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    "-p",
                    str(self.root),
                    "-c",
                    str(config),
                    "-e",
                    str(self.root / "error.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ready(within):
                return self
        self.stop()
        raise RuntimeError(f"nginx did not start; its config and log are in {self.root}")

    def _wait_ready(self, within):
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                socket.create_connection((self.host, self.port), timeout=1.0).close()
                return True
            except OSError:
                time.sleep(0.02)
        self._proc.kill()
        self._proc.wait()
        return False

    def stop(self):
        """Stop nginx and the upstream and remove the scratch directory; idempotent."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10.0)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self.upstream is not None:
            self.upstream.stop()
            self.upstream = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
