"""A real server for browser tests: uvicorn on a free loopback port, a temporary SQLite file,
a real SMTP server (aiosmtpd) receiving what the worker sends, and Debian's Chromium.

Why a file database and not the test transaction: the browser talks to a separate server thread,
which needs real commits, exactly as in production.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from loyalist import config
from loyalist.db import make_engine
from loyalist.migrate import upgrade

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """aiosmtpd handler keeping every received message (raw bytes decoded as email)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def bodies_to(self, address: str) -> list[str]:
        out = []
        for msg in self.messages:
            if address in str(msg["To"]):
                part = msg.get_body(preferencelist=("plain",))
                out.append(part.get_content() if part is not None else "")
        return out


@dataclass
class LiveServer:
    url: str
    engine: Engine
    settings: config.Settings
    mailbox: Mailbox

    def deliver(self) -> None:
        """Run one worker pass: the outbox goes to the SMTP server."""
        from loyalist.worker import deliver_outbox

        deliver_outbox(self.engine, settings=self.settings)


@contextmanager
def live_server(tmp: Path) -> Iterator[LiveServer]:
    smtp_port, http_port = free_port(), free_port()
    url = f"http://127.0.0.1:{http_port}"
    env = {"LOYALIST_DATABASE_URL": f"sqlite:///{tmp / 'live.db'}", "LOYALIST_SMTP_HOST": "127.0.0.1",
           "LOYALIST_SMTP_PORT": str(smtp_port), "LOYALIST_PUBLIC_BASE_URL": url,
           "LOYALIST_SECRET_KEY": "live-test-secret-key-0123456789abcdef"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    config.get_settings.cache_clear()
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    settings = config.get_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    from loyalist.api.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=http_port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield LiveServer(url=url, engine=engine, settings=settings, mailbox=mailbox)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        controller.stop()
        engine.dispose()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        config.get_settings.cache_clear()
