"""Charts for the report, drawn with matplotlib (Agg) and embedded as base64 PNG data URIs.

Why PNG data URIs: the report must open offline, from a single file, in any browser; no CDN, no
JavaScript. Each function returns a `data:image/png;base64,...` string or None when there is
nothing to draw.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["active_customers", "retention_lines", "cohort_heatmap", "cohort_curves", "segments_bar",
           "holdout_calibration", "churn_calibration", "nps_trend"]

PALETTE = ["#1f6f8b", "#e07a5f", "#3d405b", "#81b29a", "#f2cc8f", "#99582a"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _encode(fig: Any) -> str:
    plt = _plt()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def active_customers(monthly: pd.DataFrame) -> str | None:
    if monthly.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3))
    x = np.arange(len(monthly))
    ax.bar(x, monthly["active_customers"], color=PALETTE[0], label="active")
    ax.bar(x, monthly["new_customers"], color=PALETTE[1], label="new", alpha=0.8)
    step = max(1, len(x) // 12)
    ax.set_xticks(x[::step], monthly["period"].iloc[::step], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("customers")
    ax.legend(frameon=False)
    ax.set_title("Active and new customers per month")
    return _encode(fig)


def retention_lines(retention: dict[str, pd.DataFrame]) -> str | None:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    drawn = False
    for ax, (period, df) in zip(axes, retention.items(), strict=False):
        d = df[df["retention_rate"].notna()]
        if d.empty:
            ax.set_axis_off()
            continue
        drawn = True
        x = np.arange(len(d))
        ax.plot(x, 100 * d["retention_rate"], marker="o", color=PALETTE[0], label="retention")
        ax.plot(x, 100 * d["churn_rate"], marker="o", color=PALETTE[1], label="churn")
        incomplete = ~d["complete"].to_numpy()
        if incomplete.any():
            ax.scatter(x[incomplete], 100 * d["retention_rate"].to_numpy()[incomplete], s=80, facecolors="none",
                       edgecolors="k", label="partial period")
        step = max(1, len(x) // 6)
        ax.set_xticks(x[::step], d["period"].iloc[::step], rotation=45, ha="right", fontsize=7)
        ax.set_ylim(0, 100)
        ax.set_title(f"per {period} (%)")
    axes[0].legend(frameon=False, fontsize=7)
    if not drawn:
        plt.close(fig)
        return None
    return _encode(fig)


def cohort_heatmap(matrix: pd.DataFrame, max_cohorts: int = 36, max_months: int = 24) -> str | None:
    if matrix.empty:
        return None
    plt = _plt()
    m = matrix.iloc[-max_cohorts:, : max_months + 1]
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.22 * len(m) + 1)))
    data = 100 * m.to_numpy(dtype="float64")
    shown = np.where(np.isnan(data), np.nan, np.minimum(data, 60))
    im = ax.imshow(shown, aspect="auto", cmap="Blues", vmin=0, vmax=60)
    ax.set_yticks(range(len(m)), m.index, fontsize=7)
    ax.set_xticks(range(m.shape[1]), m.columns, fontsize=7)
    ax.set_xlabel("months since first purchase")
    fig.colorbar(im, ax=ax, label="% buying (max 60)")
    ax.set_title("Cohort retention by first-purchase month")
    return _encode(fig)


def cohort_curves(matrix: pd.DataFrame, max_curves: int = 8) -> str | None:
    if matrix.empty or matrix.shape[1] < 2:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3))
    step = max(1, len(matrix) // max_curves)
    for i, (cohort, row) in enumerate(matrix.iloc[::step].iterrows()):
        vals = row.iloc[1:].dropna()
        ax.plot(vals.index, 100 * vals.to_numpy(), label=cohort, color=PALETTE[i % len(PALETTE)], alpha=0.85)
    ax.set_xlabel("months since first purchase")
    ax.set_ylabel("% buying")
    ax.legend(frameon=False, fontsize=7, ncol=2)
    ax.set_title("Retention curves (selected cohorts, month 0 omitted)")
    return _encode(fig)


def segments_bar(segments: pd.DataFrame) -> str | None:
    if segments.empty:
        return None
    plt = _plt()
    fig, ax1 = plt.subplots(figsize=(9, 3.2))
    x = np.arange(len(segments))
    ax1.bar(x - 0.2, 100 * segments["share"], width=0.4, color=PALETTE[0], label="% customers")
    ax1.bar(x + 0.2, 100 * segments["revenue_share"], width=0.4, color=PALETTE[1], label="% revenue")
    ax1.set_xticks(x, segments["segment"], rotation=30, ha="right", fontsize=8)
    ax1.legend(frameon=False)
    ax1.set_title("RFM segments: share of customers and of revenue")
    return _encode(fig)


def holdout_calibration(diag: pd.DataFrame | None) -> str | None:
    if diag is None or diag.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3))
    x = np.arange(len(diag))
    ax.plot(x, diag["actual"], marker="o", color=PALETTE[2], label="actual")
    ax.plot(x, diag["predicted"], marker="s", linestyle="--", color=PALETTE[1], label="model")
    ax.set_xticks(x, diag["frequency_bucket"])
    ax.set_xlabel("repeat purchases in calibration period")
    ax.set_ylabel("mean purchases in holdout")
    ax.legend(frameon=False)
    ax.set_title("Calibration vs holdout")
    return _encode(fig)


def churn_calibration(calibration: list[dict[str, Any]] | None) -> str | None:
    if not calibration:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    pred = [c["predicted"] for c in calibration]
    obs = [c["observed"] for c in calibration]
    ax.plot([0, 1], [0, 1], color="#999", linestyle=":")
    ax.plot(pred, obs, marker="o", color=PALETTE[0])
    ax.set_xlabel("predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title("Churn model calibration (holdout)")
    return _encode(fig)


def nps_trend(trend: pd.DataFrame | None) -> str | None:
    if trend is None or trend.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3))
    x = np.arange(len(trend))
    ax.plot(x, trend["nps"], marker="o", color=PALETTE[3])
    ax.axhline(0, color="#999", linewidth=0.8)
    step = max(1, len(x) // 12)
    ax.set_xticks(x[::step], trend["period"].iloc[::step], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("NPS")
    ax.set_title("NPS per month")
    return _encode(fig)
