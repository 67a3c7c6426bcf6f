"""Dashboard: KPIs and charts over the whole customer base (cached, see `loyalist.web.metrics`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from loyalist.staff.sessions import ConsoleSession
from loyalist.web import charts, metrics
from loyalist.web.auth import DbDep, needs, root_state
from loyalist.web.templating import render

router = APIRouter()


@router.get("/")
def dashboard(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("analytics:read"))],
              refresh: bool = False) -> Response:
    state = root_state(request)
    d = metrics.dashboard(db, cache_key=str(state.engine.url), point_value=state.settings.point_value,
                          refresh=refresh)
    figures = {}
    if d.retention:
        labels = [r["period"] for r in d.retention]
        figures["retention"] = charts.line_chart(
            labels, {"Retention rate": [r["retention_rate"] for r in d.retention],
                     "Churn rate": [r["churn_rate"] for r in d.retention]},
            title="Monthly retention and churn",
            desc="Share of the previous month's buyers who bought again (retention) or did not (churn), "
                 "last 24 months; the newest month may be incomplete.",
            fmt=charts.fmt_pct, y_max=1.0)
        figures["active"] = charts.bar_chart(
            [(r["period"], float(r["active"])) for r in d.retention], title="Active customers per month",
            desc="Customers with at least one purchase in the month.")
    if d.cohort_matrix:
        figures["cohorts"] = charts.heatmap(
            d.cohort_rows, d.cohort_cols, d.cohort_matrix, title="Cohort retention",
            desc="Share of each first-purchase month's customers who bought again N months later (last 12 cohorts).")
    if d.clv_values:
        kind = "Predicted 12-month CLV" if d.clv_kind == "predicted" else "Historical net revenue per customer"
        figures["clv"] = charts.histogram(
            d.clv_values, title=f"{kind} distribution",
            desc=f"Number of customers per value band ({len(d.clv_values)} customers; the top 1% share the last band).",
            x_title="value (currency units)")
    sections = _domain_sections(db)
    return render(request, "dashboard.html", title="Dashboard", d=d, figures=figures, sections=sections)


def _domain_sections(db: DbDep) -> dict[str, object]:
    """NPS trend and case SLA compliance come from their domains once those are installed."""
    from loyalist.web import domains

    nps = domains.nps_trend(db)
    chart = None
    if nps:
        chart = charts.line_chart([r["period"] for r in nps], {"NPS": [r["nps"] for r in nps]},
                                  title="NPS trend", desc="Net Promoter Score per month over all surveys.",
                                  fmt=lambda v: f"{v:.0f}")
    return {"nps": nps, "nps_chart": chart, "sla": domains.case_sla(db)}
