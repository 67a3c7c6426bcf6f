"""The same Ibis summary expression on PySpark local mode (optional: `pytest -m spark`)."""

from __future__ import annotations

import pandas as pd
import pytest

from loyalist.analytics.summary import summary_data

from .helpers import tiny_frame, tiny_table

pytestmark = pytest.mark.spark


def test_summary_on_pyspark_local_mode() -> None:
    pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'ibis-framework[pyspark]')")
    import ibis

    session = (pyspark.sql.SparkSession.builder.master("local[2]").appName("loyalist-test")
               .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    try:
        con = ibis.pyspark.connect(session)
        table = con.create_table("tx", tiny_frame(), overwrite=True)
        on_spark = summary_data(table, observation_end="2024-04-30")
        on_duckdb = summary_data(tiny_table(), observation_end="2024-04-30")
        pd.testing.assert_frame_equal(on_spark, on_duckdb, check_dtype=False)
    finally:
        session.stop()
