"""`loyalist scores ...`: refresh every customer's scores, show one customer's."""

from __future__ import annotations

import typer

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console


def register(app: typer.Typer) -> None:
    scores = typer.Typer(help="Per-customer analytics scores (RFM, churn risk, CLV).", no_args_is_help=True)

    @scores.command("refresh")
    def refresh(model: str = typer.Option("bgnbd", help="bgnbd | paretonbd | mbgnbd"),
                horizon: int = typer.Option(90, "--churn-horizon-days", help="Churn horizon in days")) -> None:
        """Recompute RFM, P(alive), churn risk and predicted CLV for every customer with purchases."""
        from loyalist.scores import service

        with cli_unit_of_work() as session:
            result = service.refresh(session, actor=CLI_ACTOR, model=model, churn_horizon_days=horizon)
        console.print(f"[green]{result.customers} customer(s) scored[/green], {result.removed} removed, "
                      f"model {result.model}, churn from {result.churn_source}, {result.seconds:.2f} s")
        for note in result.notes:
            console.print(f"  note: {note}")

    @scores.command("show")
    def show(customer_id: int) -> None:
        """One customer's latest scores and churn reasons."""
        from loyalist.scores import service

        with cli_unit_of_work() as session:
            s = service.get_scores(session, customer_id)
        console.print(f"customer {s.customer_id}: {s.rfm_segment} (RFM {s.rfm_score}), churn risk "
                      f"{'-' if s.churn_risk is None else f'{s.churn_risk:.2f}'}, P(alive) "
                      f"{'-' if s.p_alive is None else f'{s.p_alive:.2f}'}, predicted CLV {s.predicted_clv or '-'}, "
                      f"to date {s.historical_clv}")
        for r in s.churn_reasons:
            console.print(f"  - {r.text}")

    app.add_typer(scores, name="scores")
