"""`loyalist offers ...`: list, issue, birthday run, recommendations, redeem a code, RSVP summary."""

from __future__ import annotations

from decimal import Decimal

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console


def register(app: typer.Typer) -> None:
    offers = typer.Typer(help="Personalised offers.", no_args_is_help=True)

    @offers.command("list")
    def list_() -> None:
        """Offer definitions."""
        from loyalist.offers import service

        with cli_unit_of_work() as session:
            rows = service.list_offers(session)
        table = Table("id", "kind", "name", "reward", "active")
        for o in rows:
            table.add_row(str(o.id), o.kind, o.name, o.reward_type, "yes" if o.active else "no")
        console.print(table)

    @offers.command("issue")
    def issue(offer_id: int, customer_id: int,
              key: str | None = typer.Option(None, help="Idempotency key (default manual:<offer>:<customer>)")
              ) -> None:
        """Give an offer to one customer."""
        from loyalist.offers import service

        with cli_unit_of_work() as session:
            row = service.issue_offer(session, offer_id=offer_id, customer_id=customer_id, actor=CLI_ACTOR,
                                      issue_key=key or f"manual:{offer_id}:{customer_id}")
        console.print(f"issue {row.id}: {row.headline}" + (f" code {row.code}" if row.code else ""))

    @offers.command("issue-audience")
    def issue_audience(offer_id: int) -> None:
        """Give an offer to everyone in its audience (re-runnable)."""
        from loyalist.offers import service

        with cli_unit_of_work() as session:
            r = service.issue_to_audience(session, offer_id=offer_id, actor=CLI_ACTOR)
        console.print(f"eligible {r.eligible}, issued {r.issued}, already {r.already}, over limit {r.skipped}")

    @offers.command("birthdays")
    def birthdays() -> None:
        """Issue birthday offers due today (customers' own timezones; once a year)."""
        from loyalist.offers import service

        with cli_unit_of_work() as session:
            r = service.issue_birthday_offers(session, actor=CLI_ACTOR)
        console.print(f"{r.issued} birthday offer(s) issued, {r.already} already had theirs")

    @offers.command("recommend")
    def recommend(customer_id: int, limit: int = typer.Option(3, help="How many items")) -> None:
        """Products to suggest to a customer (co-purchase, then popular in their categories)."""
        from loyalist.offers import service

        with cli_unit_of_work() as session:
            recs = service.recommendations(session, customer_id, limit=limit)
        table = Table("sku", "score", "source")
        for r in recs:
            table.add_row(r.sku, f"{r.score:g}", r.source)
        console.print(table)

    @offers.command("redeem")
    def redeem(code: str, amount: str | None = typer.Option(None, help="Order amount (percent discounts)"),
               order_ref: str | None = typer.Option(None, "--order-ref")) -> None:
        """Use an offer code at the till (exactly once)."""
        from loyalist.offers import service

        with cli_unit_of_work() as session:
            row = service.redeem_code(session, code=code, actor=CLI_ACTOR,
                                      order_amount=Decimal(amount) if amount else None, order_ref=order_ref)
        console.print(f"[green]{row.code} redeemed[/green], discount {row.cost}")

    @offers.command("rsvps")
    def rsvps(offer_id: int) -> None:
        """Who is coming to an event (confirmed, waitlist in order, maybe, declined)."""
        from loyalist.offers import service

        with cli_unit_of_work() as session:
            s = service.rsvp_summary(session, offer_id)
        cap = "unlimited" if s.capacity is None else str(s.capacity)
        console.print(f"capacity {cap}: {s.confirmed} confirmed, {s.waitlisted} waitlisted, {s.maybe} maybe, "
                      f"{s.declined} declined")

    app.add_typer(offers, name="offers")
