"""`loyalist customers ...`: find, inspect, merge, export and erase customers."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console


def register(app: typer.Typer) -> None:
    customers = typer.Typer(help="Customer profiles, duplicates and GDPR requests.", no_args_is_help=True)

    @customers.command("list")
    def list_(
        q: str = typer.Option(None, "--q", "-q", help="Substring of name, email, phone or external id"),
        tag: str = typer.Option(None, "--tag"),
        status: str = typer.Option(None, "--status", help="active, closed, merged, erased"),
        limit: int = typer.Option(50, "--limit"),
        offset: int = typer.Option(0, "--offset"),
    ) -> None:
        """Search customers (ordered by id)."""
        from loyalist.customers import service

        with cli_unit_of_work() as session:
            page = service.list_customers(session, q=q, tag=tag, status=status, limit=limit, offset=offset)
        table = Table("id", "external id", "name", "email", "phone", "status", "tags",
                      title=f"{page.total} customer(s), showing {len(page.items)} from {page.offset}")
        for c in page.items:
            table.add_row(str(c.id), c.external_id or "", c.name or "", c.email or "", c.phone or "", c.status,
                          ", ".join(c.tags))
        console.print(table)

    @customers.command("show")
    def show(
        customer_id: int = typer.Argument(None, help="Customer id"),
        external_id: str = typer.Option(None, "--external-id", help="Look up by the shop's own id"),
        recent: int = typer.Option(10, "--recent", help="Timeline rows to show"),
    ) -> None:
        """Profile, addresses, consents and recent timeline of one customer."""
        from loyalist.customers import service

        with cli_unit_of_work() as session:
            if customer_id is None:
                customer_id = service.get_customer_by_external_id(session, external_id or "").id
            view = service.customer_360(session, customer_id, recent=recent)
        p = view.profile
        profile = Table("field", "value", title=f"customer {p.id}", show_header=False)
        for field in ("external_id", "name", "email", "phone", "birthday", "locale", "timezone",
                      "preferred_channel", "status", "merged_into_id"):
            value = getattr(p, field)
            profile.add_row(field, "" if value is None else str(value))
        profile.add_row("tags", ", ".join(p.tags))
        profile.add_row("values", ", ".join(p.values))
        console.print(profile)
        if view.addresses:
            addresses = Table("label", "address", "since", title="addresses")
            for a in view.addresses:
                text = ", ".join(x for x in (a.line1, a.line2, a.postal_code, a.city, a.country) if x)
                addresses.add_row(a.label, text, a.valid_from.isoformat(timespec="seconds"))
            console.print(addresses)
        if view.consents:
            consents = Table("channel", "granted", "since", "source", title="consents")
            for c in view.consents:
                consents.add_row(c.channel, "yes" if c.granted else "no", c.recorded_at.isoformat(timespec="seconds"),
                                 c.source)
            console.print(consents)
        timeline = Table("when", "kind", "channel", "summary", title=f"timeline ({view.timeline_total} rows)")
        for i in view.recent:
            timeline.add_row(i.occurred_at.isoformat(timespec="seconds"), i.kind, i.channel, i.summary)
        console.print(timeline)
        for name, section in view.sections.items():
            console.print(f"[bold]{name}[/bold]: {json.dumps(section, default=str)}")

    @customers.command("duplicates")
    def duplicates() -> None:
        """Live customers that share an email or phone number."""
        from loyalist.customers import service

        with cli_unit_of_work() as session:
            groups = service.find_duplicates(session)
        table = Table("match", "value", "customer ids", title=f"{len(groups)} group(s)")
        for g in groups:
            table.add_row(g.match, g.value, ", ".join(map(str, g.customer_ids)))
        console.print(table)

    @customers.command("merge")
    def merge(survivor_id: int, duplicate_id: int) -> None:
        """Merge DUPLICATE_ID into SURVIVOR_ID (history, addresses, consents, points move)."""
        from loyalist.customers import service

        with cli_unit_of_work() as session:
            result = service.merge_customers(session, survivor_id=survivor_id, duplicate_id=duplicate_id,
                                             actor=CLI_ACTOR)
        table = Table("moved", "rows", title=f"customer {duplicate_id} merged into {survivor_id}")
        for kind, n in result.moved.items():
            table.add_row(kind, str(n))
        console.print(table)

    @customers.command("export")
    def export(
        customer_id: int,
        output: Path = typer.Option(None, "--output", "-o", help="Write JSON here instead of stdout"),
    ) -> None:
        """GDPR export of everything held about a customer, as JSON."""
        from loyalist.customers import service

        with cli_unit_of_work() as session:
            data = service.export_customer(session, customer_id)
        text = json.dumps(data, indent=2, ensure_ascii=False)
        if output is None:
            typer.echo(text)
        else:
            output.write_text(text, encoding="utf-8")
            console.print(f"export of customer {customer_id} written to {output}")

    @customers.command("erase")
    def erase(
        customer_id: int,
        yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation"),
    ) -> None:
        """GDPR erasure: anonymise personal data, keep ids, points and amounts."""
        from loyalist.customers import service

        if not yes:
            typer.confirm(f"Erase the personal data of customer {customer_id}? This cannot be undone", abort=True)
        with cli_unit_of_work() as session:
            service.erase_customer(session, customer_id=customer_id, actor=CLI_ACTOR)
        console.print(f"customer {customer_id} erased")

    app.add_typer(customers, name="customers")
