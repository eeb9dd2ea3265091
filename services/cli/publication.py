"""Publication commands (公示, 异议, 发放): `objection raise|resolve`, `objections`,
`payout approve|export` (services/audit/payouts.py does the work).

Refusals print one line saying why and exit 1, having published nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from schemas.read_models import Publication
from services.audit.payouts import (
    PayoutError,
    approve_payout,
    export_payout,
    publication,
    raise_objection,
    resolve_objection,
)
from services.cli.app import DataOpt, JsonOpt, NatsOpt, fail, settings_from
from services.config import ConfigError
from services.runtime.broker import BrokerUnavailable

_PeriodOpt = Annotated[str, typer.Option("--period", help="a published month, e.g. 2026-08")]


def _guarded(fn):
    try:
        return fn()
    except (PayoutError, BrokerUnavailable, ConfigError) as exc:
        raise fail(str(exc)) from None


def objections_doc(doc: Publication, period: str | None) -> dict:
    """`objections --json`: one period's objections with its window, or all, newest first."""
    if period is not None:
        state = doc.periods.get(period)
        if state is None:
            raise PayoutError(
                f"period {period} is not published: no objections can be raised on it yet"
            )
        return {
            "period": period,
            "window_closes": state.window_closes,
            "objections": state.objections,
        }
    every = [o for s in doc.periods.values() for o in s.objections]
    every.sort(key=lambda o: o.raised_at, reverse=True)
    return {"period": None, "window_closes": None, "objections": every}


def register(app: typer.Typer) -> None:
    """Adds `objection`, `objections` and `payout` to the `quotaboard` command."""
    objection = typer.Typer(
        help="Record a rep's objection to a published statement, or its resolution.",
        no_args_is_help=True,
    )
    payout = typer.Typer(
        help="Approve a published month's payout, or export it for payroll.", no_args_is_help=True
    )
    app.add_typer(objection, name="objection")
    app.add_typer(payout, name="payout")

    @objection.command("raise")
    def raise_cmd(
        period: _PeriodOpt,
        rep: Annotated[str, typer.Option("--rep", help="the rep objecting")],
        reason: Annotated[str, typer.Option("--reason", help="what is wrong with the statement")],
        component: Annotated[
            str | None, typer.Option("--component", help="the statement line's component")
        ] = None,
        amount: Annotated[
            str | None, typer.Option("--amount", help="the amount the rep claims")
        ] = None,
        data: DataOpt = None,
        nats: NatsOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Record `objection.raised` on a published month."""
        settings = settings_from(data, nats=nats)
        result = _guarded(
            lambda: raise_objection(
                settings.data_dir,
                period,
                rep,
                reason,
                component=component,
                amount=amount,
                settings=settings,
            )
        )
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False))
        else:
            typer.echo(
                f"objection {result['objection']} raised on {period} for {rep}: {result['state'] or 'recorded'}"
            )

    @objection.command("resolve")
    def resolve_cmd(
        objection_id: Annotated[str, typer.Argument(help="the objection, e.g. O-7")],
        upheld: Annotated[
            str | None, typer.Option("--upheld", help="uphold it with this signed correction")
        ] = None,
        rejected: Annotated[bool, typer.Option("--rejected", help="reject it")] = False,
        note: Annotated[str | None, typer.Option("--note", help="the decision's note")] = None,
        data: DataOpt = None,
        nats: NatsOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Record `objection.resolved`: upheld with a correction, or rejected."""
        settings = settings_from(data, nats=nats)
        result = _guarded(
            lambda: resolve_objection(
                settings.data_dir,
                objection_id,
                upheld=upheld,
                rejected=rejected,
                note=note,
                settings=settings,
            )
        )
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False))
        else:
            paid = result["paid_in"]
            where = (
                ""
                if not paid
                else (" (in the payout)" if paid == "payout" else f" (paid in {paid})")
            )
            typer.echo(f"objection {objection_id} {result['decision']}{where}")

    @app.command("objections")
    def objections_cmd(
        period: Annotated[
            str | None, typer.Option("--period", help="one published month (default: all)")
        ] = None,
        data: DataOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Objections with their state: open, late, upheld, rejected (newest first)."""
        settings = settings_from(data)
        doc = _guarded(lambda: objections_doc(publication(settings.data_dir), period))
        if as_json:
            typer.echo(
                json.dumps(msgspec.to_builtins(doc), ensure_ascii=False, separators=(",", ":"))
            )
            return
        console = Console(width=None if Console().is_terminal else 160)
        if doc["window_closes"]:
            console.print(f"[bold]Objections {period}[/]  window closes {doc['window_closes']}")
        table = Table(
            "id",
            "period",
            "rep",
            "component",
            "state",
            "claimed",
            "amount",
            "raised",
            "resolved",
            "reason",
        )
        for o in doc["objections"]:
            table.add_row(
                o.id,
                o.period,
                o.rep,
                o.component or "",
                o.state,
                o.claimed or "",
                o.amount or "",
                o.raised_at,
                o.resolved_at or "",
                o.reason,
            )
        console.print(table)

    @payout.command("approve")
    def approve_cmd(
        period: _PeriodOpt,
        by: Annotated[
            str | None, typer.Option("--by", help="who approves (default: the OS user)")
        ] = None,
        data: DataOpt = None,
        nats: NatsOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Record `payout.approved`; refused inside the window or with an open objection."""
        settings = settings_from(data, nats=nats)
        result = _guarded(
            lambda: approve_payout(settings.data_dir, period, by=by, settings=settings)
        )
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False))
        elif result["approved"] is False:
            raise fail(f"payout of {period} not approved: {result['reason']}")
        else:
            typer.echo(
                f"payout of {period} approved"
                + (
                    f" at {result['approved_at']}"
                    if result.get("approved_at")
                    else "; the projector shows it shortly"
                )
            )

    @payout.command("export")
    def export_cmd(
        period: _PeriodOpt,
        out: Annotated[Path, typer.Option("--out", help="FILE.csv or FILE.xlsx")],
        data: DataOpt = None,
    ) -> None:
        """Per rep: published total, each correction, payout and approval time; refused before approval."""
        settings = settings_from(data)
        result = _guarded(lambda: export_payout(settings.data_dir, period, out))
        typer.echo(f"wrote {result['file']} ({result['reps']} reps)")
