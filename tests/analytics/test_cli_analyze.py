"""End to end: `loyalist analyze` on the CDNOW file and on a `purchases` table in SQLite."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loyalist.analytics.simulate import simulate_transactions
from loyalist.cli.main import app

from .helpers import CDNOW, CDNOW_NAMES, CDNOW_TXT

runner = CliRunner()


@pytest.fixture(scope="module")
def cdnow_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cdnow")
    result = runner.invoke(app, ["analyze", str(CDNOW_TXT), "--names", CDNOW_NAMES, "--customer-col", "sample_id",
                                 "--date-col", "date", "--value-col", "dollars", "--quantity-col", "cds",
                                 "--calibration-end", "1997-09-30", "--discrete-period", "quarter",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2,357 customers" in result.output
    return out


def test_cdnow_outputs(cdnow_out: Path) -> None:
    customers = pd.read_csv(cdnow_out / "customers.csv", dtype={"customer_id": str})
    assert len(customers) == 2357
    assert customers["customer_id"].is_unique
    parquet = pd.read_parquet(cdnow_out / "customers.parquet")
    assert parquet["customer_id"].tolist() == customers["customer_id"].tolist()
    for col in ("purchase_days", "net_revenue", "r_score", "segment", "p_alive", "expected_purchases_30d",
                "expected_purchases_90d", "expected_purchases_365d", "clv", "churn_probability", "value_at_risk",
                "p_alive_discrete"):
        assert col in customers, col
    assert customers["purchase_days"].sum() == 6696  # distinct (customer, day) pairs
    assert customers["net_revenue"].sum() == pytest.approx(244091.94)
    assert customers["p_alive"].between(0, 1).all()
    assert customers["churn_probability"].between(0, 1).all()


def test_cdnow_calibration_summary_is_the_published_one(cdnow_out: Path) -> None:
    cal = pd.read_csv(cdnow_out / "calibration_summary.csv")
    ref = pd.read_csv(CDNOW / "cdnow_customers_summary.csv")
    merged = ref.merge(cal.assign(ID=cal["customer_id"].astype(int)), on="ID", validate="one_to_one")
    assert len(merged) == 2357
    assert (merged["frequency_x"] == merged["frequency_y"]).all()
    assert (merged["recency_weeks"].round(2) == merged["recency"]).all()
    assert (merged["T_weeks"].round(2) == merged["T"]).all()
    assert (cal["duration_holdout_weeks"] == 39.0).all()


def test_cdnow_summary_json(cdnow_out: Path) -> None:
    summary = json.loads((cdnow_out / "summary.json").read_text())
    k = summary["kpis"]
    assert (k["customers"], k["transactions"]) == (2357, 6919)
    assert k["repeat_purchase_rate"] == pytest.approx(1139 / 2357)
    assert summary["input"]["duplicate_rows"] == 21
    assert summary["clv"]["model"] == "BG/NBD"
    holdout = summary["clv"]["holdout"]
    assert [h["frequency_bucket"] for h in holdout] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert holdout[0]["customers"] == 1411
    assert summary["churn_model"]["auc"] > 0.7
    assert summary["model_ranking"]["better_by_auc"] in {"supervised", "probabilistic"}
    assert set(summary["retention"]) == {"month", "quarter", "year"}
    assert sum(s["customers"] for s in summary["rfm_segments"]) == 2357
    assert summary["bgbb"]["period"] == "quarter"
    assert "retention_rate" in summary["definitions"]


def test_cdnow_report_is_self_contained(cdnow_out: Path) -> None:
    html = (cdnow_out / "report.html").read_text()
    assert '<b id="kpi-customers">2,357</b>' in html
    for section in ("overview", "definitions", "retention", "cohorts", "rfm", "clv", "churn", "input"):
        assert f'id="{section}"' in html
    assert html.count('src="data:image/png;base64,') >= 6
    for chart in ("active customers per month", "retention and churn rates", "cohort heatmap", "cohort curves",
                  "segments", "calibration vs holdout", "churn calibration"):
        assert f'<img alt="{chart}" src="data:image/png;base64,' in html, chart
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html
    assert "ranks better" in html


def test_bad_input_exits_with_a_named_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,date,amount\n1,2024-01-01,3\n2,not a date,4\n")
    result = runner.invoke(app, ["analyze", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "row 2: 'not a date'" in result.output
    assert not (tmp_path / "out").exists()
    result = runner.invoke(app, ["analyze", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2


def _purchases_db(path: Path, frame: pd.DataFrame) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE purchases (id INTEGER PRIMARY KEY, customer_id BIGINT NOT NULL, order_ref VARCHAR(100),"
                " occurred_at DATETIME NOT NULL, currency VARCHAR(3), gross_amount VARCHAR(40),"
                " discount_amount VARCHAR(40), net_amount VARCHAR(40), refunded_amount VARCHAR(40),"
                " store VARCHAR(100), channel VARCHAR(50), event_id BIGINT)")
    buys = frame[frame["amount"] >= 0]
    con.executemany(
        "INSERT INTO purchases (customer_id, order_ref, occurred_at, currency, gross_amount, discount_amount,"
        " net_amount, refunded_amount) VALUES (?, ?, ?, 'EUR', ?, '0.0000', ?, ?)",
        [(int(r.customer_id), r.order_id, r.occurred_at.strftime("%Y-%m-%d %H:%M:%S.%f"), f"{r.amount + 1:.4f}",
          f"{r.amount + 1:.4f}", "1.0000") for r in buys.itertuples()])
    con.commit()
    con.close()


def test_from_db_runs_the_same_expressions_on_sqlite(tmp_path: Path) -> None:
    frame = simulate_transactions(400, seed=11)
    db = tmp_path / "loyalist.db"
    _purchases_db(db, frame)
    csv = tmp_path / "tx.csv"
    frame[frame["amount"] >= 0].to_csv(csv, index=False)
    r1 = runner.invoke(app, ["analyze", "--from-db", "--database-url", f"sqlite:///{db}", "--out",
                             str(tmp_path / "db"), "--no-charts"])
    assert r1.exit_code == 0, r1.output
    r2 = runner.invoke(app, ["analyze", str(csv), "--out", str(tmp_path / "file"), "--no-charts"])
    assert r2.exit_code == 0, r2.output
    a = pd.read_csv(tmp_path / "db" / "customers.csv").sort_values("customer_id").reset_index(drop=True)
    b = pd.read_csv(tmp_path / "file" / "customers.csv").sort_values("customer_id").reset_index(drop=True)
    assert len(a) == len(b) == frame["customer_id"].nunique()
    for col in ("purchase_days", "repeat_purchase_days", "recency_days", "segment"):
        assert a[col].tolist() == b[col].tolist(), col
    assert a["net_revenue"].to_numpy() == pytest.approx(b["net_revenue"].to_numpy())  # net - refunded = amount


def test_from_db_without_purchases_table(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    result = runner.invoke(app, ["analyze", "--from-db", "--database-url", f"sqlite:///{db}", "--out",
                                 str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no `purchases` table" in result.output


@pytest.mark.postgres
def test_database_table_on_postgresql() -> None:
    import os

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from loyalist.analytics.retention import retention_rates
    from loyalist.analytics.summary import summary_data
    from loyalist.cli.analyze import database_table

    base = make_url(os.environ.get("LOYALIST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    name = f"{base.database}_analytics_{os.getpid()}"
    admin = create_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        eng = create_engine(url)
        with eng.begin() as c:
            c.execute(text("CREATE TABLE purchases (id bigserial PRIMARY KEY, customer_id bigint, order_ref text, "
                           "occurred_at timestamptz, currency text, gross_amount numeric(18,4), "
                           "discount_amount numeric(18,4), net_amount numeric(18,4), refunded_amount numeric(18,4), "
                           "store text, channel text, event_id bigint)"))
            c.execute(text("INSERT INTO purchases (customer_id, order_ref, occurred_at, currency, gross_amount, "
                           "discount_amount, net_amount, refunded_amount) VALUES "
                           "(1, 'a', '2024-01-01 10:00+00', 'EUR', 10, 0, 10, 0), "
                           "(1, 'b', '2024-02-10 23:30-05', 'EUR', 20, 0, 20, 5), "
                           "(2, 'c', '2024-01-15 08:00+00', 'EUR', 30, 0, 30, 0)"))
        eng.dispose()
        con, table = database_table(url)
        s = summary_data(table, observation_end="2024-03-31").set_index("customer_id")
        assert (s.loc[1, "frequency"], s.loc[1, "recency"], s.loc[1, "T"]) == (1, 41.0, 90.0)  # 02-11 04:30 UTC
        assert s.loc[1, "monetary_value"] == 15.0 and s.loc[1, "net_revenue"] == 25.0
        r = retention_rates(table, observation_end="2024-03-31", period="month")
        assert r["active_customers"].tolist() == [2, 1] and r["retention_rate"].iloc[1] == 0.5
        con.disconnect()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_customers_and_feedback_files_feed_members_nps_and_churn(tmp_path: Path) -> None:
    import numpy as np

    from loyalist.analytics.nps import nps_summary
    from loyalist.analytics.simulate import simulate_feedback

    frame = simulate_transactions(600, seed=5)
    tx = tmp_path / "tx.csv"
    frame.drop(columns=["is_member"]).to_csv(tx, index=False)
    ids = np.sort(frame["customer_id"].unique())
    rng = np.random.default_rng(0)
    members = pd.DataFrame({"customer_id": ids, "member": np.where(ids % 2 == 0, "yes", "no"),
                            "complaints": rng.integers(0, 3, ids.size),
                            "points_balance": rng.integers(0, 500, ids.size)})
    members.to_csv(tmp_path / "customers.csv", index=False)
    feedback = simulate_feedback(frame, seed=5)
    feedback.to_csv(tmp_path / "feedback.csv", index=False)
    result = runner.invoke(app, ["analyze", str(tx), "--customers", str(tmp_path / "customers.csv"), "--feedback",
                                 str(tmp_path / "feedback.csv"), "--static-columns", "member", "--out",
                                 str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["nps"] == nps_summary(feedback)
    groups = {g["group"]: g for g in summary["members"]}
    assert set(groups) == {"members", "non-members"}
    assert groups["members"]["customers"] == int((ids % 2 == 0).sum())
    assert groups["members"]["customers"] + groups["non-members"]["customers"] == 600
    # the snapshot's time-varying columns would leak later values into the training cut: only the
    # column declared static is a feature, the others are named in the summary and a note
    features = set(summary["churn_model"]["features"])
    assert {"nps_score", "is_member"} <= features and not {"complaints", "pointsbalance"} & features
    assert summary["churn_model"]["excluded_snapshot_columns"] == ["complaints", "pointsbalance"]
    assert any(n.startswith("customers file columns left out of the churn model: complaints, pointsbalance")
               for n in summary["notes"])
    assert summary["input"]["return_rows"] == int((frame["amount"] < 0).sum())
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'id="members"' in html and 'id="nps-value"' in html
    assert '<img alt="NPS trend" src="data:image/png;base64,' in html
    assert len(summary["nps_trend"]) >= 2


def test_csv_export_neutralises_formula_customer_ids(tmp_path: Path) -> None:
    """Ids come from the uploaded file; a spreadsheet must not run one as a formula."""
    rows = ["customer_id,date,amount"]
    for i, cid in enumerate(["=HYPERLINK(\"http://evil\")", "+1-2", "@SUM(A1)", "plain", "-3"] * 3):
        rows.append(f'"{cid.replace(chr(34), chr(34) * 2)}",2024-0{1 + i % 9}-1{i % 9},{10 + i}')
    data = tmp_path / "tx.csv"
    data.write_text("\n".join(rows) + "\n")
    result = runner.invoke(app, ["analyze", str(data), "--as-of", "2024-12-31", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    import csv

    with (tmp_path / "out" / "customers.csv").open(newline="") as fh:
        ids = sorted(row["customer_id"] for row in csv.DictReader(fh))
    assert ids == sorted(["'=HYPERLINK(\"http://evil\")", "'+1-2", "'@SUM(A1)", "plain", "'-3"])
    import pyarrow.parquet as pq

    raw = sorted(pq.read_table(tmp_path / "out" / "customers.parquet").column("customer_id").to_pylist())
    assert "=HYPERLINK(\"http://evil\")" in raw  # the Parquet file keeps the data as it was


def test_segment_movement_between_two_dates(tmp_path: Path) -> None:
    """--compare-from: segments at that date (scored on the history up to then) against --as-of."""
    import ibis

    from loyalist.analytics.rfm import rfm_table

    frame = simulate_transactions(300, seed=8)
    csv = tmp_path / "tx.csv"
    frame.to_csv(csv, index=False)
    result = runner.invoke(app, ["analyze", str(csv), "--as-of", "2024-06-30", "--compare-from", "2023-12-31",
                                 "--no-charts", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    movement = json.loads((tmp_path / "out" / "summary.json").read_text())["rfm_movement"]
    assert (movement["from"], movement["to"]) == ("2023-12-31", "2024-06-30")
    table = ibis.duckdb.connect().create_table("tx", frame)
    before = rfm_table(table, observation_end="2023-12-31")[["customer_id", "segment"]]
    after = rfm_table(table, observation_end="2024-06-30")[["customer_id", "segment"]]
    pairs = after.merge(before, on="customer_id", how="left", suffixes=("_to", "_from")).fillna(
        {"segment_from": "(not yet a customer)"})
    expected = pairs.groupby(["segment_from", "segment_to"]).size()
    got = {(a, b): n for a, row in movement["counts"].items() for b, n in row.items()}
    assert got == {k: int(v) for k, v in expected.items()}
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Movement between segments (2023-12-31 → 2024-06-30)" in html


@pytest.mark.parametrize("option,value,message", [
    ("--as-of", "31/02/2024", "--as-of: '31/02/2024' is not a date"),
    ("--compare-from", "soon", "--compare-from: 'soon' is not a date"),
    ("--compare-from", "2030-01-01", "segment-movement start must be before the observation end"),
    ("--calibration-end", "2024-13-01", "--calibration-end: '2024-13-01' is not a date"),
])
def test_bad_date_options_are_named(tmp_path: Path, option: str, value: str, message: str) -> None:
    csv = tmp_path / "tx.csv"
    simulate_transactions(50, seed=2).to_csv(csv, index=False)
    result = runner.invoke(app, ["analyze", str(csv), option, value, "--no-charts", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_order_id_and_quantity_give_orders_and_basket_size(tmp_path: Path) -> None:
    """A file with one row per order line: orders are counted once, returns are not orders."""
    rows = ["client,invoice_no,invoice_date,qty,total",
            "A,I1,2024-01-05,2,10.00", "A,I1,2024-01-05,1,5.00",  # one order, two lines
            "A,I2,2024-03-01,1,20.00", "B,I3,2024-02-02,3,30.00",
            "B,I3-R,2024-02-09,1,-10.00",  # a return: not an order
            "C,I4,2024-04-01,1,7.00", "C,I5,2024-05-01,4,9.00"]
    data = tmp_path / "lines.csv"
    data.write_text("\n".join(rows) + "\n")
    result = runner.invoke(app, ["analyze", str(data), "--no-charts", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["input"]["columns"] == {"customer": "client", "date": "invoice_date", "amount": "total",
                                           "order": "invoice_no", "quantity": "qty"}
    k = summary["kpis"]
    assert (k["orders"], k["items"]) == (5, 12.0)
    assert k["average_order_value"] == pytest.approx(81.0 / 5)
    assert k["lines_per_order"] == pytest.approx(6 / 5) and k["items_per_order"] == pytest.approx(12 / 5)
    assert '<b id="kpi-orders">5</b>' in (tmp_path / "out" / "report.html").read_text()
