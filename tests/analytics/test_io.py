"""Reading files: column detection, and every kind of bad input named precisely."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from loyalist.analytics.errors import AnalyticsInputError
from loyalist.analytics.io import load_customers, load_feedback, load_transactions

from .helpers import CDNOW_NAMES, CDNOW_TXT


def write(tmp_path: Path, text: str, name: str = "tx.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_headers_are_recognised_and_rows_normalised(tmp_path: Path) -> None:
    path = write(tmp_path, "Order ID,Customer ID,Order Date,Total,Qty\n"
                           "o1,c1,2024-01-05,10.50,1\no2,c2,2024-01-06,-3.00,1\no3,c1,2024-02-01,7,2\n")
    loaded = load_transactions(path)
    assert loaded.report.columns == {"customer": "Customer ID", "date": "Order Date", "amount": "Total",
                                     "order": "Order ID", "quantity": "Qty"}
    df = loaded.table.order_by("order_id").execute()
    assert df["customer_id"].tolist() == ["c1", "c2", "c1"]
    assert df["amount"].tolist() == [10.5, -3.0, 7.0]
    assert df["occurred_at"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-05", "2024-01-06", "2024-02-01"]
    assert loaded.report.return_rows == 1
    assert loaded.report.return_amount == -3.0
    assert any("negative amount" in w for w in loaded.report.warnings)


def test_missing_column_names_the_option_and_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,when,amount\n1,2024-01-01,3\n")
    with pytest.raises(AnalyticsInputError) as exc:
        load_transactions(path)
    assert "missing column for date (--date-col" in exc.value.message
    assert "Columns present: customer_id, when, amount" in exc.value.message
    assert load_transactions(path, date_col="when").report.rows == 1


def test_ambiguous_columns_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,Customer-ID,date,amount\n1,1,2024-01-01,3\n")
    with pytest.raises(AnalyticsInputError, match="ambiguous customer column: customer_id, Customer-ID"):
        load_transactions(path)


def test_unparseable_dates_name_rows_and_examples(tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,date,amount\n1,2024-01-01,3\n2,yesterday,4\n3,2024-01-03,5\n"
                           "4,2024-13-45,1\n")
    with pytest.raises(AnalyticsInputError) as exc:
        load_transactions(path)
    assert exc.value.rows == [2, 4]
    assert "2 value(s) in date column 'date' cannot be read" in exc.value.message
    assert "row 2: 'yesterday'" in exc.value.message and "row 4: '2024-13-45'" in exc.value.message


def test_day_first_dates_with_explicit_format(tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,date,amount\n1,31/01/2024,3\n2,01/02/2024,4\n")
    loaded = load_transactions(path)
    assert loaded.report.date_format == "%d/%m/%Y"
    df = loaded.table.order_by("customer_id").execute()
    assert df["occurred_at"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-31", "2024-02-01"]


def test_amounts_that_are_not_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,date,amount\n1,2024-01-01,3\n2,2024-01-02,abc\n")
    with pytest.raises(AnalyticsInputError, match=r"amount column 'amount' has values that are not numbers; "
                                                  r"first: row 2: 'abc'"):
        load_transactions(path)


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    with pytest.raises(AnalyticsInputError, match="the file is empty"):
        load_transactions(write(tmp_path, "", "empty.csv"))
    with pytest.raises(AnalyticsInputError, match="has a header but no rows"):
        load_transactions(write(tmp_path, "customer_id,date,amount\n", "header.csv"))
    with pytest.raises(AnalyticsInputError, match="file not found"):
        load_transactions(tmp_path / "nope.csv")


def test_duplicates_are_reported_and_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,date,amount\n1,2024-01-01,3\n1,2024-01-01,3\n1,2024-01-01,3\n"
                           "2,2024-01-02,4\n")
    loaded = load_transactions(path)
    assert loaded.report.rows == 4
    assert loaded.report.duplicate_rows == 2
    assert loaded.report.duplicate_examples[0]["copies"] == 3


def test_parquet_with_member_flag(tmp_path: Path) -> None:
    frame = pd.DataFrame({"customer": [1, 2], "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 11:00"]),
                          "revenue": [1.5, 2.5], "is_member": ["yes", "no"]})
    path = tmp_path / "tx.parquet"
    frame.to_parquet(path)
    loaded = load_transactions(path)
    assert loaded.has_member
    df = loaded.table.order_by("customer_id").execute()
    assert df["is_member"].tolist() == [True, False]


def test_cdnow_whitespace_file_without_header() -> None:
    loaded = load_transactions(CDNOW_TXT, names=CDNOW_NAMES.split(","), customer_col="sample_id",
                               date_col="date", value_col="dollars", quantity_col="cds")
    assert loaded.report.rows == 6919
    assert loaded.report.date_format == "%Y%m%d"
    assert loaded.table.customer_id.nunique().execute() == 2357


def test_customers_and_feedback_files(tmp_path: Path) -> None:
    customers = load_customers(write(tmp_path, "customer_id,member,complaints,points_balance\n1,yes,2,100\n"
                                               "2,no,0,5\n", "c.csv"))
    assert customers.columns.tolist() == ["customer_id", "is_member", "complaints", "pointsbalance"]
    assert customers["is_member"].tolist() == [True, False]
    fb = load_feedback(write(tmp_path, "customer_id,date,score\n1,2024-01-01,9\n2,2024-01-02,3\n", "f.csv"))
    assert fb["score"].tolist() == [9, 3]
    with pytest.raises(AnalyticsInputError, match=r"score\(s\) are not numbers from 0 to 10; rows \[2\]"):
        load_feedback(write(tmp_path, "customer_id,date,score\n1,2024-01-01,9\n2,2024-01-02,11\n", "g.csv"))
