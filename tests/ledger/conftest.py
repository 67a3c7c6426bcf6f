"""Ledger fixtures (helpers live in `helpers.py`)."""

from __future__ import annotations

from tests.ledger.helpers import customer_id, frozen  # noqa: F401  (fixtures)
