"""Real local receivers for tests and benchmarks: an aiosmtpd SMTP server and an HTTP server
(SMS gateway and webhook receiver). Both keep every raw delivery *and* a store deduplicated the
way a real receiver would (by Message-ID / Idempotency-Key), so a test can prove exactly-once
delivery. Other domains' tests use `SmtpServer` to check what their flows really send:

    with SmtpServer() as smtp:
        run_once(engine, settings=Settings(smtp_port=smtp.port))
        assert smtp.sink.raw[0]["Subject"] == "..."

`aiosmtpd` is a development dependency; this module is never imported by the application.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpSink:
    raw: list[EmailMessage] = field(default_factory=list)
    store: dict[str, EmailMessage] = field(default_factory=dict)
    reject: dict[str, str] = field(default_factory=dict)  # recipient -> SMTP reply
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[arg-type]
        with self.lock:
            self.raw.append(msg)
            self.store.setdefault(str(msg["Message-ID"]), msg)
        return "250 Message accepted"


class SmtpServer:
    def __init__(self) -> None:
        self.sink = SmtpSink()
        self.port = free_port()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@dataclass
class HttpCall:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """`respond(call) -> (status, json body)` decides each answer (default 200)."""

    def __init__(self, respond: Callable[[HttpCall], tuple[int, dict[str, Any]]] | None = None) -> None:
        self.raw: list[HttpCall] = []
        self.store: dict[str, HttpCall] = {}
        self.respond = respond or (lambda call: (200, {"id": f"gw-{len(self.raw)}"}))
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                call = HttpCall(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                status, body = receiver.handle(call)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, call: HttpCall) -> tuple[int, dict[str, Any]]:
        status, body = self.respond(call)
        if 200 <= status < 300:
            with self.lock:
                self.raw.append(call)
                self.store.setdefault(call.headers.get("idempotency-key", ""), call)
        return status, body

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _serve_until_terminated() -> None:
    """`python -m loyalist.messaging.testing PORT`: an SMTP sink in its own process (benchmarks
    must not share the GIL with the worker). On SIGTERM it prints `<raw> <distinct>` and exits."""
    import signal
    import sys
    import time

    server = SmtpServer()
    server.port = int(sys.argv[1])
    server.controller = Controller(server.sink, hostname="127.0.0.1", port=server.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print("ready", flush=True)
        while not stop.is_set():
            time.sleep(0.05)
    print(len(server.sink.raw), len(server.sink.store), flush=True)


if __name__ == "__main__":
    _serve_until_terminated()
