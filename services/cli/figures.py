"""The figure commands: `standings`, `funnel`, `statement`, `unmatched`.

They read finished documents from the read-model store and print them: `--json` prints
the stored document byte for byte (the contract's shape, what BI tools parse), the
default prints a table for a person. No figure is computed here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from events.log import log_path
from projections.periods import current_month, default_month, months_among
from services.cli.app import settings_from
from services.project.readstore import ReadStore

data_opt = Annotated[Path | None, typer.Option("--data", help="data directory (default ./var)")]
period_opt = Annotated[
    str | None, typer.Option("--period", help="2026-08, 2026-Q3 or 2026 (default: this month, else the latest)")
]
rep_opt = Annotated[str, typer.Option("--rep", help="rep id")]
json_opt = Annotated[bool, typer.Option("--json", help="print only JSON on stdout")]

RAG_STYLE = {"green": "green", "yellow": "yellow", "red": "red", "none": "dim"}
RAG_MARK = {"green": "● green", "yellow": "◐ yellow", "red": "○ red", "none": "· none"}


class FiguresError(Exception):
    """A reader-facing problem: one line saying what is wrong and what to do."""


def open_store(data_dir: Path) -> ReadStore:
    store = ReadStore.open_current(data_dir)
    if store is None:
        raise FiguresError(f"no read models in {data_dir}: start `quotaboard up --data {data_dir}` "
                           "and import events first")
    return store


def pick_period(store: ReadStore, period: str | None, now: datetime | None = None) -> str:
    """The asked period, else the default month (projections.periods.default_month) as of
    `now` (default the clock) in the business timezone, as the TUI does."""
    periods = store.periods()
    if period:
        if period not in periods:
            known = ", ".join(months_among(periods))[-60:] or "none yet"
            raise FiguresError(f"no figures for period {period!r} (months with figures: {known})")
        return period
    month = default_month(months_among(periods), current_month(now or datetime.now(UTC)))
    if month is None:
        raise FiguresError("no figures yet: import events first")
    return month


def emit_json(doc: object) -> None:
    """A document (a read-model Struct, or builtins) as cli.md's JSON: compact, UTF-8, in the
    documents' field order."""
    data = msgspec.to_builtins(doc)
    sys.stdout.buffer.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    sys.stdout.flush()


def _ratio_pct(value: str | None) -> str:
    return "—" if value is None else f"{Decimal(value) * 100:.1f}%"


def _money(value: str | None) -> str:
    return "—" if value is None else f"{Decimal(value):,.2f}"


def _console() -> Console:
    """A terminal's own width; piped into a file or a pager, wide enough not to truncate."""
    return Console(width=None if sys.stdout.isatty() else 160)


def _rag(value: str | None) -> str:
    """RAG in colour and, for a screen without colour, as a symbol and a word."""
    return f"[{RAG_STYLE.get(value, '')}]{RAG_MARK.get(value, value)}[/]"


def _period_doc(data_dir: Path, period: str | None, read) -> tuple[str, Any]:
    """The period asked for (or the default one) and its document, read by `read(store, period)`."""
    with open_store(data_dir) as store:
        period = pick_period(store, period)
        return period, read(store, period)


def show_standings(data_dir: Path, period: str | None, as_json: bool) -> None:
    period, doc = _period_doc(data_dir, period, ReadStore.standings)
    if as_json:
        emit_json(doc)
        return
    console = _console()
    console.print(f"[bold]Standings {period}[/]  ruleset {doc.ruleset.id}  position {doc.position}")
    if pub := doc.publication:
        console.print(f"published {pub.published_at}; objection window closes {pub.window_closes}; "
                      f"{pub.objections_open} open objections; payout {pub.payout}")
    scopes = [("team", doc.team), ("region", doc.regions), ("product line", doc.product_lines)]
    summary = Table("scope", "id", "target", "bookings", "attainment", "RAG", "deals won", "collections")
    for label, entries in scopes:
        for key, m in entries.items():
            summary.add_row(label, key, _money(m.target), _money(m.bookings), _ratio_pct(m.attainment),
                            _rag(m.rag), str(m.deals_won), _money(m.collections))
    console.print(summary)
    reps = Table("rank", "rep", "region", "target", "bookings", "attainment", "gap", "RAG", "won", "incentive")
    ranked = sorted(doc.reps.items(), key=lambda kv: -Decimal(kv[1].bookings))
    for rank, (rep_id, r) in enumerate(ranked, 1):
        reps.add_row(str(rank), f"{r.name} ({rep_id})", r.region or "", _money(r.target),
                     _money(r.bookings), _ratio_pct(r.attainment), _money(r.gap),
                     _rag(r.rag), str(r.deals_won), _money(r.total))
    console.print(reps)


def show_funnel(data_dir: Path, period: str | None, as_json: bool) -> None:
    period, doc = _period_doc(data_dir, period, ReadStore.funnel)
    if as_json:
        emit_json(doc)
        return
    console = _console()
    console.print(f"[bold]Funnel {period}[/] (deals created in the period)")
    stages = msgspec.structs.asdict(doc.stages)
    top = max(stages.values(), default=0) or 1
    table = Table("stage", "reached", "", "conversion to next")
    conversions = list(doc.conversion.values())
    for i, (stage, count) in enumerate(stages.items()):
        bar = "█" * round(30 * count / top)
        table.add_row(stage, str(count), bar, _ratio_pct(conversions[i]) if i < len(conversions) else "")
    console.print(table)
    sources = Table("lead source", "created", "won")
    for source, row in doc.by_source.items():
        sources.add_row(source, str(row.created), str(row.won))
    console.print(sources)


def show_statement(data_dir: Path, rep_id: str, period: str | None, as_json: bool) -> None:
    period, doc = _period_doc(data_dir, period, lambda store, p: store.statement(p, rep_id))
    if doc is None:
        raise FiguresError(f"no statement for rep {rep_id!r} in {period}")
    if as_json:
        emit_json(doc)
        return
    console = _console()
    console.print(f"[bold]Statement {period} — {doc.name} ({rep_id}), {doc.region}[/]")
    console.print(f"bookings {_money(doc.bookings)} of target {_money(doc.target)}: "
                  f"{_ratio_pct(doc.attainment)} {_rag(doc.rag)}")
    if doc.honours:
        console.print("honours: " + ", ".join(doc.honours))
    lines = Table("component", "amount", "explanation")
    for line in doc.statement:
        lines.add_row(line.component, _money(line.amount), line.explanation)
    lines.add_row("[bold]total[/]", f"[bold]{_money(doc.total)}[/]", "")
    console.print(lines)
    deals = Table("deal", "customer", "product", "amount", "status", "closed at")
    for deal in doc.deals:
        deals.add_row(deal.id, str(deal.customer or ""), str(deal.product_line or ""),
                      _money(deal.amount), deal.status, deal.closed_at or "")
    console.print(deals)


def logged_conflicts(data_dir: Path) -> list[dict]:
    """Ids sent again with other content, from the event log's conflicts table (the first
    content is the one stored; an operator settles the rest with the source)."""
    from events.log import EventLog, LogNotFound

    try:
        with EventLog(log_path(data_dir), readonly=True) as log:
            return [{"id": c.id, "stored_hash": c.stored_hash, "new_hash": c.new_hash,
                     "seen_at": c.seen_at.isoformat()} for c in log.conflicts(limit=1000)]
    except LogNotFound:
        return []


def show_unmatched(data_dir: Path, as_json: bool) -> None:
    with open_store(data_dir) as store:
        doc = store.unmatched()
    if doc is None:
        raise FiguresError("no read models yet: import events first")
    conflicts = logged_conflicts(data_dir)
    if as_json:
        emit_json({**msgspec.to_builtins(doc), "conflicts": conflicts})
        return
    console = _console()
    table = Table("position", "event id", "type", "occurred at", "waiting for")
    for deal_id, items in doc.deals.items():
        for item in items:
            table.add_row(str(item.position), item.id, item.type, item.occurred_at, f"deal {deal_id}")
    for item in doc.payments:
        table.add_row(str(item.position), item.id, item.type, item.occurred_at,
                      f"{item.reason}: {item.explanation}")
    for item in doc.rejected:
        table.add_row(str(item.position), item.id, item.type, item.occurred_at or "",
                      item.reason or item.error or "rejected")
    console.print(f"[bold]Unmatched events[/]: {doc.count} (as of position {doc.position})")
    console.print(table)
    if conflicts:
        clash = Table("event id", "stored sha256", "re-sent sha256", "seen at")
        for c in conflicts:
            clash.add_row(c["id"], c["stored_hash"][:16], c["new_hash"][:16], c["seen_at"])
        console.print(f"[bold]Conflicts[/]: {len(conflicts)} ids sent again with other content (the first is kept)")
        console.print(clash)
    if doc.set_aside:
        aside = Table("position", "event id", "type", "occurred at", "reason")
        for item in doc.set_aside:
            aside.add_row(str(item.position), item.id, item.type, item.occurred_at or "", item.reason)
        console.print(f"[bold]Set aside[/]: {len(doc.set_aside)} events the fold cannot compute on "
                      "(not in any figure)")
        console.print(aside)


def run(fn: Callable[[Path], None], data: Path | None) -> None:
    """`fn(data_dir)` for a figures command: a FiguresError is one line and exit 1."""
    try:
        fn(settings_from(data).data_dir)
    except FiguresError as exc:
        typer.echo(f"quotaboard: {exc}", err=True)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Adds `standings`, `funnel`, `statement` and `unmatched` to the `quotaboard` command."""

    @app.command("standings")
    def standings_cmd(period: period_opt = None, data: data_opt = None, as_json: json_opt = False) -> None:
        """Team, regions, product lines and reps: actual, target, 达成率, RAG, statements."""
        run(lambda d: show_standings(d, period, as_json), data)

    @app.command("funnel")
    def funnel_cmd(period: period_opt = None, data: data_opt = None, as_json: json_opt = False) -> None:
        """The cohort funnel (销售漏斗) of deals created in the period, by lead source."""
        run(lambda d: show_funnel(d, period, as_json), data)

    @app.command("statement")
    def statement_cmd(rep: rep_opt, period: period_opt = None, data: data_opt = None, as_json: json_opt = False) -> None:
        """One rep's incentive statement, line by line, with the deals behind it."""
        run(lambda d: show_statement(d, rep, period, as_json), data)

    @app.command("unmatched")
    def unmatched_cmd(data: data_opt = None, as_json: json_opt = False) -> None:
        """Events still waiting for what they refer to (CRM-versus-finance reconciliation)."""
        run(lambda d: show_unmatched(d, as_json), data)
