"""Retention, cohorts, RFM and NPS on data small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loyalist.analytics.cohorts import cohort_matrix, cohort_table
from loyalist.analytics.errors import AnalyticsInputError
from loyalist.analytics.nps import nps_summary, nps_trend
from loyalist.analytics.retention import retention_rates
from loyalist.analytics.rfm import quintile_scores, rfm_table, score_rfm, segment_movement, segment_summary

from .helpers import tiny_table


def test_monthly_retention_by_hand() -> None:
    r = retention_rates(tiny_table(), observation_end="2024-04-15", period="month")
    assert r["period"].tolist() == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert r["active_customers"].tolist() == [2, 1, 1, 1]  # Jan: A, B; Feb: A; Mar: C; Apr: C
    assert r["new_customers"].tolist() == [2, 0, 1, 0]
    assert r["retained"].tolist() == [0, 1, 0, 1]
    assert np.isnan(r["retention_rate"].iloc[0])
    assert r["retention_rate"].iloc[1:].tolist() == [0.5, 0.0, 1.0]
    assert r["churn_rate"].iloc[1:].tolist() == [0.5, 1.0, 0.0]
    assert r["complete"].tolist() == [True, True, True, False]


def test_quarterly_and_unknown_period() -> None:
    r = retention_rates(tiny_table(), observation_end="2024-06-30", period="quarter")
    assert r["period"].tolist() == ["2024-Q1", "2024-Q2"]
    assert r["active_customers"].tolist() == [3, 1]
    assert r["retention_rate"].iloc[1] == pytest.approx(1 / 3)
    assert r["complete"].tolist() == [True, True]
    with pytest.raises(AnalyticsInputError, match="unknown period 'week'"):
        retention_rates(tiny_table(), observation_end="2024-06-30", period="week")


def test_cohorts_by_hand() -> None:
    long = cohort_table(tiny_table(), observation_end="2024-04-30")
    assert long.to_dict(orient="records") == [
        {"cohort": "2024-01", "months_since_first": 0, "customers": 2, "cohort_size": 2, "retention": 1.0},
        {"cohort": "2024-01", "months_since_first": 1, "customers": 1, "cohort_size": 2, "retention": 0.5},
        {"cohort": "2024-03", "months_since_first": 0, "customers": 1, "cohort_size": 1, "retention": 1.0},
        {"cohort": "2024-03", "months_since_first": 1, "customers": 1, "cohort_size": 1, "retention": 1.0},
    ]
    m = cohort_matrix(long)
    assert m.loc["2024-01", 1] == 0.5


def test_quintiles_give_ties_the_lowest_quintile() -> None:
    values = np.array([1, 1, 1, 1, 1, 1, 2, 3, 4, 10])
    assert quintile_scores(values).tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    assert quintile_scores(np.arange(10), higher_is_better=False).tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_rfm_segments_and_movement() -> None:
    rows = []
    # 10 customers: customer i bought i times, the last purchase i*10 days before the end.
    end = pd.Timestamp("2024-12-31")
    for i in range(1, 11):
        for j in range(i):
            rows.append({"customer_id": i, "occurred_at": end - pd.Timedelta(days=i * 10 + j * 3),
                         "amount": 10.0})
    frame = pd.DataFrame(rows)
    summary_table = __import__("ibis").duckdb.connect().create_table("t", frame)
    rfm = rfm_table(summary_table, observation_end=end).set_index("customer_id")
    assert rfm.loc[1, "recency_days"] == 10 and rfm.loc[1, "frequency"] == 1
    assert (rfm.loc[1, "r_score"], rfm.loc[1, "f_score"]) == (5, 1)
    assert rfm.loc[1, "segment"] == "new"
    assert (rfm.loc[10, "r_score"], rfm.loc[10, "f_score"]) == (1, 5)
    assert rfm.loc[10, "segment"] == "can't lose them"
    assert rfm.loc[10, "rfm_score"] == "155"
    seg = segment_summary(rfm.reset_index())
    assert seg["customers"].sum() == 10 and seg["share"].sum() == pytest.approx(1.0)
    earlier = score_rfm(pd.DataFrame({"customer_id": [1], "last_purchase": [end], "purchase_days": [1],
                                      "net_revenue": [1.0]}), observation_end=end)
    move = segment_movement(earlier, rfm.reset_index())
    assert move.loc["(not yet a customer)"].sum() == 9
    assert move.to_numpy().sum() == 10


def test_nps() -> None:
    fb = pd.DataFrame({"customer_id": [1, 2, 3, 4, 5], "score": [10, 9, 8, 3, 6],
                       "answered_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01", "2024-02-02",
                                                      "2024-02-03"])})
    assert nps_summary(fb) == {"responses": 5, "promoters": 2, "passives": 1, "detractors": 2, "nps": 0.0}
    trend = nps_trend(fb)
    assert trend["period"].tolist() == ["2024-01", "2024-02"]
    assert trend["nps"].tolist() == [100.0, -66.7]
