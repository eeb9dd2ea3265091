"""The review commands: `scorecard` (考核), `diagnose` (问题定位), `weekly` (周度 trend) and
`review` (复盘报告, services/audit/review.py).

Like the figure commands they print documents the projector stored (computed by the pure
fold, projections/assessment.py and projections/diagnosis.py): `--json` prints the
document, the default a table for a person. No figure is computed here.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from services.cli.app import settings_from
from services.cli.figures import (
    FiguresError,
    data_opt,
    emit_json,
    json_opt,
    open_store,
    period_opt,
    pick_period,
    run,
)

rep_filter_opt = Annotated[str | None, typer.Option("--rep", help="only this rep")]


def console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 160)


def read_doc(data_dir: Path, period: str | None, kind: str) -> tuple[str, Any]:
    with open_store(data_dir) as store:
        period = pick_period(store, period)
        doc = store.doc(kind, period)
    if doc is None:
        raise FiguresError(
            f"no {kind} for {period}: its ruleset has no [assessment], or {period} is not "
            "of the assessment's period (month or quarter, as `[assessment] period` says)"
            if kind == "scorecard"
            else f"no {kind} for {period} yet"
        )
    return period, doc


def show_scorecard(data_dir: Path, period: str | None, as_json: bool) -> None:
    period, doc = read_doc(data_dir, period, "scorecard")
    if as_json:
        emit_json(doc)
        return
    out = console()
    metrics = [i.metric for i in doc.assessment.indicators]
    out.print(f"[bold]Scorecard {period}[/]  ruleset {doc.ruleset.id}")
    table = Table(
        "rep",
        "region",
        *[f"{m} ({i.weight})" for m, i in zip(metrics, doc.assessment.indicators, strict=True)],
        "score",
        "grade",
    )
    ranked = sorted(doc.reps.items(), key=lambda kv: -Decimal(kv[1].score))
    for rep_id, card in ranked:
        cells = []
        for ind in card.indicators:
            cell = ind.points if ind.flag is None else f"[red]{ind.points} ⚑[/]"
            cells.append(cell + (" (cap)" if ind.capped else ""))
        table.add_row(
            f"{card.name} ({rep_id})",
            card.region or "",
            *cells,
            card.score,
            f"[bold]{card.grade or '—'}[/]",
        )
    out.print(table)
    for rep_id, card in ranked:
        for ind in card.indicators:
            if ind.flag:
                out.print(f"⚑ {card.name} ({rep_id}): {ind.flag}")


def show_diagnosis(data_dir: Path, period: str | None, rep_id: str | None, as_json: bool) -> None:
    period, doc = read_doc(data_dir, period, "diagnosis")
    if rep_id is not None:
        if rep_id not in doc.reps:
            raise FiguresError(
                f"rep {rep_id!r} is not below green in {period}: nothing to diagnose"
            )
        doc = msgspec.structs.replace(doc, reps={rep_id: doc.reps[rep_id]})
    if as_json:
        emit_json(doc)
        return
    out = console()
    out.print(
        f"[bold]Diagnosis {period}[/] (cohort: deals created {doc.cohort.from_} to {doc.cohort.to})"
    )
    if not doc.reps:
        out.print("every rep with a target is green")
    for rep_id, rep in doc.reps.items():
        style = "red" if rep.rag == "red" else "yellow"
        out.print(f"[{style}]{rep.headline}[/] ({rep_id})")
        for i, driver in enumerate(rep.drivers, 1):
            out.print(f"  {i}. {driver.explanation}")
        if not rep.drivers:
            out.print("  no driver below 80% of the team's: look at the pipeline's timing")


def show_weekly(data_dir: Path, period: str | None, as_json: bool) -> None:
    period, doc = read_doc(data_dir, period, "weekly")
    if as_json:
        emit_json(doc)
        return
    out = console()
    out.print(
        f"[bold]Weekly bookings {period}[/] (ISO weeks, Monday to Sunday; 环比 against the week before)"
    )
    table = Table("scope", "id", *doc.weeks)
    for label, scopes in (("team", doc.team), ("region", doc.regions)):
        for scope_id, series in scopes.items():
            cells = []
            for row in series.weeks:
                mom = "" if row.mom is None else f" ({Decimal(row.mom) * 100:+.1f}%)"
                cells.append(f"{Decimal(row.bookings):,.0f}{mom}")
            table.add_row(label, scope_id, *cells)
    out.print(table)


def register(app: typer.Typer) -> None:
    """Adds `scorecard`, `diagnose`, `weekly` and `review` to the `quotaboard` command."""

    @app.command("scorecard")
    def scorecard_cmd(
        period: period_opt = None, data: data_opt = None, as_json: json_opt = False
    ) -> None:
        """Each rep's weighted indicators, score and grade (考核) under the ruleset's [assessment]."""
        run(lambda d: show_scorecard(d, period, as_json), data)

    @app.command("diagnose")
    def diagnose_cmd(
        period: period_opt = None,
        rep: rep_filter_opt = None,
        data: data_opt = None,
        as_json: json_opt = False,
    ) -> None:
        """The drivers behind each rep below green (问题定位), each with the rep's and the team's value."""
        run(lambda d: show_diagnosis(d, period, rep, as_json), data)

    @app.command("weekly")
    def weekly_cmd(
        period: period_opt = None, data: data_opt = None, as_json: json_opt = False
    ) -> None:
        """Bookings per ISO week (周度) of the team, regions and reps, with 环比 and the pro-rated target."""
        run(lambda d: show_weekly(d, period, as_json), data)

    @app.command("review")
    def review_cmd(
        period: Annotated[str, typer.Option("--period", help="2026-08, 2026-Q3 or 2026")],
        out: Annotated[Path, typer.Option("--out", help="the HTML file to write")],
        data: data_opt = None,
    ) -> None:
        """The review report (复盘报告): one self-contained HTML file that prints on A4."""
        from services.audit.report import ReportError
        from services.audit.review import review

        try:
            written = review(settings_from(data).data_dir, period, out)
        except ReportError as exc:
            typer.echo(f"quotaboard: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(
            f"wrote {written['html']} ({written['bytes']:,} bytes in {written['seconds']} s)"
        )
