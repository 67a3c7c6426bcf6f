"""Glue between the per-customer summary and the probabilistic models in `analytics.clv`.

Why a separate module: the fitters know nothing about tables, dates or customers; this module
turns a summary into the (compressed) arrays they fit on, maps predictions back to customers,
and builds the holdout diagnostics. Time inside the models is in weeks (`TIME_UNIT_DAYS = 7`):
the CDNOW literature's unit, and numerically well-scaled for day-level data.

Outputs per customer (see `predict_customers`): p_alive (0..1), expected_purchases_30d/90d/365d
(repeat purchase days expected in the next 30/90/365 days), expected_avg_value (Gamma-Gamma,
currency per purchase), clv (discounted expected value over the horizon, currency).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from loyalist.analytics.errors import AnalyticsInputError
from loyalist.analytics.summary import compress, day_expr, to_day_number

__all__ = ["TIME_UNIT_DAYS", "MODEL_NAMES", "make_model", "fit_transaction_model", "fit_spend_model",
           "predict_customers", "holdout_diagnostics", "compare_models", "discrete_summary", "fit_bgbb",
           "monthly_rate", "ClvResult"]

TIME_UNIT_DAYS = 7.0
MODEL_NAMES = {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD", "mbgnbd": "MBG/NBD"}


def monthly_rate(annual_rate: float) -> float:
    """Monthly discount rate equivalent to an annual one: (1 + a)^(1/12) - 1."""
    if annual_rate <= -1:
        raise AnalyticsInputError("discount rate must be greater than -100%")
    return float((1.0 + annual_rate) ** (1.0 / 12.0) - 1.0)


def make_model(name: str) -> Any:
    from loyalist.analytics import clv

    classes = {"bgnbd": clv.BetaGeoModel, "paretonbd": clv.ParetoNBDModel, "mbgnbd": clv.ModifiedBetaGeoModel}
    if name not in classes:
        raise AnalyticsInputError(f"unknown model {name!r}; choose one of {', '.join(classes)}")
    return classes[name]()


def _in_weeks(summary: pd.DataFrame, unit_days: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    factor = unit_days / TIME_UNIT_DAYS
    return (summary["frequency"].to_numpy(dtype="float64"), summary["recency"].to_numpy(dtype="float64") * factor,
            summary["T"].to_numpy(dtype="float64") * factor)


def fit_transaction_model(summary: pd.DataFrame, *, model: str = "bgnbd", unit_days: float = 1.0,
                          sample: int | None = 100_000, seed: int = 0) -> Any:
    """Fit a BG/NBD-family model on the compressed summary.

    Bases larger than `sample` customers are fitted on a uniform random sample of that size: the
    four population parameters are then already estimated to about 1% while the fit time stays
    bounded (Pareto/NBD costs ~0.2 ms per unique row and iteration)."""
    if summary.empty:
        raise AnalyticsInputError("no customers to fit a model on")
    data = summary
    if sample is not None and len(summary) > sample:
        data = summary.sample(n=sample, random_state=seed)
    x, tx, T = _in_weeks(data, unit_days)
    comp = compress(pd.DataFrame({"frequency": x, "recency": tx, "T": T}))
    return make_model(model).fit(comp.frequency, comp.recency, comp.T, weights=comp.weights)


def fit_spend_model(summary: pd.DataFrame, *, max_rows: int = 100_000, seed: int = 0) -> Any | None:
    """Gamma-Gamma on repeat buyers with a positive mean repeat value; None if too few (< 10)."""
    from loyalist.analytics.clv import GammaGammaModel

    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    if len(repeat) < 10:
        return None
    if len(repeat) > max_rows:
        repeat = repeat.sample(n=max_rows, random_state=seed)
    return GammaGammaModel().fit(repeat["frequency"].to_numpy(dtype="float64"),
                                 repeat["monetary_value"].to_numpy(dtype="float64"))


def predict_customers(summary: pd.DataFrame, model: Any, spend_model: Any | None, *, unit_days: float = 1.0,
                      horizon_months: int = 12, annual_discount_rate: float = 0.10,
                      resolution_weeks: float | None = None) -> pd.DataFrame:
    """Per-customer predictions from a full-period summary (see module doc for the columns).

    `resolution_weeks` rounds recency and T before scoring so that very large bases collapse to
    fewer unique rows (the analysis uses whole weeks above 200,000 unique rows and says so).
    """
    x, tx, T = _in_weeks(summary, unit_days)
    if resolution_weeks:
        tx = np.round(tx / resolution_weeks) * resolution_weeks
        T = np.maximum(np.round(T / resolution_weeks) * resolution_weeks, tx)
    comp = compress(pd.DataFrame({"frequency": x, "recency": tx, "T": T}))
    inv = comp.inverse
    out = pd.DataFrame({"customer_id": summary["customer_id"].to_numpy()})
    out["p_alive"] = np.asarray(model.p_alive(comp.frequency, comp.recency, comp.T))[inv]
    for days in (30, 90, 365):
        out[f"expected_purchases_{days}d"] = np.asarray(
            model.expected_purchases(days / TIME_UNIT_DAYS, comp.frequency, comp.recency, comp.T))[inv]
    if spend_model is not None:
        mon = summary["monetary_value"].to_numpy(dtype="float64")
        freq = summary["frequency"].to_numpy(dtype="float64")
        out["expected_avg_value"] = spend_model.conditional_expected_average_profit(freq, mon)
        # CLV only depends on (x, t_x, T) through the purchase curve: compute it per unique row.
        months = np.arange(0, int(horizon_months) + 1, dtype="float64")
        horizons = (months * 30.0 / TIME_UNIT_DAYS)[:, None]
        cum = np.asarray(model.expected_purchases(horizons, comp.frequency, comp.recency, comp.T))
        discount = (1.0 + monthly_rate(annual_discount_rate)) ** -months[1:]
        discounted_purchases = (discount @ np.diff(cum, axis=0))[inv]
        out["clv"] = discounted_purchases * out["expected_avg_value"].to_numpy()
    return out


def holdout_diagnostics(cal_summary: pd.DataFrame, model: Any, *, unit_days: float = 1.0,
                        max_bucket: int = 7, resolution_weeks: float | None = None) -> pd.DataFrame:
    """Predicted vs actual repeat purchases in the holdout, per calibration-frequency bucket.

    Columns: frequency_bucket ("0".."6", "7+"), customers, actual (mean holdout purchase days),
    predicted (mean model expectation over the holdout duration).
    """
    if "frequency_holdout" not in cal_summary:
        raise AnalyticsInputError("the summary has no holdout period (pass calibration_end)")
    x, tx, T = _in_weeks(cal_summary, unit_days)
    duration = float(cal_summary["duration_holdout"].iloc[0]) * unit_days / TIME_UNIT_DAYS
    if resolution_weeks:
        tx = np.round(tx / resolution_weeks) * resolution_weeks
        T = np.maximum(np.round(T / resolution_weeks) * resolution_weeks, tx)
    comp = compress(pd.DataFrame({"frequency": x, "recency": tx, "T": T}))
    predicted = np.asarray(model.expected_purchases(duration, comp.frequency, comp.recency, comp.T))[comp.inverse]
    bucket = np.minimum(cal_summary["frequency"].to_numpy(), max_bucket)
    frame = pd.DataFrame({"b": bucket, "actual": cal_summary["frequency_holdout"].to_numpy(dtype="float64"),
                          "predicted": predicted})
    g = frame.groupby("b").agg(customers=("actual", "size"), actual=("actual", "mean"),
                               predicted=("predicted", "mean")).reset_index()
    g["frequency_bucket"] = [f"{b}+" if b == max_bucket else str(b) for b in g["b"]]
    return g[["frequency_bucket", "customers", "actual", "predicted"]]


@dataclass
class ClvResult:
    model_name: str
    params: dict[str, float]
    log_likelihood: float
    spend_params: dict[str, float] | None
    predictions: pd.DataFrame
    diagnostics: pd.DataFrame | None
    comparison: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    calibration: pd.DataFrame | None = None  # the calibration/holdout summary behind `diagnostics`


def compare_models(summary: pd.DataFrame, *, unit_days: float = 1.0, sample: int = 10_000,
                   seed: int = 0, cal_summary: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Fit every transaction model (on a random sample for large bases): name, params,
    log_likelihood (per customer, comparable across models), holdout_mae when a calibration
    summary with holdout is given (mean absolute error of per-bucket predictions)."""
    rows = []
    for key, label in MODEL_NAMES.items():
        try:
            fitted = fit_transaction_model(summary, model=key, unit_days=unit_days, sample=sample, seed=seed)
        except Exception as exc:  # noqa: BLE001 - one model failing must not hide the others
            rows.append({"model": label, "error": str(exc)})
            continue
        n = min(len(summary), sample)
        row: dict[str, Any] = {"model": label, "params": fitted.params_,
                               "log_likelihood_per_customer": float(fitted.log_likelihood_) / n}
        if cal_summary is not None:
            cal = cal_summary.sample(n=min(len(cal_summary), sample), random_state=seed)
            cal_fit = fit_transaction_model(cal, model=key, unit_days=unit_days)
            diag = holdout_diagnostics(cal, cal_fit, unit_days=unit_days)
            row["holdout_mae"] = float(np.average(np.abs(diag["actual"] - diag["predicted"]),
                                                  weights=diag["customers"]))
        rows.append(row)
    return rows


def discrete_summary(table: ibis.Table, *, customer_col: str, date_col: str, value_col: str,
                     observation_end: dt.date | str | pd.Timestamp, period: str = "year") -> pd.DataFrame:
    """Discrete-time summary for BG/BB: per customer, opportunities counted in calendar periods after
    the first purchase period: frequency (periods with a purchase), recency (index of the last one),
    n_periods (periods after the first up to the observation end)."""
    from loyalist.analytics.retention import customer_periods, period_index

    cp = customer_periods(table, customer_col=customer_col, date_col=date_col, value_col=value_col,
                          observation_end=observation_end, period=period)
    per = cp.group_by("customer_id").aggregate(first=cp.p.min(), last=cp.p.max(), periods=cp.p.count()).execute()
    end_tbl = ibis.memtable({"d": [pd.Timestamp(observation_end)]})
    end_p = int(end_tbl.select(p=period_index(end_tbl, "d", period)).execute()["p"].iloc[0])
    _ = day_expr, to_day_number  # same day axis as the other summaries
    out = pd.DataFrame({"customer_id": per["customer_id"], "frequency": per["periods"] - 1,
                        "recency": per["last"] - per["first"], "n_periods": end_p - per["first"]})
    return out.sort_values("customer_id").reset_index(drop=True)


def fit_bgbb(discrete: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
    """Fit BG/BB on the (frequency, recency, n_periods) table; returns the model and P(alive) per customer."""
    from loyalist.analytics.clv import BetaGeoBetaBinomModel

    usable = discrete[discrete["n_periods"] > 0]
    if len(usable) < 10:
        raise AnalyticsInputError("BG/BB needs at least 10 customers with one full period after their first")
    grouped = usable.groupby(["frequency", "recency", "n_periods"]).size().reset_index(name="w")
    model = BetaGeoBetaBinomModel().fit(grouped["frequency"], grouped["recency"], grouped["n_periods"],
                                        weights=grouped["w"])
    p = model.p_alive(usable["frequency"], usable["recency"], usable["n_periods"])
    nxt = model.expected_purchases(1, usable["frequency"], usable["recency"], usable["n_periods"])
    return model, pd.DataFrame({"customer_id": usable["customer_id"].to_numpy(), "p_alive_discrete": p,
                                "expected_purchases_next_period": nxt})
