"""Supervised churn model on time-split features, validated on a later period, with reasons.

Why time splits: a churn model is used on today's customers to predict the next months, so it is
trained exactly like that in the past. With horizon H (days) and observation end E:
- training:   features as of E - 2H, label = no purchase in (E - 2H, E - H];
- validation: features as of E - H,  label = no purchase in (E - H, E]  (a later, unseen period);
- scoring:    the model is refitted on the validation window and applied to features as of E.
Features are per customer and only use data up to their as-of date (no leakage): RFM, tenure,
trend (purchase days in the last 90 days minus the 90 before), returns, and - when given - the
*dated side table* (see `side_features`): points balance, complaints in the last year, the last
NPS score, member flag and engagement, each recomputed as of every cut from dated rows.

Static attributes (`customers`) are merged as they are at every cut, so they must not change over
time: a snapshot exported today (points balance, complaints to date) would tell the training cut
what happened after it. `static_attributes` keeps the columns declared static and names the rest,
which the pipeline leaves out of the model with a note; dated rows are the leak-free way in.

Reasons: for a customer, each feature's contribution is how much the predicted churn probability
drops when that feature alone is set to the population median; the largest contributions are
the reasons shown, with the customer's value next to the typical one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from loyalist.analytics.errors import AnalyticsInputError
from loyalist.analytics.summary import day_expr, to_day_number, validate_table

__all__ = ["FEATURE_LABELS", "SIDE_FEATURES", "reasons_text", "churn_features", "churn_labels", "ChurnModel",
           "evaluate_ranking", "ChurnValidation", "validate_churn_model", "normalise_events", "side_features",
           "static_attributes", "feedback_from_events"]

FEATURE_LABELS = {
    "recency_days": "days since last purchase",
    "frequency": "purchase days",
    "monetary": "net revenue",
    "avg_value": "average purchase value",
    "tenure_days": "days since first purchase",
    "purchases_last_90": "purchase days in the last 90 days",
    "trend_90": "change in purchase days (last 90 vs previous 90)",
    "purchases_last_365": "purchase days in the last year",
    "returns": "returns",
    "return_value": "value returned",
    "nps_score": "last NPS score",
    "is_member": "member",
    "points_balance": "points balance",
    "complaints_365": "complaints in the last year",
    "engagement_90": "interactions in the last 90 days",
}

# kind of a dated side-table row -> (feature column, how a cut combines the rows up to it, window
# in days before the cut or None for all history). "sum": sum of `value`; "last": the value of
# the latest row (ties: the later row of the input); "any": 1 when any row, else 0.
SIDE_FEATURES: dict[str, tuple[str, str, int | None]] = {
    "points": ("points_balance", "sum", None),
    "complaint": ("complaints_365", "sum", 365),
    "nps": ("nps_score", "last", None),
    "enrolled": ("is_member", "any", None),
    "engagement": ("engagement_90", "sum", 90),
}
_SIDE_COLUMNS = ("customer_id", "occurred_at", "kind", "value")


def normalise_events(events: pd.DataFrame) -> pd.DataFrame:
    """Check a dated side table and return customer_id, occurred_at (naive UTC), kind, value
    (float64) and _day (UTC day number), in input order.

    Why dated rows instead of per-customer totals: every cut (training, validation, today) sums
    only the rows on or before its own day, so nothing recorded later reaches an earlier cut.
    Raises AnalyticsInputError naming the column (and kind) that is missing or unreadable."""
    missing = [c for c in _SIDE_COLUMNS if c not in events.columns]
    if missing:
        raise AnalyticsInputError(f"events: missing column(s) {', '.join(missing)} (columns: "
                                  f"{', '.join(map(str, events.columns))})", column=missing[0])
    kinds = events["kind"].astype(str)
    unknown = sorted(set(kinds.unique()) - set(SIDE_FEATURES))
    if unknown:
        raise AnalyticsInputError(f"events: unknown kind(s) {', '.join(unknown)}; known: {', '.join(SIDE_FEATURES)}",
                                  column="kind")
    raw = events["occurred_at"]
    if pd.api.types.is_datetime64_any_dtype(raw):
        when = pd.to_datetime(raw, utc=True)  # naive = UTC
    else:  # text: each value on its own (ISO with or without offset)
        when = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
    if when.isna().any():
        raise AnalyticsInputError(f"events: {int(when.isna().sum())} occurred_at value(s) are not times",
                                  column="occurred_at")
    value = pd.to_numeric(events["value"], errors="coerce")
    if value.isna().any() or not np.isfinite(value.to_numpy(dtype="float64")).all():
        bad = kinds[value.isna().to_numpy() | ~np.isfinite(value.fillna(0).to_numpy(dtype="float64"))]
        raise AnalyticsInputError(f"events: {len(bad)} value(s) are not numbers (kinds: "
                                  f"{', '.join(sorted(set(bad)))})", column="value")
    naive = when.dt.tz_localize(None).astype("datetime64[us]")
    if events["customer_id"].isna().any():
        raise AnalyticsInputError("events: customer_id is empty in some rows", column="customer_id")
    return pd.DataFrame({"customer_id": events["customer_id"].to_numpy(), "occurred_at": naive.to_numpy(),
                         "kind": kinds.to_numpy(), "value": value.to_numpy(dtype="float64"),
                         "_day": naive.to_numpy().astype("datetime64[D]").astype("int64")})


def side_features(events: pd.DataFrame, *, as_of: dt.date | str | pd.Timestamp) -> pd.DataFrame:
    """Per customer with rows on or before `as_of` (day, inclusive): one column per kind present
    anywhere in `events` (see SIDE_FEATURES), computed from the rows up to that day only.

    Returns _key (customer id as text) and the feature columns; customers without rows of a
    kind get 0 for "sum"/"any" kinds and NaN for "last" (no NPS answer is not a score of 0)."""
    ev = events if "_day" in events.columns else normalise_events(events)
    end = to_day_number(as_of)
    present = [k for k in SIDE_FEATURES if (ev["kind"] == k).any()]
    upto = ev[ev["_day"].to_numpy() <= end]
    # group on the ids as given; only the unique ids are turned into text keys (1M rows: ~10x faster)
    ids = pd.Index(upto["customer_id"].unique())
    out = pd.DataFrame(index=ids)
    kinds = upto["kind"].to_numpy()
    for kind in present:
        column, rule, window = SIDE_FEATURES[kind]
        rows = upto[kinds == kind]
        if window is not None:
            rows = rows[rows["_day"].to_numpy() > end - window]
        if rule == "sum":
            # integer-valued kinds (points, counts) sum exactly; round away float noise anyway
            col = rows.groupby("customer_id")["value"].sum().round(6)
            out[column] = col.reindex(ids).fillna(0.0).to_numpy(dtype="float64")
        elif rule == "any":
            out[column] = ids.isin(rows["customer_id"].unique()).astype("float64")
        else:  # last: order by time, input order breaks ties (mergesort is stable)
            col = rows.sort_values("occurred_at", kind="mergesort").groupby("customer_id")["value"].last()
            out[column] = col.reindex(ids).to_numpy(dtype="float64")
    out.insert(0, "_key", ids.astype(str))
    return out.reset_index(drop=True)


def feedback_from_events(events: pd.DataFrame | None) -> pd.DataFrame | None:
    """The NPS answers of a side table as a feedback frame (customer_id, answered_at, score), for
    the report's NPS section; None when there are none."""
    if events is None or events.empty:
        return None
    ev = events if "_day" in events.columns else normalise_events(events)
    nps = ev[ev["kind"] == "nps"]
    if nps.empty:
        return None
    return pd.DataFrame({"customer_id": nps["customer_id"].to_numpy(), "answered_at": nps["occurred_at"].to_numpy(),
                         "score": nps["value"].round().astype("int64").to_numpy()})


def static_attributes(customers: pd.DataFrame | None,
                      static_columns: list[str] | tuple[str, ...] | None) -> tuple[pd.DataFrame | None, list[str]]:
    """Split a customers snapshot into the columns declared static (kept for the model) and the
    names of the other feature columns (left out: their values are as of the export, later than
    the training cut). Raises AnalyticsInputError naming a declared column that does not exist."""
    if customers is None or customers.empty:
        return None, []
    wanted = list(static_columns or [])
    unknown = [c for c in wanted if c not in customers.columns]
    if unknown:
        raise AnalyticsInputError(f"--static-columns: {', '.join(unknown)} not in the customers file (columns: "
                                  f"{', '.join(c for c in customers.columns if c != 'customer_id')})",
                                  column=unknown[0])
    excluded = [c for c in customers.columns if c != "customer_id" and c not in wanted]
    if not wanted:
        return None, excluded
    return customers[["customer_id", *wanted]], excluded


def _cents(values: np.ndarray) -> np.ndarray:
    """Money sums without float noise (see summary.denoise_money)."""
    from loyalist.analytics.summary import denoise_money

    return denoise_money(values)


def churn_features(
    table: ibis.Table,
    *,
    customer_col: str = "customer_id",
    date_col: str = "occurred_at",
    value_col: str = "amount",
    as_of: dt.date | str | pd.Timestamp,
    customers: pd.DataFrame | None = None,
    feedback: pd.DataFrame | None = None,
    before_days: int | None = None,
    events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per customer whose first purchase is on or before `as_of` (inclusive).

    `events` is the dated side table (customer_id, occurred_at, kind, value; see SIDE_FEATURES):
    its features are computed from the rows up to `as_of` only. `feedback` answers (customer_id,
    answered_at, score) are treated as rows of kind "nps". `customers` holds static attributes,
    merged unchanged (a column already computed from `events` wins).

    With `before_days`, the same pass also returns each customer's history as of that many days
    earlier (for RFM movement): before_recency_days (NaN without purchases then),
    before_frequency (purchase days), before_monetary (net revenue).

    Columns: customer_id, recency_days, frequency (purchase days), monetary (net revenue incl.
    returns, currency), avg_value, tenure_days, purchases_last_90, purchases_prev_90, trend_90,
    purchases_last_365, purchases_prev_365, revenue_last_365, returns (count), return_value
    (positive currency), plus nps_score and the customers file's columns when given.
    """
    validate_table(table, customer_col=customer_col, date_col=date_col, value_col=value_col)
    end = to_day_number(as_of)
    t = table.mutate(_day=day_expr(table, date_col))
    t = t.filter(t._day <= end)
    buys = t.filter(t[value_col] >= 0)
    daily = buys.group_by([buys[customer_col].name("customer_id"), buys._day.name("day")]).aggregate(
        value=buys[value_col].sum())
    d = daily.day

    def days_between(lo: int, hi: int) -> ibis.Value:
        return ((d > end - hi) & (d <= end - lo)).ifelse(1, 0).sum()

    per = daily.group_by("customer_id").aggregate(
        first_day=d.min(), last_day=d.max(), frequency=d.count(), revenue=daily.value.sum(),
        purchases_last_90=days_between(0, 90), purchases_prev_90=days_between(90, 180),
        purchases_last_365=days_between(0, 365), purchases_prev_365=days_between(365, 730),
        revenue_last_365=((d > end - 365).ifelse(daily.value, 0.0)).sum(),
    )
    rets = t.filter(t[value_col] < 0)
    ret_aggs = {"returns": rets[value_col].count(), "return_value": -rets[value_col].sum()}
    if before_days is not None:
        cut = end - before_days
        per = per.join(daily.group_by("customer_id").aggregate(
            before_last_day=d.max(where=d <= cut), before_frequency=d.count(where=d <= cut),
            before_revenue=daily.value.sum(where=d <= cut)), "customer_id")
        ret_aggs["before_return_value"] = -rets[value_col].sum(where=rets._day <= cut)
    rets = rets.group_by(rets[customer_col].name("customer_id")).aggregate(**ret_aggs)
    joined = per.left_join(rets, per.customer_id == rets.customer_id).select(
        *[per[c] for c in per.columns], *[rets[c] for c in ret_aggs])
    df = joined.execute()
    df["returns"] = df["returns"].fillna(0).astype("int64")
    df["return_value"] = df["return_value"].fillna(0.0).astype("float64")
    out = pd.DataFrame({
        "customer_id": df["customer_id"].to_numpy(),
        "recency_days": end - df["last_day"].to_numpy(dtype="int64"),
        "frequency": df["frequency"].to_numpy(dtype="int64"),
        # a parallel float sum may differ in its last bit from run to run; the features (and
        # the reasons shown to staff) must not
        "monetary": _cents(df["revenue"].to_numpy(dtype="float64") - df["return_value"].to_numpy()),
        "tenure_days": end - df["first_day"].to_numpy(dtype="int64"),
    })
    out["avg_value"] = np.round(_cents(df["revenue"].to_numpy(dtype="float64"))
                                / np.maximum(out["frequency"].to_numpy(), 1), 6)
    for c in ("purchases_last_90", "purchases_prev_90", "purchases_last_365", "purchases_prev_365"):
        out[c] = df[c].fillna(0).to_numpy(dtype="int64")
    out["trend_90"] = out["purchases_last_90"] - out["purchases_prev_90"]
    out["revenue_last_365"] = _cents(df["revenue_last_365"].fillna(0.0).to_numpy(dtype="float64"))
    out["returns"] = df["returns"].to_numpy()
    out["return_value"] = _cents(df["return_value"].to_numpy())
    if before_days is not None:
        bought_before = df["before_frequency"].fillna(0).to_numpy(dtype="int64")
        out["before_recency_days"] = np.where(bought_before > 0,
                                              end - before_days - df["before_last_day"].fillna(0).to_numpy(),
                                              np.nan)
        out["before_frequency"] = bought_before
        out["before_monetary"] = _cents(df["before_revenue"].fillna(0.0).to_numpy(dtype="float64")
                                        - df["before_return_value"].fillna(0.0).to_numpy(dtype="float64"))
    out["_key"] = out["customer_id"].astype(str)
    side = _side_table(events, feedback)
    if side is not None:
        extra_side = side_features(side, as_of=as_of)
        out = out.merge(extra_side, on="_key", how="left")
        for kind in SIDE_FEATURES:
            column, rule, _ = SIDE_FEATURES[kind]
            if column in out and rule != "last":
                out[column] = out[column].fillna(0.0)
    if customers is not None and not customers.empty:
        extra = customers.assign(_key=customers["customer_id"].astype(str)).drop(columns="customer_id")
        extra = extra.loc[:, [c for c in extra.columns if c not in out.columns or c == "_key"]]
        out = out.merge(extra, on="_key", how="left")
        if "is_member" in out:
            out["is_member"] = out["is_member"].astype("float64")
    return out.drop(columns="_key").sort_values("customer_id", kind="stable").reset_index(drop=True)


def _side_table(events: pd.DataFrame | None, feedback: pd.DataFrame | None) -> pd.DataFrame | None:
    parts = []
    if events is not None and not events.empty:
        parts.append(events if "_day" in events.columns else normalise_events(events))
    if feedback is not None and not feedback.empty:
        parts.append(normalise_events(pd.DataFrame({
            "customer_id": feedback["customer_id"].to_numpy(), "occurred_at": feedback["answered_at"].to_numpy(),
            "kind": "nps", "value": feedback["score"].to_numpy()})))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def churn_labels(table: ibis.Table, *, customer_col: str = "customer_id", date_col: str = "occurred_at",
                 value_col: str = "amount", as_of: dt.date | str | pd.Timestamp, horizon_days: int) -> pd.Series:
    """customer_id -> True when the customer made no purchase in (as_of, as_of + horizon_days]."""
    start = to_day_number(as_of)
    t = table.mutate(_day=day_expr(table, date_col))
    t = t.filter((t._day > start) & (t._day <= start + horizon_days) & (t[value_col] >= 0))
    buyers = t.select(customer_id=t[customer_col]).distinct().execute()["customer_id"]
    return pd.Series(True, index=pd.Index(buyers)).rename("bought")


def _feature_columns(frame: pd.DataFrame) -> list[str]:
    skip = {"customer_id", "purchases_prev_90", "purchases_prev_365", "revenue_last_365", "before_recency_days",
            "before_frequency", "before_monetary"}
    return [c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])]


def _one_thread() -> Any:
    """OpenMP with several threads is many times *slower* on small machines (measured: 3.5 s vs 0.45 s
    for 2,000 rows on 2 cores), so the model runs single-threaded."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


class ChurnModel:
    """Gradient-boosted churn classifier (scikit-learn HistGradientBoostingClassifier).

    `fit(features, churned)` with a features frame from `churn_features` and a boolean array;
    `predict_proba(features)` -> P(no purchase within the horizon); `reasons(features)` -> text.
    """

    def __init__(self, *, seed: int = 0, max_train_rows: int = 100_000, max_iter: int = 100,
                 learning_rate: float = 0.1) -> None:
        self.seed = seed
        self.max_train_rows = max_train_rows
        self.max_iter = max_iter
        self.learning_rate = learning_rate

    def fit(self, features: pd.DataFrame, churned: np.ndarray) -> ChurnModel:
        from sklearn.ensemble import HistGradientBoostingClassifier

        y = np.asarray(churned, dtype=bool)
        if y.size != len(features):
            raise AnalyticsInputError("features and labels differ in length")
        if y.all() or not y.any():
            raise AnalyticsInputError("the training period has only one class (everyone churned or nobody did)")
        self.features_ = _feature_columns(features)
        X = features[self.features_].to_numpy(dtype="float64")
        if X.shape[0] > self.max_train_rows:
            rng = np.random.default_rng(self.seed)
            pick = rng.choice(X.shape[0], self.max_train_rows, replace=False)
            X, y = X[pick], y[pick]
        self.model_ = HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=self.learning_rate,
                                                     early_stopping=False, random_state=self.seed)
        with _one_thread():
            self.model_.fit(X, y)
        self.medians_ = np.nanmedian(X, axis=0)
        self.base_rate_ = float(y.mean())
        return self

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        X = features[self.features_].to_numpy(dtype="float64")
        with _one_thread():
            return np.asarray(self.model_.predict_proba(X)[:, 1])

    def contributions(self, features: pd.DataFrame) -> np.ndarray:
        """(n, n_features) drop in churn probability when each feature is set to the median."""
        X = features[self.features_].to_numpy(dtype="float64")
        out = np.zeros(X.shape, dtype="float64")
        with _one_thread():
            base = self.model_.predict_proba(X)[:, 1]
            for j, med in enumerate(self.medians_):
                Xj = X.copy()
                Xj[:, j] = med
                out[:, j] = base - self.model_.predict_proba(Xj)[:, 1]
        return out

    def reason_details(self, features: pd.DataFrame, *, top: int = 3) -> list[list[dict[str, Any]]]:
        """Main drivers of each customer's churn score, largest first: feature, label, value,
        typical (population median), contribution (probability points it adds) and text."""
        if features.empty:
            return []
        contrib = self.contributions(features)
        X = features[self.features_].to_numpy(dtype="float64")
        order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
        out: list[list[dict[str, Any]]] = []
        for i in range(X.shape[0]):
            parts = []
            for j in order[i]:
                c = float(contrib[i, j])
                if c <= 0.005:
                    continue
                name = self.features_[j]
                label = FEATURE_LABELS.get(name, name.replace("_", " "))
                # 6 decimals are plenty for staff, and they hide last-bit float noise
                value, typical = _finite(X[i, j]), _finite(self.medians_[j])
                parts.append({"feature": name, "label": label, "value": value, "typical": typical,
                              "contribution": round(c, 4),
                              "text": f"{label}: {_fmt(value)} (typical {_fmt(typical)}, +{100 * c:.0f} pts)"})
            out.append(parts)
        return out

    def reasons(self, features: pd.DataFrame, *, top: int = 3) -> list[str]:
        """Human-readable main drivers of each customer's churn score, separated by '; '."""
        return [reasons_text(parts) for parts in self.reason_details(features, top=top)]


def reasons_text(parts: list[dict[str, Any]]) -> str:
    """One line from structured reasons (what the report and the CSV show)."""
    return "; ".join(p["text"] for p in parts) if parts else "no single driver; overall pattern"


def _finite(v: float) -> float | None:
    v = float(v)
    return None if not np.isfinite(v) else round(v, 6)


def _fmt(v: float | None) -> str:
    if v is None or np.isnan(v):
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.2f}"


def evaluate_ranking(churned: np.ndarray, score: np.ndarray, *, top_share: float = 0.1,
                     bins: int = 10) -> dict[str, Any]:
    """auc, precision_at_k (share churned among the top `top_share` scores), k, base_rate,
    brier (only meaningful for probabilities) and a calibration table (bins of predicted score)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    y = np.asarray(churned, dtype=bool)
    s = np.asarray(score, dtype="float64")
    k = max(1, int(round(top_share * y.size)))
    top = np.argsort(-s, kind="stable")[:k]
    result: dict[str, Any] = {
        "auc": float(roc_auc_score(y, s)) if 0 < y.sum() < y.size else float("nan"),
        "precision_at_k": float(y[top].mean()), "k": k, "base_rate": float(y.mean()), "n": int(y.size),
    }
    if s.min() >= 0 and s.max() <= 1:
        result["brier"] = float(brier_score_loss(y, s))
        edges = np.linspace(0, 1, bins + 1)
        which = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
        cal = []
        for b in range(bins):
            m = which == b
            if m.any():
                cal.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "customers": int(m.sum()),
                            "predicted": float(s[m].mean()), "observed": float(y[m].mean())})
        result["calibration"] = cal
    return result


@dataclass
class ChurnValidation:
    """Outcome of the time-split validation and the scores for today."""

    horizon_days: int
    train_as_of: pd.Timestamp
    valid_as_of: pd.Timestamp
    metrics: dict[str, Any]
    scores: pd.DataFrame  # customer_id, churn_probability (as of the observation end)
    model: ChurnModel
    features: pd.DataFrame  # as of the observation end
    comparison: dict[str, Any] = field(default_factory=dict)


def validate_churn_model(
    table: ibis.Table,
    *,
    customer_col: str = "customer_id",
    date_col: str = "occurred_at",
    value_col: str = "amount",
    observation_end: dt.date | str | pd.Timestamp,
    horizon_days: int = 90,
    customers: pd.DataFrame | None = None,
    feedback: pd.DataFrame | None = None,
    seed: int = 0,
    first_date: pd.Timestamp | None = None,
    current_features: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> ChurnValidation:
    """Train on E-2H, validate on E-H (see module doc), refit on E-H and score at E.

    `events` (dated side table) features are recomputed as of each of the three cuts;
    `customers` must hold static attributes only (see `static_attributes`)."""
    end = pd.Timestamp(observation_end).normalize()
    train_at, valid_at = end - pd.Timedelta(days=2 * horizon_days), end - pd.Timedelta(days=horizon_days)
    if first_date is not None and train_at <= pd.Timestamp(first_date).normalize() + pd.Timedelta(days=30):
        raise AnalyticsInputError(
            f"not enough history for a {horizon_days}-day churn model: need data from before "
            f"{(train_at - pd.Timedelta(days=30)).date()}")
    kw: dict[str, Any] = {"customer_col": customer_col, "date_col": date_col, "value_col": value_col}
    if events is not None and not events.empty and "_day" not in events.columns:
        events = normalise_events(events)  # once for the three cuts

    def labelled(as_of: pd.Timestamp) -> tuple[pd.DataFrame, np.ndarray]:
        f = churn_features(table, as_of=as_of, customers=customers, feedback=feedback, events=events, **kw)
        bought = churn_labels(table, as_of=as_of, horizon_days=horizon_days, **kw)
        y = ~f["customer_id"].isin(bought.index).to_numpy()
        return f, y

    f_train, y_train = labelled(train_at)
    f_valid, y_valid = labelled(valid_at)
    model = ChurnModel(seed=seed).fit(f_train, y_train)
    p_valid = model.predict_proba(f_valid)
    metrics = evaluate_ranking(y_valid, p_valid)
    final = ChurnModel(seed=seed).fit(f_valid, y_valid)
    current = current_features if current_features is not None else churn_features(
        table, as_of=end, customers=customers, feedback=feedback, events=events, **kw)
    scores = pd.DataFrame({"customer_id": current["customer_id"].to_numpy(),
                           "churn_probability": final.predict_proba(current)})
    validation = ChurnValidation(horizon_days=horizon_days, train_as_of=train_at, valid_as_of=valid_at,
                                 metrics=metrics, scores=scores, model=final, features=current)
    validation.comparison["valid_features"] = f_valid
    validation.comparison["valid_labels"] = y_valid
    return validation
