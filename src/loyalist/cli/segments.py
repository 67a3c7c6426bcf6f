"""`loyalist segments ...`: list, create (rule JSON or static), count, export members as CSV, and
verify/rebuild the derived tables the rules read (purchase summaries, current consent)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console, err_console


def _rule(rule: str | None, rule_file: Path | None) -> dict | None:
    if rule is not None and rule_file is not None:
        err_console.print("[red]error:[/red] give --rule or --rule-file, not both")
        raise typer.Exit(code=2)
    text = rule_file.read_text(encoding="utf-8") if rule_file is not None else rule
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        err_console.print(f"[red]error:[/red] rule: not valid JSON ({exc.msg} at line {exc.lineno})")
        raise typer.Exit(code=2) from exc
    return parsed


def _segment_id(session, ref: str) -> int:  # type: ignore[no-untyped-def]
    from loyalist.segments import service

    if ref.isdigit():
        return service.get_segment(session, int(ref)).id
    return service.get_segment_by_name(session, ref).id


def register(app: typer.Typer) -> None:
    segments = typer.Typer(help="Customer segments (dynamic rules and static lists).", no_args_is_help=True)

    @segments.command("list")
    def list_(all_: bool = typer.Option(False, "--all", help="Include archived segments"),
              counts: bool = typer.Option(True, "--counts/--no-counts", help="Count the members of each")) -> None:
        """List segments with their member counts."""
        from loyalist.segments import service

        with cli_unit_of_work() as session:
            rows = service.list_segments(session, include_archived=all_)
            sizes = {r.id: service.count(session, segment_id=r.id) for r in rows} if counts else {}
        table = Table("id", "name", "kind", "members", "archived", "rule")
        for r in rows:
            table.add_row(str(r.id), r.name, r.kind, str(sizes.get(r.id, "-")), "yes" if r.archived else "",
                          json.dumps(r.rule)[:80] if r.rule else "")
        console.print(table)

    @segments.command("create")
    def create(name: str,
               rule: str | None = typer.Option(None, help='Rule JSON, e.g. {"field":"tag","op":"eq","value":"vip"}'),
               rule_file: Path | None = typer.Option(None, "--rule-file", exists=True, dir_okay=False),
               static: bool = typer.Option(False, "--static", help="A static list (add members later)"),
               description: str | None = typer.Option(None, help="What the segment is for")) -> None:
        """Create a dynamic segment from a rule, or an empty static one."""
        from loyalist.segments import service
        from loyalist.segments.schemas import SegmentCreate

        parsed = _rule(rule, rule_file)
        data = SegmentCreate(name=name, description=description, kind="static" if static else "dynamic", rule=parsed)
        with cli_unit_of_work() as session:
            seg = service.create_segment(session, data=data, actor=CLI_ACTOR)
            size = service.count(session, segment_id=seg.id)
        console.print(f"[green]segment {seg.id} '{seg.name}' created[/green] ({seg.kind}, {size} member(s))")

    @segments.command("count")
    def count(segment: str | None = typer.Argument(None, help="Segment id or name"),
              rule: str | None = typer.Option(None, help="Count a rule without saving it"),
              rule_file: Path | None = typer.Option(None, "--rule-file", exists=True, dir_okay=False)) -> None:
        """Count the members of a segment, or of a rule given as JSON."""
        from loyalist.segments import service

        parsed = _rule(rule, rule_file)
        if (segment is None) == (parsed is None):
            err_console.print("[red]error:[/red] give a segment or --rule/--rule-file")
            raise typer.Exit(code=2)
        started = time.perf_counter()
        with cli_unit_of_work() as session:
            if parsed is not None:
                n = service.count(session, rule=parsed)
            else:
                n = service.count(session, segment_id=_segment_id(session, segment or ""))
        console.print(f"{n} member(s) ({time.perf_counter() - started:.3f} s)")

    @segments.command("export")
    def export(segment: str = typer.Argument(..., help="Segment id or name"),
               output: Path | None = typer.Option(None, "-o", "--output", help="CSV file (default: stdout)")) -> None:
        """Write the members' contact columns as CSV (formula-like cells neutralised)."""
        from loyalist.segments import service

        with cli_unit_of_work() as session:
            sid = _segment_id(session, segment)
            chunks = service.export_csv(session, segment_id=sid, actor=CLI_ACTOR)
            if output is None:
                for chunk in chunks:
                    sys.stdout.write(chunk)
                return
            with output.open("w", encoding="utf-8", newline="") as fh:
                for chunk in chunks:
                    fh.write(chunk)
        console.print(f"[green]written {output}[/green]")

    @segments.command("verify-summaries")
    def verify_summaries() -> None:
        """Compare the derived tables with a recomputation from purchases and consent history."""
        from loyalist.segments import service

        with cli_unit_of_work() as session:
            found = service.verify_summaries(session)
        if found:
            for line in found:
                err_console.print(line)
            err_console.print("[red]derived tables differ from their source rows[/red]: "
                              "run `loyalist segments rebuild-summaries`")
            raise typer.Exit(code=1)
        console.print("[green]derived tables agree with purchases and consent history[/green]")

    @segments.command("rebuild-summaries")
    def rebuild_summaries() -> None:
        """Recompute purchase summaries and current consents from their source tables."""
        from loyalist.segments import service

        with cli_unit_of_work() as session:
            result = service.rebuild_summaries(session, actor=CLI_ACTOR)
        console.print(f"rebuilt: {result['customers_with_purchases']} customer purchase summaries, "
                      f"{result['current_consents']} current consents, rolling spend as of "
                      f"{result['rolling_as_of']} ({result['seconds']:.1f} s)")

    @segments.command("refresh-rolling")
    def refresh_rolling(day: str | None = typer.Option(None, "--day",
                                                       help="UTC day YYYY-MM-DD (default today)")) -> None:
        """Recompute the rolling 30/90/365-day spend per customer as of a day's UTC midnight."""
        import datetime as dt

        from loyalist.segments import service

        try:
            when = None if day is None else dt.date.fromisoformat(day)
        except ValueError:
            err_console.print(f"[red]--day: expected YYYY-MM-DD, got {day!r}[/red]")
            raise typer.Exit(code=2) from None
        with cli_unit_of_work() as session:
            result = service.refresh_rolling_spend(session, actor=CLI_ACTOR, day=when)
        console.print(f"rolling spend as of {result['as_of']}: customers per window {result['customers']} "
                      f"({result['seconds']:.1f} s)")

    app.add_typer(segments, name="segments")
