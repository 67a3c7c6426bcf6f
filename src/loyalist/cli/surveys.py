"""`loyalist surveys ...`: ready templates, create from a template, invite a list, remind, results."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console, err_console


def _ids(customers: str | None, file: Path | None) -> list[int]:
    """Customer ids from `--customers 1,2,3` and/or a file with one id per line (# comments)."""
    raw: list[str] = []
    if customers:
        raw += [p for p in customers.replace(" ", ",").split(",") if p]
    if file is not None:
        for line in file.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                raw += [p for p in line.replace(";", ",").split(",") if p.strip()]
    ids = []
    for i, part in enumerate(raw, 1):
        try:
            ids.append(int(part.strip()))
        except ValueError:
            err_console.print(f"[red]error:[/red] customer id #{i} {part!r} is not a number")
            raise typer.Exit(code=2) from None
    if not ids:
        err_console.print("[red]error:[/red] give --customers and/or --file")
        raise typer.Exit(code=2)
    return ids


def _utc(value: datetime | None) -> datetime | None:
    """Command-line dates without a zone are taken as UTC."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def register(app: typer.Typer) -> None:
    surveys = typer.Typer(help="Surveys: templates, invitations, results.", no_args_is_help=True)

    @surveys.command("templates")
    def templates() -> None:
        """List the ready templates."""
        from loyalist.surveys import service

        table = Table("code", "kind", "name", "questions", "languages")
        for t in service.list_templates():
            table.add_row(t.code, t.kind, t.name, str(t.questions), ", ".join(t.locales))
        console.print(table)

    @surveys.command("create-from-template")
    def create_from_template(
        template: str,
        name: str | None = typer.Option(None, help="Survey name (default: the template's)"),
        locale: str = typer.Option("en", "--locale", help="Default language: en, ru, uk, da"),
        review_link: str | None = typer.Option(None, "--review-link", help="Public review page for promoters"),
        anonymous: bool = typer.Option(False, "--anonymous", help="Also allow answering by an anonymous link"),
    ) -> None:
        """Create a survey from a ready template."""
        from loyalist.surveys import service
        from loyalist.surveys.schemas import FromTemplate

        with cli_unit_of_work() as session:
            s = service.create_from_template(session, data=FromTemplate(
                template=template, name=name, default_locale=locale, review_link=review_link,
                anonymous_link=anonymous), actor=CLI_ACTOR)
        console.print(f"[green]survey {s.id} created[/green]: {s.name} ({len(s.questions)} questions)")
        if s.public_token:
            console.print(f"anonymous link token: {s.public_token}")

    @surveys.command("invite")
    def invite(
        survey_id: int,
        customers: str | None = typer.Option(None, "--customers", help="Comma-separated customer ids"),
        file: Path | None = typer.Option(None, "--file", exists=True, dir_okay=False,
                                         help="File with customer ids, one per line"),
        channel: str = typer.Option("email", help="email or sms"),
        fatigue_days: int = typer.Option(30, "--fatigue-days", help="Skip anyone surveyed in this many days"),
    ) -> None:
        """Send personal survey links to a list of customers (through the outbox)."""
        from loyalist.surveys import service

        ids = _ids(customers, file)
        with cli_unit_of_work() as session:
            r = service.invite(session, survey_id=survey_id, customer_ids=ids, actor=CLI_ACTOR, channel=channel,
                               fatigue_days=fatigue_days)
        skipped = ", ".join(f"{k}: {v}" for k, v in sorted(r.skipped.items())) or "none"
        console.print(f"[green]{r.invited} invited[/green]; skipped {skipped}")

    @surveys.command("remind")
    def remind() -> None:
        """Send due reminders to customers who have not answered (also a worker job)."""
        from loyalist.surveys import service

        with cli_unit_of_work() as session:
            r = service.send_reminders(session, actor=CLI_ACTOR)
        console.print(f"{r.reminded} reminder(s) queued")

    @surveys.command("results")
    def results(
        survey_id: int | None = typer.Argument(None, help="One survey (default: all)"),
        period: str = typer.Option("month", help="week, month or quarter"),
        by: str | None = typer.Option(None, help="tier, tag, store, channel, locale or survey"),
        since: datetime | None = typer.Option(None, help="From (inclusive, UTC)"),
        until: datetime | None = typer.Option(None, help="Until (exclusive, UTC)"),
        confidence: float = typer.Option(0.95, help="Confidence level of the intervals"),
    ) -> None:
        """NPS and CSAT with confidence intervals, trend, groups, response rate, exit reasons."""
        from loyalist.surveys import service

        since_utc, until_utc = _utc(since), _utc(until)
        with cli_unit_of_work() as session:
            r = service.results(session, survey_id=survey_id, since=since_utc, until=until_utc, period=period,
                                by=by, confidence=confidence)
        pct = f"{confidence:.0%}"
        o = r.overall
        console.print(f"responses {o.responses}; NPS {_fmt(o.nps)} ({pct} CI {_fmt(o.nps_ci_low)}.."
                      f"{_fmt(o.nps_ci_high)}, n={o.nps_n}); CSAT {_fmt(o.csat)}% satisfied "
                      f"({pct} CI {_fmt(o.csat_ci_low)}.."
                      f"{_fmt(o.csat_ci_high)}, n={o.csat_n}); response rate "
                      f"{_fmt(r.response_rate)}% ({r.invited_responses}/{r.invitations})")
        for title, rows in ((f"by {period}", r.trend), (f"by {by}", r.groups if by else [])):
            if not rows:
                continue
            table = Table(title, "n", "promoters", "passives", "detractors", "NPS", "NPS CI", "change", "CSAT %",
                          "CSAT CI", title=title)
            for g in rows:
                table.add_row(g.group, str(g.responses), str(g.promoters), str(g.passives), str(g.detractors),
                              _fmt(g.nps), f"{_fmt(g.nps_ci_low)}..{_fmt(g.nps_ci_high)}", _fmt(g.nps_change),
                              _fmt(g.csat), f"{_fmt(g.csat_ci_low)}..{_fmt(g.csat_ci_high)}")
            console.print(table)
        if r.exit_reasons:
            console.print("exit reasons: " + ", ".join(f"{k} {v}" for k, v in r.exit_reasons.items()))

    app.add_typer(surveys, name="surveys")
