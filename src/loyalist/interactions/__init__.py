"""Interactions: the customer timeline (purchases, calls, messages, points, profile changes...).

Public contract:

- `service.record(session, *, customer_id, kind, channel, summary, direction="internal",
  occurred_at=None, staff_id=None, actor=None, source_type=None, source_id=None, data=None)
  -> InteractionRead` — one INSERT; the caller has resolved the customer id.
- `service.record_many(session, rows) -> int` — executemany of `record`'s keyword dicts.
- `service.log_interaction(session, *, customer_id, data: InteractionCreate, actor)` — plus audit.
- `service.list_timeline(session, customer_id, *, kinds, channels, since, until, limit, offset)
  -> InteractionPage` — newest first, stable.
- Vocabularies: `schemas.KINDS`, `schemas.CHANNELS`, `schemas.DIRECTIONS`.

Layering: this package depends only on core (customers references it, not the reverse), so
that `customers` can put its own changes on the timeline without an import cycle.
"""
