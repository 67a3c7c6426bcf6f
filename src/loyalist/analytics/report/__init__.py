"""The self-contained HTML report (Jinja2 template, charts embedded as data URIs, no CDN)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jinja2

from loyalist.analytics.report import charts

if TYPE_CHECKING:
    from loyalist.analytics.pipeline import Analysis

__all__ = ["render_report"]

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("loyalist.analytics.report", "templates"),
                          autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if v != v:  # NaN
        return "–"
    return f"{v:,.{digits}f}"


def _pct(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    v = float(value)
    return "–" if v != v else f"{100 * v:.{digits}f}%"


_ENV.filters["num"] = _num
_ENV.filters["pct"] = _pct


def render_report(analysis: Analysis, *, draw: bool = True) -> str:
    """HTML text of the report; `draw=False` skips the charts (faster, for tests of the numbers)."""
    from loyalist.analytics.pipeline import DEFINITIONS

    images: dict[str, str | None] = {}
    if draw:
        images = {
            "active": charts.active_customers(analysis.retention["month"]),
            "retention": charts.retention_lines(analysis.retention),
            "heatmap": charts.cohort_heatmap(analysis.cohort_matrix),
            "curves": charts.cohort_curves(analysis.cohort_matrix),
            "segments": charts.segments_bar(analysis.rfm_segments),
            "holdout": charts.holdout_calibration(analysis.clv.diagnostics if analysis.clv else None),
            "churn_cal": charts.churn_calibration((analysis.churn_metrics or {}).get("calibration")),
            "nps": charts.nps_trend(analysis.nps_trend),
        }
    template = _ENV.get_template("report.html")
    cm = analysis.cohort_matrix
    return template.render(a=analysis, k=analysis.kpis, img=images, defs=DEFINITIONS,
                           cohort_rows=cm.iloc[-24:, :13] if not cm.empty else cm)
