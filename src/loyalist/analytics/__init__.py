"""Retention analytics: who stays, who is leaving, what each customer is worth.

Pure computation: Ibis expressions for the per-customer aggregation (DuckDB, SQLite, PostgreSQL,
Spark) and NumPy/SciPy/scikit-learn models on the compressed result. It imports nothing else of
Loyalist (no SQLAlchemy, FastAPI or domains), so it can run anywhere a table can be read.

Entry points (imported lazily so `import loyalist.analytics` stays cheap):
- `load_transactions(path, ...)` -> LoadedTransactions (CSV/Parquet, column detection, named errors)
- `summary_data(table, ..., observation_end, calibration_end=None)` -> per-customer frequency/recency/T
- `retention_rates`, `cohort_table`, `rfm_table` / `score_rfm`, `nps_summary`, `validate_churn_model`
- `analyze(table, ...)` -> Analysis with every measure; `write_outputs(analysis, out_dir)`
- `simulate_transactions(n, seed=...)` for tests and benchmarks
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AnalyticsInputError": "errors",
    "load_transactions": "io", "load_customers": "io", "load_feedback": "io",
    "summary_data": "summary", "compress": "summary",
    "retention_rates": "retention", "cohort_table": "cohorts", "cohort_matrix": "cohorts",
    "rfm_table": "rfm", "score_rfm": "rfm", "segment_summary": "rfm", "segment_movement": "rfm",
    "nps_summary": "nps", "nps_trend": "nps",
    "churn_features": "churn", "validate_churn_model": "churn", "ChurnModel": "churn",
    "analyze": "pipeline", "write_outputs": "pipeline", "AnalysisSettings": "pipeline", "Analysis": "pipeline",
    "simulate_transactions": "simulate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'loyalist.analytics' has no attribute {name!r}")
    return getattr(importlib.import_module(f"loyalist.analytics.{module}"), name)
