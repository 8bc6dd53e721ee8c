"""A flaky object store for the tests: an HTTP proxy on loopback between sieve and moto's S3 server that injects the
faults a shared bucket meets. Which request gets which fault is drawn from a seed and the request's number, so a
rerun with the same seed meets the same faults at the same request counts. Faults: S3's own error answers (500
InternalError, 503 ServiceUnavailable, 503 SlowDown, with S3's XML bodies), a connection reset half way through the
response body (after the store did the request: the client never learns it was done), a 1 s stall before the
answer. While `down`, the store refuses every connection, as a store that is unreachable does.

Bounded: at most max_connections client connections at once (one thread each, each with one upstream connection),
idle ones closed after a timeout; stop() closes every connection and joins every thread.
"""

from __future__ import annotations

import http.client
import random
import socket
import socketserver
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

# Each fault's share of the requests: 5% in all, one kind in a hundred each.
DEFAULT_RATES = {"500": 0.01, "503": 0.01, "slowdown": 0.01, "reset": 0.01, "stall": 0.01}
ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service is unable to handle request."),
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
}
RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: closing sends RST
# Headers that describe one hop, not the message: the proxy frames each side itself.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}
Answer = tuple[int, str, list[tuple[str, str]], bytes]  # status, reason, headers, body


class FaultProxy:
    """Forwards HTTP requests on 127.0.0.1:<port> to upstream, injecting faults; use as a context manager."""

    def __init__(
        self,
        upstream: str,
        seed: int = 0,
        rates: dict[str, float] | None = None,
        stall_seconds: float = 1.0,
        max_connections: int = 64,
        idle_timeout: float = 30.0,
        down_after: int | None = None,
    ) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.seed, self.rates, self.stall_seconds = seed, dict(DEFAULT_RATES if rates is None else rates), stall_seconds
        self.idle_timeout = idle_timeout
        self.down_after = down_after  # the store goes down at this request: it is reset, and stop() runs
        self.down_at: float | None = None  # when it went down (time.monotonic())
        self.counts: Counter[str] = Counter()  # "requests" and each fault injected
        self.log: list[tuple[str, str, str | None]] = []  # (method, path, fault) of each request, in order
        self.port = 0
        self._lock = threading.Lock()
        self._switch = threading.Lock()  # one start() or stop() at a time
        self._slots = threading.BoundedSemaphore(max_connections)
        self._open: set[socket.socket] = set()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fault(self, n: int) -> str | None:
        """The fault that request number n meets (None: forwarded as it is); the same for a seed, whatever the
        order in which concurrent requests arrive."""
        draw = random.Random(f"{self.seed}:{n}").random()
        for kind, rate in self.rates.items():
            if draw < rate:
                return kind
            draw -= rate
        return None

    def start(self) -> FaultProxy:
        """Listen (on the same port as before, after stop()) and serve from a thread."""
        proxy = self

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = False  # stop() joins them

            def process_request(self, request: socket.socket, client_address: tuple) -> None:
                proxy._slots.acquire()  # at the cap, the next connection waits in the listen backlog
                with proxy._lock:
                    proxy._open.add(request)
                super().process_request(request, client_address)

            def shutdown_request(self, request: socket.socket) -> None:
                with proxy._lock:
                    proxy._open.discard(request)
                if request.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8) == RESET:
                    request.close()  # no FIN first: the client meets a reset, not an early end
                else:
                    super().shutdown_request(request)
                proxy._slots.release()

        class Handler(_Handler):
            timeout = self.idle_timeout

        Handler.proxy = self
        with self._switch:
            self._server = Server(("127.0.0.1", self.port), Handler)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, name="s3-fault-proxy", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (connections are then refused) and close every open connection; threads are joined."""
        with self._switch:
            server, self._server = self._server, None
            if server is None:
                return
            for _ in range(2):  # before the accept loop ends (it may wait for a free slot) and after (one it took)
                with self._lock:
                    for conn in self._open:
                        try:
                            conn.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass  # already closed by its client
                server.shutdown()
            server.server_close()
            self._thread.join()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self, method: str, path: str) -> str | None:
        """The fault of the next request; "down" from request down_after on."""
        with self._lock:
            n = self.counts["requests"]
            self.counts["requests"] += 1
            kind = "down" if self.down_after is not None and n >= self.down_after else self.fault(n)
            self.counts[kind or "forwarded"] += 1
            self.log.append((method, path, kind))
        if kind == "down" and n == self.down_after:
            self.down_at = time.monotonic()
            threading.Thread(target=self.stop, name="s3-fault-proxy-down").start()
        return kind


class _Handler(BaseHTTPRequestHandler):
    """One client connection: each request forwarded over one upstream connection, or answered with a fault."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the S3 clients expect
    proxy: FaultProxy

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the counts say what happened

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (OSError, http.client.HTTPException):
            self.close_connection = True  # a client that went away, or moto closing its side: drop this connection

    def _body(self) -> bytes:
        """The request body as it came (chunked framing included, which the upstream reads the same way)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = bytearray()
            while True:
                line = self.rfile.readline()
                raw += line
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while (trailer := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                        raw += trailer
                    return bytes(raw + b"\r\n")
                raw += self.rfile.read(size + 2)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def setup(self) -> None:
        super().setup()
        self.upstream = http.client.HTTPConnection(*self.proxy.upstream, timeout=60)  # connects on first use

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.upstream.close()

    def _forward(self, body: bytes) -> Answer:
        """The upstream's answer to this request."""
        upstream = self.upstream
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        if self.headers.get("Transfer-Encoding"):
            headers["Transfer-Encoding"] = self.headers["Transfer-Encoding"]
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            upstream.close()  # moto closed a kept-alive connection: one fresh try
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_HEADERS]
        return response.status, response.reason, kept, data

    def _answer(self, answer: Answer) -> None:
        status, reason, headers, body = answer
        self.send_response_only(status, reason)
        for k, v in headers:
            if k.lower() != "content-length" or self.command == "HEAD":
                self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _error(self, kind: str) -> None:
        status, code, message = ERRORS[kind]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<Resource>{self.path.split('?')[0]}</Resource><RequestId>fault-{time.monotonic_ns()}</RequestId></Error>"
        ).encode()
        self._answer((status, code, [("Content-Type", "application/xml")], body))

    def _reset(self, answer: Answer | None = None) -> None:
        """Reset the connection (RST, not a clean close), after the answer's head and half its body if it has one."""
        if answer is not None and answer[3] and self.command != "HEAD":
            status, reason, headers, body = answer
            self.send_response_only(status, reason)
            for k, v in headers:
                if k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        self.close_connection = True

    def _serve(self) -> None:
        body = self._body()
        kind = self.proxy._next(self.command, self.path)
        if kind == "down":
            self._reset()
            return
        if kind in ERRORS:
            self._error(kind)
            return
        if kind == "stall":
            time.sleep(self.proxy.stall_seconds)
        if kind == "reset" and self.command == "POST" and "uploadId=" in self.path:
            # S3 answers a repeated CompleteMultipartUpload as it answered the first; moto says NoSuchUpload. Cut
            # this one before the store sees it, so the test meets S3's behaviour, not moto's.
            self._reset()
            return
        answer = self._forward(body)
        if kind == "reset":
            self._reset(answer)
        else:
            self._answer(answer)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve
