"""`loyalist campaigns ...`: create, launch, results (incrementality vs the holdout), list."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console


def _ci(e) -> str:  # type: ignore[no-untyped-def]
    return "-" if e is None else f"{e.estimate:+.4g} [{e.low:+.4g}, {e.high:+.4g}]"


def register(app: typer.Typer) -> None:
    campaigns = typer.Typer(help="Campaigns measured against a control group.", no_args_is_help=True)

    @campaigns.command("create")
    def create(
        name: str = typer.Option(..., help="Campaign name"),
        segment: int | None = typer.Option(None, "--segment", help="Audience segment id"),
        customers: str | None = typer.Option(None, "--customers", help="Comma-separated customer ids"),
        offer: int | None = typer.Option(None, "--offer", help="Offer id given to the treatment group"),
        template: str | None = typer.Option(None, "--template", help="Message template key"),
        channel: str = typer.Option("email", help="email or sms"),
        control: int = typer.Option(10, "--control", help="Control group size in percent"),
        budget: str | None = typer.Option(None, help="Maximum cost"),
        message_cost: str = typer.Option("0", "--message-cost", help="Cost of one message"),
        margin: str = typer.Option("0.3", help="Gross margin used for ROI (0-1)"),
        attribution_days: int = typer.Option(30, "--attribution-days"),
        starts_at: datetime | None = typer.Option(None, "--starts-at", help="Launch time (ISO, with zone)"),
        ends_at: datetime | None = typer.Option(None, "--ends-at"),
        seed: str | None = typer.Option(None, help="Holdout seed (default random)"),
    ) -> None:
        """Create a campaign (scheduled when --starts-at is given, else a draft)."""
        from loyalist.campaigns import service
        from loyalist.campaigns.schemas import CampaignCreate

        ids = [int(x) for x in customers.split(",") if x.strip()] if customers else None
        data = CampaignCreate(
            name=name, segment_id=segment, customer_ids=ids, offer_id=offer, template=template,
            channel=channel,  # type: ignore[arg-type]
            control_percent=control, budget=Decimal(budget) if budget else None, message_cost=Decimal(message_cost),
            margin=Decimal(margin), attribution_days=attribution_days, starts_at=starts_at, ends_at=ends_at, seed=seed)
        with cli_unit_of_work() as session:
            row = service.create_campaign(session, data=data, actor=CLI_ACTOR)
        console.print(f"campaign {row.id} created ({row.status}, seed {row.seed})")

    @campaigns.command("launch")
    def launch(campaign_id: int) -> None:
        """Draw the holdout and serve the treatment group (idempotent)."""
        from loyalist.campaigns import service

        with cli_unit_of_work() as session:
            r = service.launch(session, campaign_id=campaign_id, actor=CLI_ACTOR)
        note = " (already launched)" if r.already_launched else ""
        console.print(f"campaign {campaign_id}{note}: audience {r.audience}, treatment {r.treatment}, "
                      f"control {r.control}, sent {r.sent}, stopped by budget {r.budget_stopped}")
        table = Table("stratum", "treatment", "control")
        for s in r.strata:
            table.add_row(s.stratum, str(s.treatment), str(s.control))
        console.print(table)

    @campaigns.command("results")
    def results(campaign_id: int) -> None:
        """Conversion, revenue and retention vs control with 95 % CIs, cost and ROI."""
        from loyalist.campaigns import service

        with cli_unit_of_work() as session:
            r = service.results(session, campaign_id=campaign_id)
        table = Table("group", "customers", "converted", "rate", "revenue", "per customer", "retained")
        for name, g in (("treatment", r.treatment), ("control", r.control)):
            table.add_row(name, str(g.customers), str(g.converted), f"{g.conversion_rate:.2%}", str(g.revenue),
                          str(g.revenue_per_customer), f"{g.retention_rate:.2%}")
        console.print(table)
        console.print(f"incremental conversion: {_ci(r.incremental_conversion)}")
        console.print(f"incremental revenue: {_ci(r.incremental_revenue)}")
        console.print(f"incremental retention: {_ci(r.incremental_retention)}")
        roi = "-" if r.roi is None else f"{r.roi:.2f}"
        console.print(f"cost {r.cost} (offers {r.offer_cost}, {r.messages_sent} messages {r.message_cost}); "
                      f"ROI {roi}")
        for n in r.notes:
            console.print(f"[yellow]note:[/yellow] {n}")

    @campaigns.command("list")
    def list_() -> None:
        """All campaigns, newest first."""
        from loyalist.campaigns import service

        with cli_unit_of_work() as session:
            rows = service.list_campaigns(session)
        table = Table("id", "name", "status", "control %", "launched")
        for c in rows:
            table.add_row(str(c.id), c.name, c.status, str(c.control_percent),
                          c.launched_at.isoformat() if c.launched_at else "-")
        console.print(table)

    app.add_typer(campaigns, name="campaigns")
