"""The same Ibis aggregation expressions on PySpark local mode give DuckDB's results.

Runs with the `spark` extra installed (`pip install -e '.[spark]'`, a Java runtime on PATH); CI
installs both. One small simulated dataset, one Spark session for the module, one core, one
shuffle partition, no adaptive re-planning: Spark's fixed cost per query dominates, so each
expression runs once.
"""

from __future__ import annotations

import os
import shutil

import ibis
import pandas as pd
import pytest

from loyalist.analytics.churn import churn_features, churn_labels
from loyalist.analytics.clv_pipeline import discrete_summary
from loyalist.analytics.cohorts import cohort_table
from loyalist.analytics.retention import retention_rates
from loyalist.analytics.simulate import simulate_transactions
from loyalist.analytics.summary import observed_range, summary_data

pytestmark = [pytest.mark.spark,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:pyspark.*"),
              pytest.mark.filterwarnings("ignore::FutureWarning:pyspark.*"),
              pytest.mark.filterwarnings("ignore:.*:Warning:pyspark.*")]

END = "2024-12-31"


def _unavailable() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[spark]')"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "no Java runtime for Spark (java on PATH or JAVA_HOME)"
    return None


@pytest.fixture(scope="module")
def spark_con(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    reason = _unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI installs the spark extra and Java: {reason}")
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = (SparkSession.builder.master("local[1]").appName("loyalist-test")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "1")
               .config("spark.sql.adaptive.enabled", "false")  # no re-planning on a few hundred rows
               .config("spark.default.parallelism", "1")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.warehouse.dir", str(warehouse))
               .config("spark.driver.memory", "512m")
               .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
               .getOrCreate())
    try:
        yield ibis.pyspark.connect(session)
    finally:
        session.stop()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """80 simulated customers over three years (a few hundred rows, returns included)."""
    f = simulate_transactions(80, seed=4)[["customer_id", "occurred_at", "amount"]]
    f = f[f["occurred_at"] <= pd.Timestamp(END) + pd.Timedelta(days=1)]
    return f.assign(occurred_at=f["occurred_at"].astype("datetime64[us]")).reset_index(drop=True)


def _same(spark: pd.DataFrame, duck: pd.DataFrame, sort: list[str]) -> None:
    a = spark.sort_values(sort, kind="stable").reset_index(drop=True)
    b = duck.sort_values(sort, kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_index_type=False)


def test_every_aggregation_runs_on_spark_and_matches_duckdb(spark_con, frame: pd.DataFrame) -> None:
    spark = spark_con.create_table("tx", frame, overwrite=True)
    duck = ibis.duckdb.connect().create_table("tx", frame)
    assert spark._find_backend().name == "pyspark"

    assert observed_range(spark, date_col="occurred_at") == observed_range(duck, date_col="occurred_at")
    # per-customer summary with a calibration/holdout split (the model-fitting input)
    _same(summary_data(spark, observation_end=END, calibration_end="2024-06-30"),
          summary_data(duck, observation_end=END, calibration_end="2024-06-30"), ["customer_id"])
    _same(retention_rates(spark, observation_end=END, period="quarter"),
          retention_rates(duck, observation_end=END, period="quarter"), ["period"])
    _same(cohort_table(spark, observation_end=END), cohort_table(duck, observation_end=END),
          ["cohort", "months_since_first"])
    # supervised churn model inputs: features (with the earlier date for RFM movement) and labels
    _same(churn_features(spark, as_of="2024-09-30", before_days=90),
          churn_features(duck, as_of="2024-09-30", before_days=90), ["customer_id"])
    assert sorted(churn_labels(spark, as_of="2024-09-30", horizon_days=90).index) == sorted(
        churn_labels(duck, as_of="2024-09-30", horizon_days=90).index)
    # BG/BB input: purchases per calendar period
    kw = {"customer_col": "customer_id", "date_col": "occurred_at", "value_col": "amount"}
    _same(discrete_summary(spark, observation_end=END, period="quarter", **kw),
          discrete_summary(duck, observation_end=END, period="quarter", **kw), ["customer_id"])
