"""`loyalist messages ...`: look at the outbox, resend dead messages, send a test, preview templates."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console


def register(app: typer.Typer) -> None:
    messages = typer.Typer(help="Outbox, templates and suppressions.", no_args_is_help=True)

    @messages.command("list")
    def list_(status: str | None = typer.Option(None, help="queued, sending, sent, failed, dead, ..."),
              customer: int | None = typer.Option(None, "--customer", help="Customer id"),
              limit: int = typer.Option(50, min=1, max=500)) -> None:
        """Newest messages first."""
        from loyalist.messaging import service

        with cli_unit_of_work() as session:
            page = service.list_messages(session, status=status, customer_id=customer, limit=limit)
        table = Table("id", "channel", "customer", "category", "status", "reason", "tries", "subject / text")
        for m in page.items:
            table.add_row(str(m.id), m.channel, str(m.customer_id or "-"), m.category, m.status, m.reason or "",
                          str(m.attempts), (m.subject or m.text or m.event or "")[:50])
        console.print(table)
        console.print(f"{len(page.items)} of {page.total}")

    @messages.command("stats")
    def stats() -> None:
        """Outbox depth per status and the age of the oldest due message."""
        from loyalist.messaging import service

        with cli_unit_of_work() as session:
            data = service.outbox_stats(session)
        table = Table("status", "messages")
        for status, count in sorted(data["by_status"].items()):
            table.add_row(status, str(count))
        console.print(table)
        console.print(f"oldest due message waits {data['oldest_due_age_seconds']:.0f} s")

    @messages.command("resend")
    def resend(message_id: int) -> None:
        """Queue a dead or failed message again."""
        from loyalist.messaging import service

        with cli_unit_of_work() as session:
            m = service.resend(session, message_id=message_id, actor=CLI_ACTOR)
        console.print(f"[green]message {m.id} queued again[/green]")

    @messages.command("send")
    def send(to: str = typer.Option(..., help="Email address or phone number"),
             subject: str = typer.Option("Test from Loyalist", help="Email subject"),
             text: str = typer.Option("This is a test message.", help="Body text"),
             channel: str = typer.Option("email", help="email or sms"),
             key: str | None = typer.Option(None, "--dedupe-key", help="Idempotency key (default: random)")) -> None:
        """Enqueue one transactional test message (the worker sends it)."""
        import secrets

        from loyalist.messaging import service

        with cli_unit_of_work() as session:
            m = service.enqueue(session, channel=channel, customer_id=None, to=to, subject=subject, text=text,
                                dedupe_key=key or f"cli:{secrets.token_hex(8)}", actor=CLI_ACTOR,
                                category="transactional", source_type="cli")
        console.print(f"message {m.id} {m.status}")

    @messages.command("preview")
    def preview(template: str, customer: int | None = typer.Option(None, "--customer"),
                locale: str | None = typer.Option(None, help="en, ru, uk or da"),
                context: str = typer.Option("{}", help="JSON object of extra variables")) -> None:
        """Render a stored template for a customer without sending it."""
        from loyalist.errors import ValidationFailed
        from loyalist.messaging import service
        from loyalist.messaging.schemas import PreviewRequest

        with cli_unit_of_work() as session:
            try:
                variables = json.loads(context)
            except ValueError as exc:
                raise ValidationFailed(f"context: not JSON: {exc}", field="context") from exc
            out = service.preview(session, data=PreviewRequest(key=template, customer_id=customer, locale=locale,
                                                               context=variables))
        console.print(f"[bold]locale[/bold] {out.locale}\n[bold]subject[/bold] {out.subject or '-'}\n")
        console.print(out.text, markup=False)

    @messages.command("templates")
    def templates() -> None:
        """Stored templates and their locales."""
        from loyalist.messaging import service

        with cli_unit_of_work() as session:
            rows = service.list_templates(session)
        table = Table("id", "key", "locale", "subject")
        for t in rows:
            table.add_row(str(t.id), t.key, t.locale, t.subject or "")
        console.print(table)

    @messages.command("suppressions")
    def suppressions() -> None:
        """Addresses nothing (or no marketing) is sent to."""
        from loyalist.messaging import service

        with cli_unit_of_work() as session:
            rows = service.list_suppressions(session)
        table = Table("id", "channel", "address", "reason", "since")
        for r in rows:
            table.add_row(str(r.id), r.channel, r.address_hint, r.reason, f"{r.created_at:%Y-%m-%d}")
        console.print(table)

    app.add_typer(messages, name="messages")
