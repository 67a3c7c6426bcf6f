"""Prometheus `/metrics`: request counters and latencies of this process (or of all workers in
multiprocess mode), plus business gauges read from the database at scrape time — ledger entries,
outbox depth and age, failed and dead deliveries, open cases past their SLA, points liability.

Reading the gauges from the database (not from process memory) makes them identical whichever
worker answers the scrape. Protected by the `metrics:read` permission: Prometheus sends a bearer
key (`authorization: {credentials: lk_...}` in its scrape config).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from loyalist.api.deps import SessionDep, require
from loyalist.api.observability import registry_for_scrape
from loyalist.cases import service as cases
from loyalist.config import get_settings
from loyalist.ledger import service as ledger
from loyalist.messaging import service as messaging

router = APIRouter(tags=["operations"])


class _Snapshot:
    """A one-scrape collector over values already read from the database."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self):  # type: ignore[no-untyped-def]
        yield from self.families


@router.get("/metrics", response_class=Response, dependencies=[Depends(require("metrics:read"))])
def metrics(session: SessionDep) -> Response:
    """Prometheus text exposition format."""
    entries = GaugeMetricFamily("loyalist_ledger_entries", "Ledger entries by kind", labels=["kind"])
    for kind, count in sorted(ledger.entry_counts(session).items()):
        entries.add_metric([kind], count)
    stats = messaging.outbox_stats(session)
    outbox = GaugeMetricFamily("loyalist_outbox_messages", "Outbox messages by status", labels=["status"])
    for status, count in sorted(stats["by_status"].items()):
        outbox.add_metric([status], count)
    due = stats["by_status"]
    depth = GaugeMetricFamily("loyalist_outbox_depth", "Messages waiting to be sent (queued or sending)")
    depth.add_metric([], due.get("queued", 0) + due.get("sending", 0))
    age = GaugeMetricFamily("loyalist_outbox_oldest_due_age_seconds", "Age of the oldest message due for sending")
    age.add_metric([], stats["oldest_due_age_seconds"])
    failed = GaugeMetricFamily("loyalist_outbox_failed_deliveries", "Messages that failed for good (failed or dead)")
    failed.add_metric([], due.get("failed", 0) + due.get("dead", 0))
    breaches = GaugeMetricFamily("loyalist_cases_sla_breached_open", "Open cases past a first-response or "
                                 "resolution deadline")
    breaches.add_metric([], cases.list_cases(session, breached=True, limit=1).total)
    report = ledger.liability(session, point_value=get_settings().point_value)
    liability = GaugeMetricFamily("loyalist_points_outstanding", "Points customers hold (available + pending)")
    liability.add_metric([], report.outstanding_points)

    registry = CollectorRegistry()
    registry.register(_Snapshot([entries, outbox, depth, age, failed, breaches, liability]))
    process = registry_for_scrape()
    body = generate_latest(registry) + (generate_latest(process) if process is not None else generate_latest())
    return Response(body, media_type=CONTENT_TYPE_LATEST)
