"""The per-customer summary: exact on hand-made data and on the CDNOW reference summary."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from loyalist.analytics.io import load_transactions
from loyalist.analytics.summary import compress, summary_data

from .helpers import CDNOW, CDNOW_NAMES, CDNOW_TXT, tiny_frame, tiny_table


def test_tiny_summary_by_hand() -> None:
    s = summary_data(tiny_table(), observation_end="2024-04-30").set_index("customer_id")
    a, b, c = s.loc["A"], s.loc["B"], s.loc["C"]
    # A: purchase days 01-01 (15 = 10 + 5) and 02-10 (20); the -4 return is not a purchase day.
    assert (a.frequency, a.recency, a["T"], a.monetary_value) == (1, 40.0, 120.0, 20.0)
    assert (a.purchase_days, a.transactions, a.revenue, a.returns, a.return_value, a.net_revenue) == (
        2, 3, 35.0, 1, -4.0, 31.0)
    assert (b.frequency, b.recency, b["T"], b.monetary_value) == (0, 0.0, 106.0, 0.0)
    assert (c.frequency, c.recency, c["T"]) == (1, 32.0, 60.0)


def test_holdout_split() -> None:
    s = summary_data(tiny_table(), observation_end="2024-04-30", calibration_end="2024-03-15",
                     time_unit_days=7).set_index("customer_id")
    assert s.loc["C", "frequency"] == 0 and s.loc["C", "frequency_holdout"] == 1
    assert s.loc["C", "monetary_value_holdout"] == 9.0
    assert s.loc["A", "frequency_holdout"] == 0
    assert s["duration_holdout"].iloc[0] == 46 / 7


def test_cdnow_calibration_summary_matches_reference_exactly() -> None:
    loaded = load_transactions(CDNOW_TXT, names=CDNOW_NAMES.split(","), customer_col="sample_id",
                               date_col="date", value_col="dollars")
    s = summary_data(loaded.table, observation_end="1998-06-30", calibration_end="1997-09-30", time_unit_days=7)
    ref = pd.read_csv(CDNOW / "cdnow_customers_summary.csv")
    s["ID"] = s["customer_id"].astype(int)
    merged = ref.merge(s, on="ID", suffixes=("_ref", ""), validate="one_to_one")
    assert len(s) == len(ref) == len(merged) == 2357
    assert (merged["frequency"] == merged["frequency_ref"]).all()
    assert (merged["recency"].round(2) == merged["recency_ref"]).all()
    assert (merged["T"].round(2) == merged["T_ref"]).all()
    zbar = pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv").merge(s, on="ID")
    assert np.abs(zbar["zbar"] - zbar["monetary_value"]).max() <= 0.005 + 1e-9


def test_compress_keeps_every_customer() -> None:
    s = summary_data(tiny_table(), observation_end="2024-04-30")
    c = compress(s)
    assert c.weights.sum() == 3
    assert np.array_equal(c.frequency[c.inverse], s["frequency"].to_numpy())
    assert np.array_equal(c.T[c.inverse], s["T"].to_numpy())


def test_same_expression_on_sqlite(tmp_path) -> None:
    con = ibis.sqlite.connect(str(tmp_path / "t.db"))
    frame = tiny_frame()
    con.create_table("tx", frame)
    on_sqlite = summary_data(con.table("tx"), observation_end="2024-04-30")
    on_duckdb = summary_data(tiny_table(), observation_end="2024-04-30")
    pd.testing.assert_frame_equal(on_sqlite, on_duckdb, check_dtype=False)
