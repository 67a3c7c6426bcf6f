"""The transport interface and its error."""

from __future__ import annotations

from typing import Protocol

from loyalist.messaging.schemas import Outgoing, SendResult


class DeliveryError(Exception):
    """A send that did not happen. `permanent`: retrying cannot help (bad address, rejected
    content); `bounce`: the address itself is dead and goes on the suppression list."""

    def __init__(self, message: str, *, permanent: bool = False, bounce: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent or bounce
        self.bounce = bounce


class Transport(Protocol):
    def send(self, outgoing: Outgoing) -> SendResult: ...

    def close(self) -> None: ...


def http_failure(status: int, text: str, *, what: str) -> DeliveryError:
    """Classify an HTTP error answer: 408/429/5xx are worth retrying, other 4xx are not."""
    snippet = " ".join(text.split())[:200]
    permanent = 400 <= status < 500 and status not in (408, 409, 425, 429)
    return DeliveryError(f"{what} answered HTTP {status}: {snippet}", permanent=permanent)
