"""`loyalist rewards ...`: catalogue listing, voucher check/consume at a till, voucher expiry."""

from __future__ import annotations

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console


def register(app: typer.Typer) -> None:
    rewards = typer.Typer(help="Rewards catalogue and vouchers.", no_args_is_help=True)

    @rewards.command("list")
    def list_(all_: bool = typer.Option(False, "--all", help="Include inactive rewards")) -> None:
        """List the catalogue, cheapest first."""
        from loyalist.rewards import service

        with cli_unit_of_work() as session:
            rows = service.list_rewards(session, active=None if all_ else True)
        table = Table("id", "kind", "name", "points", "stock", "redeemed", "active")
        for r in rows:
            table.add_row(str(r.id), r.kind, r.name, str(r.cost_points), "∞" if r.stock is None else str(r.stock),
                          str(r.redeemed_count), "yes" if r.active else "no")
        console.print(table)

    @rewards.command("check")
    def check(code: str) -> None:
        """Show a voucher without using it."""
        from loyalist.rewards import service

        with cli_unit_of_work() as session:
            v = service.validate_voucher(session, code=code)
        state = "[green]usable[/green]" if v.usable else f"[red]not usable: {v.reason}[/red]"
        console.print(f"{v.code}: {v.reward.name} for customer {v.customer_id} ({v.customer_name or '-'}), "
                      f"expires {v.expires_at:%Y-%m-%d}; {state}")

    @rewards.command("consume")
    def consume(code: str, store: str | None = typer.Option(None, help="Store where it is used"),
                order_ref: str | None = typer.Option(None, "--order-ref", help="Order/receipt reference")) -> None:
        """Use a voucher (exactly once)."""
        from loyalist.rewards import service

        with cli_unit_of_work() as session:
            v = service.consume_voucher(session, code=code, actor=CLI_ACTOR, store=store, order_ref=order_ref)
        console.print(f"[green]{v.code} consumed[/green]")

    @rewards.command("expire-vouchers")
    def expire(refund: bool = typer.Option(False, "--refund", help="Give the points back for expired vouchers")
               ) -> None:
        """Mark issued vouchers past their expiry as expired (re-runnable)."""
        from loyalist.rewards import service

        with cli_unit_of_work() as session:
            result = service.expire_vouchers(session, actor=CLI_ACTOR, refund=refund)
        console.print(f"{result.expired} voucher(s) expired, {result.refunded} refunded")

    app.add_typer(rewards, name="rewards")
