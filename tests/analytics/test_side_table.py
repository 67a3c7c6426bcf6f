"""The dated side table of the churn model without a database: each cut sees only its past,
bad rows are named, snapshot columns are left out unless declared static, and `--events`
brings the same features to the file path."""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loyalist.analytics.churn import churn_features, normalise_events, side_features, static_attributes
from loyalist.analytics.errors import AnalyticsInputError
from loyalist.analytics.io import customer_column_name, load_events
from loyalist.analytics.simulate import simulate_transactions
from loyalist.cli.main import app

runner = CliRunner()


def _events(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "occurred_at", "kind", "value"])


EVENTS = _events([
    (1, "2024-01-10 09:00", "points", 100), (1, "2024-06-01 12:00", "points", -40),
    (1, "2024-06-02 00:00", "points", 1000),  # the day after the cut
    (1, "2023-06-02 10:00", "complaint", 1),  # exactly 365 days before the cut: outside the window
    (1, "2023-06-03 10:00", "complaint", 1), (1, "2024-06-01 23:59", "complaint", 1),
    (1, "2024-05-01 10:00", "nps", 3), (1, "2024-05-01 10:00", "nps", 8),  # same time: the later row wins
    (1, "2024-06-03 10:00", "nps", 0),
    (2, "2024-03-04 10:00", "engagement", 2), (2, "2024-03-03 10:00", "engagement", 5),  # 89, 90 days before
    (2, "2024-07-01 00:00", "enrolled", 1), (1, "2020-01-01 00:00+02:00", "enrolled", 1),
])
CUT = "2024-06-01"


def test_each_cut_sees_only_its_past() -> None:
    got = side_features(EVENTS, as_of=CUT).set_index("_key")
    assert list(got.columns) == ["points_balance", "complaints_365", "nps_score", "is_member", "engagement_90"]
    assert got.loc["1"].tolist() == [60.0, 2.0, 8.0, 1.0, 0.0]
    assert got.loc["2", ["points_balance", "complaints_365", "is_member", "engagement_90"]].tolist() == [
        0.0, 0.0, 0.0, 2.0]
    assert np.isnan(got.loc["2", "nps_score"])  # never answered: unknown, not 0
    later = side_features(EVENTS, as_of="2024-07-01").set_index("_key")
    assert later.loc["1", ["points_balance", "nps_score"]].tolist() == [1060.0, 0.0]
    assert later.loc["2", "is_member"] == 1.0


def test_rows_after_the_cut_do_not_change_its_features() -> None:
    tx = pd.DataFrame({"customer_id": [1, 1, 2, 2], "amount": [10.0, 12.0, 30.0, 5.0],
                       "occurred_at": pd.to_datetime(["2024-01-05", "2024-05-20", "2024-02-01", "2024-05-30"])})
    table = ibis.memtable(tx)
    late = pd.concat([EVENTS, _events([(2, "2024-06-02 00:00", "complaint", 1), (2, "2024-06-02", "nps", 0),
                                       (2, "2024-06-05", "points", -500), (1, "2024-06-02", "engagement", 9)])])
    a = churn_features(table, as_of=CUT, events=EVENTS)
    b = churn_features(table, as_of=CUT, events=late)
    pd.testing.assert_frame_equal(a, b)
    assert a.set_index("customer_id").loc[1, "points_balance"] == 60.0


def test_feedback_answers_are_nps_rows() -> None:
    tx = pd.DataFrame({"customer_id": [1, 2], "amount": [10.0, 30.0],
                       "occurred_at": pd.to_datetime(["2024-01-05", "2024-02-01"])})
    feedback = pd.DataFrame({"customer_id": [2, 2], "answered_at": pd.to_datetime(["2024-03-01", "2024-07-01"]),
                             "score": [4, 10]})
    f = churn_features(ibis.memtable(tx), as_of=CUT, events=EVENTS, feedback=feedback).set_index("customer_id")
    assert f.loc[1, "nps_score"] == 8.0 and f.loc[2, "nps_score"] == 4.0


@pytest.mark.parametrize(("frame", "column", "text"), [
    (EVENTS.drop(columns="kind"), "kind", "missing column(s) kind"),
    (_events([(1, "2024-01-01", "visits", 1)]), "kind", "unknown kind(s) visits"),
    (_events([(1, "yesterday-ish", "points", 1)]), "occurred_at", "not times"),
    (_events([(1, "2024-01-01", "points", "lots")]), "value", "kinds: points"),
    (_events([(None, "2024-01-01", "points", 1)]), "customer_id", "customer_id is empty"),
])
def test_bad_rows_are_named(frame: pd.DataFrame, column: str, text: str) -> None:
    with pytest.raises(AnalyticsInputError) as err:
        normalise_events(frame)
    assert err.value.column == column and text in err.value.message


def test_snapshot_columns_need_to_be_declared_static() -> None:
    snap = pd.DataFrame({"customer_id": [1, 2], "is_member": [True, False], "pointsbalance": [5.0, 9.0],
                         "birthyear": [1980.0, 1990.0]})
    kept, excluded = static_attributes(snap, ["birthyear"])
    assert list(kept.columns) == ["customer_id", "birthyear"] and excluded == ["is_member", "pointsbalance"]
    assert static_attributes(snap, None) == (None, ["is_member", "pointsbalance", "birthyear"])
    with pytest.raises(AnalyticsInputError) as err:
        static_attributes(snap, ["shoe_size"])
    assert err.value.column == "shoe_size" and "--static-columns" in err.value.message
    assert [customer_column_name(c) for c in ("Points Balance", "member", "is_member")] == [
        "pointsbalance", "is_member", "is_member"]


def test_events_file(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("customer_id,date,kind\n1,2024-01-01,Complaint\n2,2024-01-02,engagement\n")
    got = load_events(path)
    assert (got["kind"].tolist(), got["value"].tolist()) == (["complaint", "engagement"], [1.0, 1.0])
    path.write_text("customer_id,date,kind,value\n1,2024-01-01,points,\n")
    with pytest.raises(AnalyticsInputError, match="value\\(s\\) are not numbers \\(kinds: points\\)"):
        load_events(path)
    path.write_text("customer_id,date,kind,value\n1,2024-01-01,nps,11\n")
    with pytest.raises(AnalyticsInputError, match="not scores from 0 to 10; rows \\[1\\]"):
        load_events(path)
    path.write_text("customer_id,date,kind,value\n1,2024-13-45,nps,1\n")
    with pytest.raises(AnalyticsInputError, match="row 1: '2024-13-45'"):
        load_events(path)


def test_cli_events_file_feeds_the_churn_model(tmp_path: Path) -> None:
    frame = simulate_transactions(400, seed=5)
    tx = tmp_path / "tx.csv"
    frame.drop(columns=["is_member"]).to_csv(tx, index=False)
    rng = np.random.default_rng(1)
    ids = np.sort(frame["customer_id"].unique())
    start = frame["occurred_at"].min()
    events = pd.DataFrame({
        "customer_id": np.repeat(ids, 2),
        "occurred_at": [start + pd.Timedelta(days=int(d)) for d in rng.integers(0, 700, 2 * ids.size)],
        "kind": ["complaint", "points"] * ids.size, "value": np.tile([1, 50], ids.size)})
    events.to_csv(tmp_path / "events.csv", index=False)
    result = runner.invoke(app, ["analyze", str(tx), "--events", str(tmp_path / "events.csv"), "--no-charts",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {"points_balance", "complaints_365"} <= set(summary["churn_model"]["features"])
    assert summary["churn_model"]["excluded_snapshot_columns"] == []
    out = pd.read_csv(tmp_path / "out" / "customers.csv")
    assert {"points_balance", "complaints_365"} <= set(out.columns)


def test_a_member_flag_on_transactions_dates_the_enrolment(tmp_path: Path) -> None:
    """A per-transaction flag becomes an `enrolled` row on the customer's first flagged purchase:
    a customer who joined after the training cut is not a member at that cut."""
    from loyalist.analytics.pipeline import _dated_enrolments

    day = pd.Timestamp("2024-01-01")
    frame = pd.DataFrame({
        "customer_id": [1, 1, 1, 2, 2, 3],
        "occurred_at": [day, day + pd.Timedelta(days=40), day + pd.Timedelta(days=90), day,
                        day + pd.Timedelta(days=10), day],
        "amount": [10.0, 12.0, 9.0, 20.0, 5.0, 7.0],
        "is_member": [0, 1, 1, 1, 1, 0]})
    table = ibis.memtable(frame)
    got = _dated_enrolments(table, "customer_id", None, "occurred_at", None, None)
    assert sorted(zip(got["customer_id"], got["occurred_at"], strict=True)) == [
        (1, day + pd.Timedelta(days=40)), (2, day)]
    events = normalise_events(got)
    before = churn_features(table, as_of=day + pd.Timedelta(days=20), events=events)
    after = churn_features(table, as_of=day + pd.Timedelta(days=60), events=events)
    member = {int(c): m for c, m in zip(before["customer_id"], before["is_member"], strict=True)}
    assert member == {1: 0.0, 2: 1.0, 3: 0.0}
    assert dict(zip(after["customer_id"].astype(int), after["is_member"], strict=True))[1] == 1.0
    # the customer's own dated enrolment wins over the flag
    own = pd.DataFrame({"customer_id": [1], "occurred_at": [day], "kind": ["enrolled"], "value": [1.0]})
    assert 1 not in set(_dated_enrolments(table, "customer_id", None, "occurred_at", None, own)["customer_id"])
    # a customers-file flag is a snapshot: nothing is dated from it
    assert _dated_enrolments(table, "customer_id", None, "occurred_at",
                             pd.DataFrame({"customer_id": [1], "is_member": [True]}), None) is None
