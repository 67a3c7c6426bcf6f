"""Net Promoter Score from 0-10 answers: promoters 9-10, passives 7-8, detractors 0-6.

NPS = % promoters - % detractors, from -100 to +100. When a customer answered several times in
a period, every answer counts (it is a score of answers, as usually reported).
"""

from __future__ import annotations

import pandas as pd

from loyalist.analytics.errors import AnalyticsInputError

__all__ = ["nps_category", "nps_summary", "nps_trend", "latest_score"]


def nps_category(scores: pd.Series) -> pd.Series:
    """'promoter' / 'passive' / 'detractor' per answer."""
    s = pd.to_numeric(scores)
    if ((s < 0) | (s > 10)).any():
        raise AnalyticsInputError("NPS scores must be between 0 and 10")
    return pd.Series(pd.cut(s, [-1, 6, 8, 10], labels=["detractor", "passive", "promoter"]).astype(str),
                     index=scores.index)


def nps_summary(feedback: pd.DataFrame, *, score_col: str = "score") -> dict[str, float | int]:
    """responses, promoters, passives, detractors (counts) and nps (-100..100)."""
    if feedback.empty:
        raise AnalyticsInputError("no feedback answers")
    cat = nps_category(feedback[score_col])
    n = len(cat)
    p, d = int((cat == "promoter").sum()), int((cat == "detractor").sum())
    return {"responses": n, "promoters": p, "passives": n - p - d, "detractors": d,
            "nps": round(100.0 * (p - d) / n, 1)}


def nps_trend(feedback: pd.DataFrame, *, date_col: str = "answered_at", score_col: str = "score",
              period: str = "month") -> pd.DataFrame:
    """Per period (YYYY-MM / YYYY-Qn / YYYY): responses, promoters, passives, detractors, nps."""
    freq = {"month": "M", "quarter": "Q", "year": "Y"}.get(period)
    if freq is None:
        raise AnalyticsInputError(f"unknown period {period!r}")
    frame = feedback.assign(_cat=nps_category(feedback[score_col]),
                            _p=pd.to_datetime(feedback[date_col]).dt.to_period(freq).astype(str))
    g = frame.groupby("_p")["_cat"].value_counts().unstack(fill_value=0)
    for c in ("promoter", "passive", "detractor"):
        if c not in g.columns:
            g[c] = 0
    out = pd.DataFrame({"period": g.index, "promoters": g["promoter"].to_numpy(), "passives": g["passive"].to_numpy(),
                        "detractors": g["detractor"].to_numpy()})
    out["responses"] = out["promoters"] + out["passives"] + out["detractors"]
    out["nps"] = (100.0 * (out["promoters"] - out["detractors"]) / out["responses"]).round(1)
    return out


def latest_score(feedback: pd.DataFrame, *, as_of: pd.Timestamp, date_col: str = "answered_at",
                 score_col: str = "score") -> pd.DataFrame:
    """Each customer's last score answered on or before `as_of`: customer_id, nps_score."""
    f = feedback[pd.to_datetime(feedback[date_col]) <= as_of]
    f = f.sort_values(date_col).groupby("customer_id", as_index=False).last()
    return f[["customer_id", score_col]].rename(columns={score_col: "nps_score"})
