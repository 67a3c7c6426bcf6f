"""The whole analysis behind `loyalist analyze`: one call from a transactions table to every measure.

Why one orchestrating function: the CLI, the API and the benchmark must compute exactly the same
thing, and the expensive intermediate results (summaries at a few dates) are shared between the
measures instead of being recomputed. Each step reports progress through a callback so the CLI
can show it; failures of optional steps (a model that cannot be fitted on too little history)
become notes in the report instead of aborting everything.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd

from loyalist.analytics import clv_pipeline
from loyalist.analytics.churn import (
    SIDE_FEATURES,
    ChurnValidation,
    churn_features,
    evaluate_ranking,
    feedback_from_events,
    normalise_events,
    static_attributes,
    validate_churn_model,
)
from loyalist.analytics.cohorts import cohort_from_periods, cohort_matrix
from loyalist.analytics.errors import AnalyticsInputError
from loyalist.analytics.io import InputReport
from loyalist.analytics.nps import nps_summary, nps_trend
from loyalist.analytics.retention import PERIODS, coarsen_periods, customer_periods, retention_from_periods
from loyalist.analytics.rfm import score_rfm, segment_movement, segment_summary
from loyalist.analytics.risk import rank_risk, score_risk
from loyalist.analytics.summary import compress, day_expr, observed_range, summary_data, to_day_number

__all__ = ["AnalysisSettings", "Analysis", "analyze", "write_outputs"]

Progress = Callable[[str], None]


@dataclass
class AnalysisSettings:
    """Choices of the analysis; defaults suit daily retail data."""

    observation_end: dt.date | str | None = None  # default: the last transaction date
    model: str = "bgnbd"
    horizon_months: int = 12
    annual_discount_rate: float = 0.10
    churn_horizon_days: int = 90
    holdout_days: int | None = None  # default: half the history, at most 365 days
    calibration_end: dt.date | str | None = None  # overrides holdout_days: fit diagnostics up to this date
    compare_days: int = 90  # RFM movement: segments now vs this many days earlier
    compare_from: dt.date | str | None = None  # RFM movement from this date instead (overrides compare_days)
    risk_list_size: int = 100
    discrete_period: str | None = None  # e.g. "year": also fit BG/BB on purchases per period
    validation_sample: int = 100_000  # customers used for model validation on larger bases
    seed: int = 0


@dataclass
class Analysis:
    """Everything the report, the JSON summary and the API show."""

    settings: AnalysisSettings
    observation_end: pd.Timestamp
    first_date: pd.Timestamp
    input_report: InputReport | None
    kpis: dict[str, Any]
    retention: dict[str, pd.DataFrame]
    cohorts: pd.DataFrame
    cohort_matrix: pd.DataFrame
    rfm_segments: pd.DataFrame
    rfm_movement: pd.DataFrame
    customers: pd.DataFrame
    risk_list: pd.DataFrame
    clv: clv_pipeline.ClvResult | None = None
    churn_metrics: dict[str, Any] | None = None
    model_ranking: dict[str, Any] | None = None
    members: pd.DataFrame | None = None
    nps: dict[str, Any] | None = None
    nps_trend: pd.DataFrame | None = None
    bgbb: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def summary_json(self) -> dict[str, Any]:
        """The JSON summary: headline numbers, definitions, model fits, notes (no per-customer rows)."""
        result: dict[str, Any] = _jsonable({
            "observation_end": self.observation_end.date().isoformat(),
            "first_transaction": self.first_date.date().isoformat(),
            "input": self.input_report.as_dict() if self.input_report else None,
            "kpis": self.kpis,
            "definitions": DEFINITIONS,
            "retention": {p: df.to_dict(orient="records") for p, df in self.retention.items()},
            "rfm_segments": self.rfm_segments.to_dict(orient="records"),
            "rfm_movement": None if self.rfm_movement.empty else {
                "from": self.rfm_movement.attrs.get("from"), "to": self.observation_end.date().isoformat(),
                "counts": {before: {after: int(n) for after, n in row.items() if n}
                           for before, row in self.rfm_movement.iterrows()}},
            "clv": None if self.clv is None else {
                "model": self.clv.model_name, "params": self.clv.params, "log_likelihood": self.clv.log_likelihood,
                "spend_params": self.clv.spend_params, "comparison": self.clv.comparison,
                "holdout": None if self.clv.diagnostics is None else self.clv.diagnostics.to_dict(orient="records"),
                "horizon_months": self.settings.horizon_months,
                "annual_discount_rate": self.settings.annual_discount_rate},
            "churn_model": self.churn_metrics,
            "risk_list": self.risk_list.drop(columns=["reasons"], errors="ignore").to_dict(orient="records"),
            "model_ranking": self.model_ranking,
            "members": None if self.members is None else self.members.to_dict(orient="records"),
            "nps": self.nps,
            "nps_trend": None if self.nps_trend is None else self.nps_trend.to_dict(orient="records"),
            "bgbb": self.bgbb,
            "notes": self.notes,
            "timings_seconds": self.timings,
        })
        return result


DEFINITIONS = {
    "active_customer": "bought at least once in the period (or in the last 365 days for the headline count)",
    "retention_rate": "customers who bought in both the previous and this period / customers who bought in the "
                      "previous period",
    "churn_rate": "1 - retention rate: the share of the previous period's buyers who did not buy again",
    "repeat_purchase_rate": "customers with purchases on at least two different days / all customers",
    "historical_clv": "net revenue to date (purchases minus returns)",
    "predictive_clv": "discounted expected revenue over the horizon: expected purchases (transaction model) x "
                      "expected value per purchase (Gamma-Gamma)",
    "p_alive": "probability that the customer has not silently left (transaction model)",
    "churn_probability": "probability of no purchase in the next churn-horizon days (supervised model; "
                         "1 - P(alive) when no supervised model could be trained)",
    "value_at_risk": "churn probability x the customer's revenue in the last 365 days",
    "revenue_at_risk": "sum of value at risk over all customers",
    "annual_cost_of_churn": "customers lost (bought in the year before last, not in the last 365 days) x average "
                            "revenue per active customer in the last 365 days",
    "nps": "% promoters (9-10) - % detractors (0-6) of all answers",
}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer | np.bool_):
        return obj.item()
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(obj, pd.Timestamp | dt.date):
        return obj.isoformat()
    if isinstance(obj, pd.DataFrame):
        return _jsonable(obj.to_dict(orient="records"))
    return obj


def _day(value: dt.date | str, option: str) -> pd.Timestamp:
    """A date setting as a midnight timestamp; a value that is no date is named with its option."""
    try:
        day = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise AnalyticsInputError(f"{option}: {value!r} is not a date (use YYYY-MM-DD)") from exc
    if pd.isna(day):
        raise AnalyticsInputError(f"{option}: {value!r} is not a date (use YYYY-MM-DD)")
    if day.tzinfo is not None:
        day = day.tz_convert("UTC").tz_localize(None)
    return day.normalize()


def _timed(timings: dict[str, float], name: str, progress: Progress | None) -> Any:
    import time

    class _T:
        def __enter__(self) -> None:
            if progress:
                progress(name)
            self.t = time.perf_counter()

        def __exit__(self, *exc: Any) -> None:
            timings[name] = round(time.perf_counter() - self.t, 3)

    return _T()


def analyze(
    table: ibis.Table,
    *,
    customer_col: str = "customer_id",
    date_col: str = "occurred_at",
    value_col: str = "amount",
    member_col: str | None = None,
    order_col: str | None = None,
    quantity_col: str | None = None,
    customers: pd.DataFrame | None = None,
    feedback: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    static_columns: list[str] | tuple[str, ...] | None = None,
    settings: AnalysisSettings | None = None,
    input_report: InputReport | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """Run every measure on `table` (any Ibis backend). See DEFINITIONS for what each number means.

    `customers` is a snapshot (as of its export): only its `static_columns` become churn-model
    features, the other columns are left out of the model with a note (they would leak the
    future into the training cut); the member flag still splits the members table.
    `events` is the dated side table (customer_id, occurred_at, kind, value; see
    churn.SIDE_FEATURES) whose features are recomputed as of every cut."""
    s = settings or AnalysisSettings()
    timings: dict[str, float] = {}
    notes: list[str] = []
    kw: dict[str, Any] = {"customer_col": customer_col, "date_col": date_col, "value_col": value_col}
    with _timed(timings, "date range", progress):
        first, last = observed_range(table, date_col=date_col)
    end = _day(s.observation_end, "--as-of") if s.observation_end else last
    if end < first:
        raise AnalyticsInputError(f"--as-of {end.date()} is before the first transaction ({first.date()})")
    span = int((end - first).days)
    if s.calibration_end is not None:
        _day(s.calibration_end, "--calibration-end")  # a typo fails here, not as a skipped model later
    compare_days = s.compare_days
    if s.compare_from is not None:
        compare_days = int((end - _day(s.compare_from, "--compare-from")).days)
    if compare_days <= 0:
        raise AnalyticsInputError(f"the segment-movement start must be before the observation end ({end.date()}); "
                                  f"got {(end - pd.Timedelta(days=compare_days)).date()}")

    cache: dict[pd.Timestamp, pd.DataFrame] = {}

    def summary_at(day: pd.Timestamp) -> pd.DataFrame:
        if day not in cache:
            cache[day] = summary_data(table, observation_end=day, **kw)
        return cache[day]

    with _timed(timings, "customer summary", progress):
        full = summary_at(end)
    if full.empty:
        raise AnalyticsInputError("no purchases (rows with a non-negative amount) up to the observation end")

    # Large bases: model validation (churn train/validation windows, calibration/holdout fit) runs
    # on a uniform random sample of customers, pushed into the backend as a semi-join; every
    # customer is still scored and counted on the full table.
    sample_table = table
    if len(full) > s.validation_sample:
        ids = full["customer_id"].sample(n=s.validation_sample, random_state=s.seed)
        sampled = ibis.memtable(pd.DataFrame({"_sample_id": ids.to_numpy()}))
        sample_table = table.semi_join(sampled, table[customer_col] == sampled._sample_id)
        notes.append(f"model validation (churn holdout, calibration vs holdout) on a random sample of "
                     f"{s.validation_sample:,} customers")

    with _timed(timings, "retention", progress):
        # One pass over the transactions: (customer, month) pairs materialised once (Ibis cache),
        # quarters and years derived from them.
        monthly = customer_periods(table, observation_end=end, period="month", **kw)
        try:
            monthly = monthly.cache()
        except Exception:  # noqa: BLE001 - a backend without temp tables just recomputes
            pass
        retention = {p: retention_from_periods(coarsen_periods(monthly, p), observation_end=end, period=p)
                     for p in PERIODS}
    with _timed(timings, "cohorts", progress):
        cohorts = cohort_from_periods(monthly)
        matrix = cohort_matrix(cohorts)

    with _timed(timings, "RFM", progress):
        rfm = score_rfm(full, observation_end=end)
        segments = segment_summary(rfm)

    clv_result = None
    customers_out = full.drop(columns=["monetary_value"]).rename(
        columns={"recency": "recency_days_span", "T": "age_days", "frequency": "repeat_purchase_days"})
    customers_out["mean_repeat_value"] = full["monetary_value"].to_numpy()
    customers_out = customers_out.merge(rfm.drop(columns=["frequency", "monetary"]), on="customer_id", how="left")
    with _timed(timings, "CLV models", progress):
        try:
            clv_result = _clv(table, sample_table, full, s, end, first, span, kw, notes)
            customers_out = customers_out.merge(clv_result.predictions, on="customer_id", how="left")
        except (AnalyticsInputError, ValueError, FloatingPointError) as exc:
            notes.append(f"predictive CLV skipped: {exc}")

    model_customers, excluded = static_attributes(customers, static_columns)
    if excluded:
        notes.append(f"customers file columns left out of the churn model: {', '.join(excluded)} - a snapshot "
                     "holds values as of its export, later than the training cut (declare unchanging columns "
                     "with --static-columns; give dated values with --events)")
    enrolments = _dated_enrolments(table, customer_col, member_col, kw["date_col"], customers, events)
    if enrolments is not None and not enrolments.empty:
        events = enrolments if events is None or events.empty else pd.concat([events, enrolments], ignore_index=True)
        notes.append("member flag per transaction: each customer's first flagged purchase dates their enrolment "
                     "for the churn model (no later flag leaks into an earlier cut)")
    if events is not None and not events.empty:
        events = normalise_events(events)
    with _timed(timings, "churn features", progress):
        current = churn_features(table, as_of=end, customers=model_customers, feedback=feedback,
                                 before_days=compare_days, events=events, **kw)
    churn_validation: ChurnValidation | None = None
    churn_metrics = None
    model_ranking = None
    with _timed(timings, "churn model", progress):
        try:
            churn_validation = validate_churn_model(sample_table, observation_end=end,
                                                    horizon_days=s.churn_horizon_days, customers=model_customers,
                                                    feedback=feedback, events=events, seed=s.seed,
                                                    first_date=first, current_features=current, **kw)
            churn_metrics = {"horizon_days": s.churn_horizon_days,
                             "train_as_of": churn_validation.train_as_of.date().isoformat(),
                             "validated_on": f"{churn_validation.valid_as_of.date()} .. {end.date()}",
                             "features": churn_validation.model.features_,
                             "excluded_snapshot_columns": excluded, **churn_validation.metrics}
        except (AnalyticsInputError, ValueError) as exc:
            notes.append(f"supervised churn model skipped: {exc}")
    if churn_validation is not None:
        # The validation features already hold every customer's history at that date.
        valid_at = churn_validation.valid_as_of
        valid_summary = _summary_from_features(churn_validation.comparison["valid_features"], valid_at)
        if sample_table is table:
            cache.setdefault(valid_at, valid_summary)
    with _timed(timings, "RFM movement", progress):
        before_date = end - pd.Timedelta(days=compare_days)
        if before_date >= first:
            if before_date in cache:
                before = cache[before_date]
            else:  # from the same pass as today's features
                had = current[current["before_frequency"] > 0]
                before = pd.DataFrame({
                    "customer_id": had["customer_id"].to_numpy(),
                    "last_purchase": before_date - pd.to_timedelta(had["before_recency_days"].to_numpy(), unit="D"),
                    "purchase_days": had["before_frequency"].to_numpy(),
                    "net_revenue": had["before_monetary"].to_numpy()})
            movement = segment_movement(score_rfm(before, observation_end=before_date), rfm)
            movement.attrs["from"] = before_date.date().isoformat()
        else:
            movement = pd.DataFrame()
            notes.append(f"segment movement needs history before {before_date.date()}")
    if churn_validation is not None and clv_result is not None:
        with _timed(timings, "model ranking", progress):
            model_ranking = _rank_models(valid_summary, churn_validation, s,
                                         churn_metrics or {})

    with _timed(timings, "risk", progress):
        p_alive = customers_out[["customer_id", "p_alive"]] if "p_alive" in customers_out else None
        risk, source = score_risk(current, churn_validation, p_alive)
        customers_out = customers_out.merge(risk[["customer_id", "churn_probability", "value_at_risk",
                                                  "revenue_last_365"]], on="customer_id", how="left")
        risk_list = rank_risk(risk, current, churn_validation, customers_out, s.risk_list_size)
        dated = [c for c, _, _ in SIDE_FEATURES.values() if c in current and c not in customers_out]
        if dated:  # the side-table values as of the observation end, next to the scores
            customers_out = customers_out.merge(current[["customer_id", *dated]], on="customer_id", how="left")
        kpis = _kpis(full, current, risk, retention, end, span, source, clv_result, notes)

    kpis.update(_order_kpis(table, end, kw, order_col or ("order_id" if "order_id" in table.columns else None),
                            quantity_col or ("quantity" if "quantity" in table.columns else None)))
    members = None
    member_flags = _member_flags(table, customer_col, member_col, customers)
    if member_flags is not None:
        with _timed(timings, "members", progress):
            # Ids from different files may differ in type ("1" vs 1): match them as text.
            flags = member_flags.assign(_key=member_flags["customer_id"].astype(str)).drop(columns="customer_id")
            # the explicit flag (file column or snapshot) replaces a dated one from the side table
            customers_out = customers_out.drop(columns="is_member", errors="ignore").assign(
                _key=customers_out["customer_id"].astype(str)).merge(flags, on="_key", how="left").drop(columns="_key")
            members = _members(customers_out)
    nps = trend = None
    answers = feedback if feedback is not None and not feedback.empty else feedback_from_events(events)
    if answers is not None and not answers.empty:
        with _timed(timings, "NPS", progress):
            nps = nps_summary(answers)
            trend = nps_trend(answers)
    bgbb = None
    if s.discrete_period:
        with _timed(timings, "BG/BB", progress):
            try:
                disc = clv_pipeline.discrete_summary(table, observation_end=end, period=s.discrete_period, **kw)
                model, palive = clv_pipeline.fit_bgbb(disc)
                bgbb = {"period": s.discrete_period, "params": model.params_,
                        "log_likelihood": model.log_likelihood_}
                customers_out = customers_out.merge(palive, on="customer_id", how="left")
            except (AnalyticsInputError, ValueError) as exc:
                notes.append(f"BG/BB skipped: {exc}")
    return Analysis(settings=s, observation_end=end, first_date=first, input_report=input_report, kpis=kpis,
                    retention=retention, cohorts=cohorts, cohort_matrix=matrix, rfm_segments=segments,
                    rfm_movement=movement, customers=customers_out, risk_list=risk_list, clv=clv_result,
                    churn_metrics=churn_metrics, model_ranking=model_ranking, members=members, nps=nps,
                    nps_trend=trend, bgbb=bgbb, notes=notes, timings=timings)


def _clv(table: ibis.Table, sample_table: ibis.Table, full: pd.DataFrame, s: AnalysisSettings,
         end: pd.Timestamp, first: pd.Timestamp, span: int, kw: dict[str, Any],
         notes: list[str]) -> clv_pipeline.ClvResult:
    model = clv_pipeline.fit_transaction_model(full, model=s.model)
    spend = clv_pipeline.fit_spend_model(full, seed=s.seed)
    if spend is None:
        notes.append("Gamma-Gamma skipped: fewer than 10 repeat buyers; no predictive CLV in money")
    unique = len(compress(full))
    resolution = 1.0 if unique > 200_000 else None
    if resolution:
        notes.append(f"{unique:,} distinct (frequency, recency, T) histories: predictions use recency and T "
                     "rounded to whole weeks")
    predictions = clv_pipeline.predict_customers(full, model, spend, horizon_months=s.horizon_months,
                                                 annual_discount_rate=s.annual_discount_rate,
                                                 resolution_weeks=resolution)
    holdout = s.holdout_days or min(365, span // 2)
    if s.calibration_end is not None:
        holdout = int((end - _day(s.calibration_end, "--calibration-end")).days)
    diagnostics = None
    cal = None
    if holdout >= 7 and span - holdout >= 7:
        cal_end = end - pd.Timedelta(days=holdout)
        cal = summary_data(sample_table, observation_end=end, calibration_end=cal_end, **kw)
        cal_model = clv_pipeline.fit_transaction_model(cal, model=s.model)
        diagnostics = clv_pipeline.holdout_diagnostics(cal, cal_model, resolution_weeks=resolution)
        diagnostics.attrs["calibration_end"] = cal_end.date().isoformat()
        diagnostics.attrs["holdout_days"] = holdout
    else:
        notes.append("holdout diagnostics skipped: less than two weeks of history on either side")
    comparison = clv_pipeline.compare_models(full, cal_summary=cal, seed=s.seed)
    if len(full) > 100_000:
        notes.append("transaction and spend models fitted on a random sample of 100,000 customers")
    if len(full) > 10_000:
        notes.append("model comparison fitted on a random sample of 10,000 customers")
    return clv_pipeline.ClvResult(model_name=clv_pipeline.MODEL_NAMES[s.model], params=model.params_,
                                  log_likelihood=float(model.log_likelihood_),
                                  spend_params=None if spend is None else spend.params_, predictions=predictions,
                                  diagnostics=diagnostics, comparison=comparison, calibration=cal)


def _summary_from_features(f: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The summary columns RFM scoring and model fitting need, from churn features as of `as_of` (days)."""
    return pd.DataFrame({"customer_id": f["customer_id"].to_numpy(),
                         "frequency": f["frequency"].to_numpy() - 1,
                         "recency": (f["tenure_days"] - f["recency_days"]).to_numpy(dtype="float64"),
                         "T": f["tenure_days"].to_numpy(dtype="float64"),
                         "last_purchase": as_of - pd.to_timedelta(f["recency_days"].to_numpy(), unit="D"),
                         "purchase_days": f["frequency"].to_numpy(),
                         "net_revenue": f["monetary"].to_numpy(dtype="float64")})


def _rank_models(valid_summary: pd.DataFrame, v: ChurnValidation, s: AnalysisSettings,
                 metrics: dict[str, Any]) -> dict[str, Any]:
    """Rank the validation customers by the probabilistic model too and compare on the same labels."""
    model = clv_pipeline.fit_transaction_model(valid_summary, model=s.model)
    feats, labels = v.comparison["valid_features"], v.comparison["valid_labels"]
    aligned = feats[["customer_id"]]
    days = s.churn_horizon_days
    expected = np.asarray(model.expected_purchases(
        days / clv_pipeline.TIME_UNIT_DAYS, valid_summary["frequency"].to_numpy(dtype="float64"),
        valid_summary["recency"].to_numpy(dtype="float64") / clv_pipeline.TIME_UNIT_DAYS,
        valid_summary["T"].to_numpy(dtype="float64") / clv_pipeline.TIME_UNIT_DAYS))
    exp_map = pd.Series(expected, index=valid_summary["customer_id"].to_numpy())
    score = -exp_map.reindex(aligned["customer_id"].to_numpy()).to_numpy()
    prob = evaluate_ranking(labels, np.nan_to_num(score, nan=0.0))
    prob.pop("calibration", None)
    prob.pop("brier", None)
    sup = {k: metrics.get(k) for k in ("auc", "precision_at_k", "k")}
    better = "supervised" if (sup["auc"] or 0) >= prob["auc"] else "probabilistic"
    return {"probabilistic": {"model": clv_pipeline.MODEL_NAMES[s.model], "score": "expected purchases in horizon "
                              "(fewer = riskier)", **prob}, "supervised": sup, "better_by_auc": better}


def _kpis(full: pd.DataFrame, current: pd.DataFrame, risk: pd.DataFrame, retention: dict[str, pd.DataFrame],
          end: pd.Timestamp, span: int, source: str, clv: clv_pipeline.ClvResult | None,
          notes: list[str]) -> dict[str, Any]:
    active_365 = int((current["purchases_last_365"] > 0).sum())
    active_90 = int((current["purchases_last_90"] > 0).sum())
    lost = int(((current["purchases_prev_365"] > 0) & (current["purchases_last_365"] == 0)).sum())
    avg_yearly = float(current.loc[current["purchases_last_365"] > 0, "revenue_last_365"].mean()) if active_365 else 0.0
    if span < 730:
        notes.append("less than two years of history: customers lost and the annual cost of churn cover a "
                     "partial prior year")
    kpis: dict[str, Any] = {
        "customers": int(len(full)),
        "transactions": int(full["transactions"].sum() + full["returns"].sum()),
        "revenue": float(full["revenue"].sum()),
        "returns_value": float(-full["return_value"].sum()),
        "net_revenue": float(full["net_revenue"].sum()),
        "active_customers_365d": active_365,
        "active_customers_90d": active_90,
        "repeat_purchase_rate": float((full["purchase_days"] >= 2).mean()),
        "historical_clv_mean": float(full["net_revenue"].mean()),
        "average_yearly_value": avg_yearly,
        "customers_lost_last_year": lost,
        "annual_cost_of_churn": lost * avg_yearly,
        "revenue_at_risk": float(np.nansum(risk["value_at_risk"].to_numpy())),
        "churn_probability_source": source,
    }
    for period, df in retention.items():
        done = df[df["complete"] & df["retention_rate"].notna()]
        if len(done):
            kpis[f"retention_rate_last_{period}"] = float(done["retention_rate"].iloc[-1])
            kpis[f"churn_rate_last_{period}"] = float(done["churn_rate"].iloc[-1])
    if clv is not None and "clv" in clv.predictions:
        kpis["predictive_clv_mean"] = float(clv.predictions["clv"].mean())
        kpis["predictive_clv_total"] = float(clv.predictions["clv"].sum())
        kpis["expected_purchases_365d_total"] = float(clv.predictions["expected_purchases_365d"].sum())
    if clv is not None:
        kpis["p_alive_mean"] = float(clv.predictions["p_alive"].mean())
    return kpis


def _order_kpis(table: ibis.Table, end: pd.Timestamp, kw: dict[str, Any], order_col: str | None,
                quantity_col: str | None) -> dict[str, Any]:
    """Orders and basket size when the input has an order id (a file with one row per order line
    counts each order once) and/or a quantity column; purchases only, up to the observation end."""
    if order_col is None and quantity_col is None:
        return {}
    for col in (order_col, quantity_col):
        if col is not None and col not in table.columns:
            raise AnalyticsInputError(f"column {col!r} not in table (columns: {', '.join(table.columns)})",
                                      column=col)
    t = table.mutate(_day=day_expr(table, kw["date_col"]))
    t = t.filter((t._day <= to_day_number(end)) & (t[kw["value_col"]] >= 0))
    aggs: dict[str, Any] = {"rows": t.count(), "revenue": t[kw["value_col"]].sum()}
    if order_col:
        aggs["orders"] = t[order_col].nunique()
    if quantity_col:
        aggs["items"] = t[quantity_col].cast("float64").sum()
    row = t.aggregate(**aggs).execute().iloc[0]
    out: dict[str, Any] = {}
    per = float(row["orders"]) if order_col else float(row["rows"])
    if order_col:
        out["orders"] = int(row["orders"])
        out["average_order_value"] = float(row["revenue"]) / per if per else None
        out["lines_per_order"] = float(row["rows"]) / per if per else None
    if quantity_col:
        out["items"] = float(row["items"] or 0.0)
        out["items_per_order" if order_col else "items_per_purchase_row"] = float(row["items"] or 0.0) / per if per \
            else None
    return out


def _dated_enrolments(table: ibis.Table, customer_col: str, member_col: str | None, date_col: str,
                      customers: pd.DataFrame | None, events: pd.DataFrame | None) -> pd.DataFrame | None:
    """`enrolled` side-table rows from a member flag carried on each transaction: the day of the
    customer's first flagged row. Why: "is a member" taken as of the file's end would tell the
    training cut about enrolments that happened after it (members are the ones who kept buying).
    Customers with their own `enrolled` rows in the events file keep those; a customers-file flag
    is a snapshot and is not dated here."""
    if customers is not None and "is_member" in customers:
        return None
    col = member_col or ("is_member" if "is_member" in table.columns else None)
    if col is None or col not in table.columns:
        return None
    flagged = table.filter(table[col].cast("int64") > 0)
    first = flagged.group_by(flagged[customer_col].name("customer_id")).aggregate(
        occurred_at=flagged[date_col].min()).execute()
    if events is not None and not events.empty and "kind" in events:
        own = set(events.loc[events["kind"].astype(str).str.lower() == "enrolled", "customer_id"].astype(str))
        first = first[~first["customer_id"].astype(str).isin(own)]
    return first.assign(kind="enrolled", value=1.0)[["customer_id", "occurred_at", "kind", "value"]]


def _member_flags(table: ibis.Table, customer_col: str, member_col: str | None,
                  customers: pd.DataFrame | None) -> pd.DataFrame | None:
    if customers is not None and "is_member" in customers:
        return customers[["customer_id"]].assign(is_member=customers["is_member"].astype(bool))
    col = member_col or ("is_member" if "is_member" in table.columns else None)
    if col is None or col not in table.columns:
        return None
    g = table.group_by(table[customer_col].name("customer_id")).aggregate(
        is_member=table[col].cast("int64").max())
    df = g.execute()
    df["is_member"] = df["is_member"].fillna(0).astype(bool)
    return df


def _members(c: pd.DataFrame) -> pd.DataFrame:
    c = c.assign(group=np.where(c["is_member"].fillna(False).astype(bool), "members", "non-members"))
    agg: dict[str, tuple[str, str]] = {"customers": ("customer_id", "size"),
                                       "net_revenue_mean": ("net_revenue", "mean"),
                                       "purchase_days_mean": ("purchase_days", "mean"),
                                       "revenue_last_365_mean": ("revenue_last_365", "mean")}
    for col in ("p_alive", "clv", "churn_probability"):
        if col in c:
            agg[f"{col}_mean"] = (col, "mean")
    g = c.groupby("group").agg(**agg)
    g["repeat_purchase_rate"] = c.groupby("group")["purchase_days"].apply(lambda s: float((s >= 2).mean()))
    g["share"] = g["customers"] / g["customers"].sum()
    return g.reset_index()


def write_outputs(analysis: Analysis, out_dir: str | Path, *, charts: bool = True) -> dict[str, Path]:
    """Write report.html, customers.csv, customers.parquet and summary.json into `out_dir`, and
    calibration_summary.csv (the model-fit calibration summary, recency/T in weeks) when computed."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from loyalist.analytics.report import render_report
    from loyalist.analytics.spreadsheet import neutralise

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = analysis.customers.copy()
    frame["customer_id"] = frame["customer_id"].astype(str)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    paths = {"csv": out / "customers.csv", "parquet": out / "customers.parquet", "json": out / "summary.json",
             "html": out / "report.html"}
    pq.write_table(table, paths["parquet"])
    # the CSV is for spreadsheets: text cells that would run as formulas get a leading apostrophe
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or str(safe[column].dtype).startswith(("string", "str")):
            safe[column] = safe[column].map(neutralise)
    pacsv.write_csv(pa.Table.from_pandas(safe, preserve_index=False), paths["csv"])
    paths["json"].write_text(json.dumps(analysis.summary_json(), indent=2), encoding="utf-8")
    if analysis.clv is not None and analysis.clv.calibration is not None:
        cal = analysis.clv.calibration
        weeks = clv_pipeline.TIME_UNIT_DAYS
        cal_out = pd.DataFrame({"customer_id": cal["customer_id"].astype(str), "frequency": cal["frequency"],
                                "recency_weeks": cal["recency"] / weeks, "T_weeks": cal["T"] / weeks,
                                "monetary_value": cal["monetary_value"],
                                "frequency_holdout": cal["frequency_holdout"],
                                "duration_holdout_weeks": cal["duration_holdout"] / weeks})
        paths["calibration"] = out / "calibration_summary.csv"
        pacsv.write_csv(pa.Table.from_pandas(cal_out, preserve_index=False), paths["calibration"])
    paths["html"].write_text(render_report(analysis, draw=charts), encoding="utf-8")
    return paths
