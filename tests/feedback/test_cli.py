"""`loyalist feedback ...` against a real, committed database."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import loyalist.db as db
from loyalist.cli.main import app


@pytest.fixture
def cli_engine(committed_engine):  # type: ignore[no-untyped-def]
    previous = (db._default_engine, db._default_factory)
    db.set_engine(committed_engine)
    yield committed_engine
    db._default_engine, db._default_factory = previous


def test_import_list_tag_themes_and_model_from_the_command_line(cli_engine, tmp_path):
    runner = CliRunner()
    good = tmp_path / "reviews.csv"
    good.write_text("kind,source,external_id,text,rating\n"
                    "review,google,r1,Курьер опоздал на три дня,2\n"
                    "review,google,r2,Tak for hurtig levering,5\n", encoding="utf-8")
    first = runner.invoke(app, ["feedback", "import", str(good)])
    assert first.exit_code == 0, first.output
    assert "2 imported, 0 already known, 1 need an answer" in first.output
    again = runner.invoke(app, ["feedback", "import", str(good)])
    assert "0 imported, 2 already known" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,source,external_id,text,rating\nreview,google,r3,ok,9\n", encoding="utf-8")
    failed = runner.invoke(app, ["feedback", "import", str(bad)])
    assert failed.exit_code != 0
    assert "line 2" in failed.output and "rating" in failed.output
    listed = runner.invoke(app, ["feedback", "list", "--needs-answer"])
    assert listed.exit_code == 0, listed.output
    assert "deliver" in listed.output and "1 item(s)" in listed.output  # the table wraps long cells
    analysed = runner.invoke(app, ["feedback", "analyze", "Ціни кусаються"])
    assert "language: uk" in analysed.output and "ціни, кусаються" in analysed.output
    themes = runner.invoke(app, ["feedback", "themes", "--period", "month"])
    assert themes.exit_code == 0, themes.output
    assert "delivery" in themes.output and "2 item(s)" in themes.output
    trained = runner.invoke(app, ["feedback", "train"])
    assert trained.exit_code == 0, trained.output
    assert "lexicons kept" in trained.output
    shown = runner.invoke(app, ["feedback", "model"])
    assert "reasons macro-F1: model - vs lexicons - -> lexicons" in shown.output
