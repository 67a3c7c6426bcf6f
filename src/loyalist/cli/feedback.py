"""`loyalist feedback ...`: analyse, import reviews/mentions, train and inspect the model, themes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console

if TYPE_CHECKING:
    from loyalist.feedback.schemas import ModelRead


def _tags(tags: list) -> str:  # type: ignore[type-arg]
    out = []
    for t in tags:
        words = f" ({', '.join(t.matched)})" if t.matched else ""
        out.append(f"{t.code}{words}")
    return "; ".join(out)


def register(app: typer.Typer) -> None:
    fb = typer.Typer(help="Feedback text analysis: tags, sentiment, themes, model training.", no_args_is_help=True)

    @fb.command("analyze")
    def analyze(text: str, lang: list[str] = typer.Option(None, "--lang", help="Restrict languages (repeatable)")
                ) -> None:
        """Show language, sentiment and reason tags (with the matched words) for a text."""
        from loyalist.feedback import service

        with cli_unit_of_work() as session:
            a = service.analyze_text(session, text=text, languages=lang or None)
        console.print(f"language: {a.language} ({a.language_confidence:.2f})")
        console.print(f"sentiment: {a.sentiment} ({a.sentiment_score:+.2f}, {a.sentiment_source})"
                      + ("  [question]" if a.is_question else ""))
        for t in a.tags:
            console.print(f"  {t.code:<24} {t.source:<8} {t.confidence:.2f}  {', '.join(t.matched) or '-'}")

    @fb.command("import")
    def import_(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
                fmt: str | None = typer.Option(None, "--format", help="csv, json or jsonl (default: by extension)")
                ) -> None:
        """Import reviews/social-media mentions (one transaction; re-import skips known ones)."""
        from loyalist.feedback import service

        kind = (fmt or file.suffix.lstrip(".")).lower()
        content = file.read_text(encoding="utf-8-sig")
        with cli_unit_of_work() as session:
            result = service.import_mentions(session, content=content, fmt=kind, actor=CLI_ACTOR)
        console.print(f"[green]{result.created} imported[/green], {result.duplicates} already known, "
                      f"{result.needs_answer} need an answer")

    @fb.command("train")
    def train(folds: int = typer.Option(5, help="Cross-validation folds")) -> None:
        """Fit the char-n-gram model from labelled feedback and decide whether to use it."""
        from loyalist.feedback import service

        with cli_unit_of_work() as session:
            run = service.train(session, actor=CLI_ACTOR, folds=folds)
        _print_model(run)

    @fb.command("model")
    def model() -> None:
        """Show the last training run: CV figures (model vs lexicons) and the decision."""
        from loyalist.feedback import service

        with cli_unit_of_work() as session:
            run = service.current_model(session)
        if run is None:
            console.print("no model trained yet: the lexicons are used")
            return
        _print_model(run)

    @fb.command("themes")
    def themes(period: str = typer.Option("month", help="week or month"),
               language: str | None = typer.Option(None, help="ru, uk, en or da"),
               as_of: datetime | None = typer.Option(None, "--as-of", help="A moment in the period (UTC)"),
               sentiment: str | None = typer.Option(None)) -> None:
        """Most frequent reasons in the period, with share and trend against the previous period."""
        from datetime import UTC

        from loyalist.feedback import queries

        when = as_of.replace(tzinfo=UTC) if as_of is not None and as_of.tzinfo is None else as_of
        with cli_unit_of_work() as session:
            view = queries.themes(session, period=period, as_of=when, language=language, sentiment=sentiment)
        console.print(f"{view.period} from {view.start:%Y-%m-%d}: {view.total_items} item(s) "
                      f"(previous: {view.previous_total_items})")
        table = Table("reason", "count", "share", "previous", "trend")
        for r in view.rows:
            arrow = "↑" if r.trend > 0 else "↓" if r.trend < 0 else "→"
            table.add_row(r.code, str(r.count), f"{r.share:.0%}", f"{r.previous_count} ({r.previous_share:.0%})",
                          f"{arrow} {r.trend * 100:+.1f} pp")
        console.print(table)

    @fb.command("list")
    def list_(needs_answer: bool = typer.Option(False, "--needs-answer", help="Only items needing an answer"),
              tag: str | None = typer.Option(None), customer: int | None = typer.Option(None),
              limit: int = typer.Option(20)) -> None:
        """Newest feedback with tags and matched words."""
        from loyalist.feedback import service

        with cli_unit_of_work() as session:
            page = service.list_items(session, needs_answer=True if needs_answer else None, tag=tag,
                                      customer_id=customer, limit=limit)
        table = Table("id", "when", "src", "lang", "sentiment", "tags", "text")
        for i in page.items:
            table.add_row(str(i.id), f"{i.occurred_at:%Y-%m-%d}", i.source_type, i.language or "-",
                          f"{i.sentiment} {i.sentiment_score:+.2f}", _tags(i.tags), i.text[:60])
        console.print(table)
        console.print(f"{page.total} item(s)")

    @fb.command("tag")
    def tag(item_id: int, code: str, remove: bool = typer.Option(False, "--remove", help="Remove the tag")) -> None:
        """Correct an item's tags (stored as training data)."""
        from loyalist.feedback import service

        with cli_unit_of_work() as session:
            if remove:
                item = service.remove_tag(session, item_id=item_id, code=code, actor=CLI_ACTOR)
            else:
                item = service.add_tag(session, item_id=item_id, code=code, actor=CLI_ACTOR)
        console.print(f"item {item.id}: {', '.join(t.code for t in item.tags)}")

    @fb.command("evaluate")
    def evaluate(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True)) -> None:
        """Measure the analyser on a labelled JSON Lines file ({text, language, sentiment, reasons})."""
        import json

        from loyalist.feedback.analyzer.evaluate import evaluate as run

        records = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        report = run(records)
        console.print(f"n={report.n} language accuracy {report.language_accuracy:.4f}, reason macro-F1 "
                      f"{report.reason_macro_f1:.4f}, sentiment accuracy {report.sentiment_accuracy:.4f}")
        for lang, fig in report.per_language.items():
            console.print(f"  {lang}: {fig}")

    app.add_typer(fb, name="feedback")


def _print_model(r: ModelRead) -> None:
    console.print(f"run {r.id} at {r.trained_at:%Y-%m-%d %H:%M} by {r.actor}: {r.n_samples} labelled texts "
                  f"({r.n_tag_samples} with reasons, {r.n_sentiment_samples} with sentiment), "
                  f"{r.folds}-fold CV")
    if r.note:
        console.print(f"  {r.note}")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    console.print(f"  reasons macro-F1: model {fmt(r.model_tag_f1)} vs lexicons {fmt(r.lexicon_tag_f1)} -> "
                  f"{'MODEL' if r.use_for_tags else 'lexicons'}")
    console.print(f"  sentiment accuracy: model {fmt(r.model_sentiment_accuracy)} vs lexicons "
                  f"{fmt(r.lexicon_sentiment_accuracy)} -> {'MODEL' if r.use_for_sentiment else 'lexicons'}")
