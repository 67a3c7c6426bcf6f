"""Shared helpers for analytics tests: where the CDNOW data lives, tiny hand-made tables."""

from __future__ import annotations

from pathlib import Path

import ibis
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
CDNOW = REPO.parent / "shared" / "data" / "cdnow"
CDNOW_TXT = CDNOW / "CDNOW_sample.txt"
CDNOW_NAMES = "master_id,sample_id,date,cds,dollars"


def tiny_frame() -> pd.DataFrame:
    """Three customers, known by heart:
    A: buys 2024-01-01 (10), 2024-01-01 (5, same day), 2024-02-10 (20), returns -4 on 2024-02-12;
    B: buys 2024-01-15 (30) only;  C: buys 2024-03-01 (7) and 2024-04-02 (9)."""
    rows = [
        ("A", "2024-01-01 09:00", 10.0), ("A", "2024-01-01 18:00", 5.0), ("A", "2024-02-10 12:00", 20.0),
        ("A", "2024-02-12 12:00", -4.0), ("B", "2024-01-15 08:00", 30.0), ("C", "2024-03-01 10:00", 7.0),
        ("C", "2024-04-02 10:00", 9.0),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "occurred_at", "amount"])
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"])
    return frame


def tiny_table() -> ibis.Table:
    return ibis.duckdb.connect().create_table("tx", tiny_frame())
