"""Supervised churn model on simulated data, and the CLV glue on the CDNOW data."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from loyalist.analytics import clv_pipeline
from loyalist.analytics.churn import churn_features, churn_labels, validate_churn_model
from loyalist.analytics.io import load_transactions
from loyalist.analytics.simulate import simulate_transactions
from loyalist.analytics.summary import summary_data

from .helpers import CDNOW_NAMES, CDNOW_TXT, tiny_table


@pytest.fixture(scope="module")
def simulated() -> ibis.Table:
    frame = simulate_transactions(3000, seed=7)
    return ibis.duckdb.connect().create_table("sim", frame)


def test_simulation_is_deterministic() -> None:
    a = simulate_transactions(200, seed=3)
    b = simulate_transactions(200, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(simulate_transactions(200, seed=4))
    frame, truth = simulate_transactions(200, seed=3, with_truth=True)
    assert set(frame["customer_id"]) == set(truth["customer_id"])
    assert (frame["amount"] < 0).any()  # some returns


def test_features_and_labels_by_hand() -> None:
    f = churn_features(tiny_table(), as_of="2024-02-29").set_index("customer_id")
    assert f.index.tolist() == ["A", "B"]
    assert f.loc["A", "recency_days"] == 19 and f.loc["A", "frequency"] == 2
    assert f.loc["A", "returns"] == 1 and f.loc["A", "return_value"] == 4.0
    assert f.loc["A", "monetary"] == 31.0
    assert f.loc["B", "tenure_days"] == 45
    bought = churn_labels(tiny_table(), as_of="2024-02-29", horizon_days=40)
    assert bought.index.tolist() == ["C"]


def test_churn_model_validates_on_a_later_period(simulated: ibis.Table) -> None:
    v = validate_churn_model(simulated, observation_end="2024-12-31", horizon_days=90)
    assert v.valid_as_of == pd.Timestamp("2024-10-02")
    assert v.metrics["auc"] > 0.75
    assert v.metrics["precision_at_k"] > v.metrics["base_rate"]
    assert 0 <= v.scores["churn_probability"].min() and v.scores["churn_probability"].max() <= 1
    risky = v.features.loc[v.scores["churn_probability"].nlargest(5).index]
    reasons = v.model.reasons(risky)
    assert len(reasons) == 5 and all(isinstance(r, str) and r for r in reasons)
    assert any("typical" in r for r in reasons)


def test_clv_glue_matches_the_fitters_own_clv() -> None:
    loaded = load_transactions(CDNOW_TXT, names=CDNOW_NAMES.split(","), customer_col="sample_id",
                               date_col="date", value_col="dollars")
    cal = summary_data(loaded.table, observation_end="1998-06-30", calibration_end="1997-09-30")
    model = clv_pipeline.fit_transaction_model(cal)
    assert model.params_ == pytest.approx({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, abs=1e-3)
    diag = clv_pipeline.holdout_diagnostics(cal, model)
    assert diag["frequency_bucket"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert diag["customers"].sum() == 2357
    assert diag["customers"].iloc[0] == 1411
    assert np.abs(diag["actual"] - diag["predicted"]).max() < 0.4
    full = summary_data(loaded.table, observation_end="1998-06-30")
    fm = clv_pipeline.fit_transaction_model(full)
    gg = clv_pipeline.fit_spend_model(full)
    pred = clv_pipeline.predict_customers(full, fm, gg, horizon_months=12, annual_discount_rate=0.1)
    direct = gg.customer_lifetime_value(fm, full["frequency"], full["recency"] / 7, full["T"] / 7,
                                        full["monetary_value"], horizon_months=12,
                                        discount_rate_monthly=clv_pipeline.monthly_rate(0.1), time_unit_days=7.0)
    assert np.allclose(pred["clv"], direct)
    assert ((pred["p_alive"] >= 0) & (pred["p_alive"] <= 1)).all()
    assert (pred["expected_purchases_30d"] <= pred["expected_purchases_90d"]).all()
    assert (pred["expected_purchases_90d"] <= pred["expected_purchases_365d"]).all()
