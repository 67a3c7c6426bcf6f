"""Structured logs and Prometheus metrics for the API.

One JSON line per request (request id, method, route template, status, duration, actor), the
same request id the audit log stores, so an audit row leads to its request and back. Secrets
never reach a log line: neither headers nor bodies nor query strings are logged, only the route
template (`/v1/customers/{customer_id}`), which also keeps metric label cardinality bounded.

Metrics: with several uvicorn workers set `PROMETHEUS_MULTIPROC_DIR` to an empty directory and
each process writes its samples there; `/metrics` then aggregates all workers.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

REQUESTS = Counter("loyalist_http_requests_total", "HTTP requests by route template, method and status",
                   ["route", "method", "status"])
LATENCY = Histogram("loyalist_http_request_duration_seconds", "HTTP request latency by route template",
                    ["route", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

access_log = logging.getLogger("loyalist.access")


class JsonFormatter(logging.Formatter):
    """Log records as one JSON object per line (timestamp UTC, level, logger, message, extras)."""

    RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self.RESERVED and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False)


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    """Route every `loyalist.*` logger (and uvicorn's error log) to stderr in `fmt`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    for name in ("loyalist", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False


def route_template(scope: dict[str, Any]) -> str:
    """The matched route's path template, or a fixed label for unmatched paths (404 scans must
    not create one metric series per probed URL)."""
    route = scope.get("route")
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    return str(path) if path else "<unmatched>"


def observe(scope: dict[str, Any], method: str, status: int, started: float, request_id: str,
            actor: Any | None) -> None:
    """Record one finished request in the metrics and the access log."""
    elapsed = time.perf_counter() - started
    route = route_template(scope)
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(elapsed)
    access_log.info("request", extra={
        "request_id": request_id, "method": method, "route": route, "status": status,
        "duration_ms": round(elapsed * 1000, 2),
        "actor": getattr(actor, "label", None),
    })


def registry_for_scrape() -> CollectorRegistry | None:
    """The registry to expose: all workers' samples in multiprocess mode, else the default."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return None
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return registry
