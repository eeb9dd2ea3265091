"""Objections and payouts from the command line: record `objection.raised`,
`objection.resolved` and `payout.approved`, list the objections, export a payout.

Each command first checks the conditions against the read models (DOMAIN.md
"Publication …") and refuses, saying why, before anything is published: a refusal
changes nothing. What is accepted is published like every event (NATS, then the
recorder), and the fold decides in business order; the command then waits briefly for
the projector to show the outcome. The fold stays the judge: an approval that races an
objection arriving with an earlier `occurred_at` approves nothing, and is listed.
"""

from __future__ import annotations

import asyncio
import csv
import getpass
import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from projections.publication import approval_refusal
from schemas.events import (
    ContractError,
    ObjectionRaised,
    ObjectionRaisedData,
    ObjectionResolved,
    ObjectionResolvedData,
    PayoutApproved,
    PayoutApprovedData,
    contract_decimal,
)
from schemas.read_models import ObjectionDoc, Publication, PublishedMonth
from services.audit.common import publish as _publish
from services.project.readstore import ReadStore

_MONTH = re.compile(r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")
_OBJECTION_ID = re.compile(r"^O-(\d+)$")
NOTHING_PUBLISHED = Publication(periods={}, rejected=[], position=0)


class PayoutError(Exception):
    """A refusal: one line saying what is wrong and what to do; nothing was recorded."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _documents(data_dir: Path) -> tuple[Publication, ReadStore]:
    store = ReadStore.open_current(data_dir)
    if store is None:
        raise PayoutError(
            f"no read models in {data_dir}: start `quotaboard up --data {data_dir}` and import events first"
        )
    return store.publication() or NOTHING_PUBLISHED, store


def publication(data_dir: Path | str) -> Publication:
    doc, store = _documents(Path(data_dir))
    store.close()
    return doc


def _month(period: str) -> str:
    if not _MONTH.match(period):
        raise PayoutError(f"--period {period!r} is not a month: write it like 2026-08")
    return period


def _published(doc: Publication, period: str) -> PublishedMonth:
    state = doc.periods.get(_month(period))
    if state is None:
        raise PayoutError(
            f"period {period} is not published: close it first (`quotaboard close --period {period}`)"
        )
    return state


def _objection(doc: Publication, objection_id: str) -> ObjectionDoc | None:
    for state in doc.periods.values():
        for o in state.objections:
            if o.id == objection_id:
                return o
    return None


def next_objection_id(doc: Publication) -> str:
    numbers = [
        int(m[1])
        for s in doc.periods.values()
        for o in s.objections
        if (m := _OBJECTION_ID.match(o.id))
    ]
    return f"O-{max(numbers, default=0) + 1}"


def _amount(option: str, text: str) -> Decimal:
    try:
        return contract_decimal(text)
    except (ValueError, TypeError) as exc:
        raise PayoutError(f"{option} {text!r}: {exc}") from None


def _wait(data_dir: Path, done, wait: float):
    deadline = time.monotonic() + wait
    while True:
        store = ReadStore.open_current(data_dir)
        if store is not None:
            with store:
                found = done(store.publication() or NOTHING_PUBLISHED)
            if found:
                return found
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def _send(data_dir: Path, event, settings) -> None:
    asyncio.run(_publish(data_dir, [event], settings))


# --- the commands ---------------------------------------------------------------------


def raise_objection(
    data_dir: Path | str,
    period: str,
    rep: str,
    reason: str,
    *,
    component: str | None = None,
    amount: str | None = None,
    settings=None,
    wait: float = 10.0,
) -> dict:
    """Record a rep's objection to P's published statement; its id is the next `O-n`."""
    data_dir = Path(data_dir)
    doc, store = _documents(data_dir)
    with store:
        _published(doc, period)
        standings = store.standings(period)
    if standings is None or rep not in standings.reps:
        raise PayoutError(
            f"--rep {rep!r} has no statement in {period}: check the rep id (`quotaboard standings "
            f"--period {period}`)"
        )
    if not reason.strip():
        raise PayoutError("--reason is empty: say what is wrong with the statement")
    claimed = _amount("--amount", amount) if amount is not None else None
    oid = next_objection_id(doc)
    try:
        event = ObjectionRaised(
            id=f"objection-{oid}",
            occurred_at=_now(),
            source="quotaboard-cli",
            data=ObjectionRaisedData(
                objection_id=oid,
                period=period,
                rep_id=rep,
                reason=reason,
                component=component,
                claimed_amount=claimed,
            ),
        )
    except (ContractError, ValueError) as exc:
        raise PayoutError(f"not a valid objection: {exc}") from None
    _send(data_dir, event, settings)
    shown = _wait(data_dir, lambda d: _objection(d, oid), wait)
    return {"objection": oid, "event_id": event.id, "state": shown.state if shown else None}


def resolve_objection(
    data_dir: Path | str,
    objection_id: str,
    *,
    upheld: str | None,
    rejected: bool,
    note: str | None,
    settings=None,
    wait: float = 10.0,
) -> dict:
    """Record the decision on an objection: upheld with a signed correction, or rejected."""
    data_dir = Path(data_dir)
    if (upheld is None) == (not rejected):
        raise PayoutError("give exactly one of --upheld AMOUNT or --rejected")
    if rejected and not (note or "").strip():
        raise PayoutError("--rejected needs --note saying why")
    doc, store = _documents(data_dir)
    store.close()
    found = _objection(doc, objection_id)
    if found is None:
        raise PayoutError(f"no objection {objection_id}: list them with `quotaboard objections`")
    if found.state in ("upheld", "rejected"):
        raise PayoutError(
            f"objection {objection_id} is already {found.state} ({found.resolved_at})"
        )
    correction = _amount("--upheld", upheld) if upheld is not None else None
    decision = "upheld" if upheld is not None else "rejected"
    event = ObjectionResolved(
        id=f"objection-{objection_id}-resolved",
        occurred_at=_now(),
        source="quotaboard-cli",
        data=ObjectionResolvedData(
            objection_id=objection_id, decision=decision, amount=correction, note=note
        ),
    )
    _send(data_dir, event, settings)
    shown = _wait(
        data_dir,
        lambda d: (o := _objection(d, objection_id)) and o.state == decision and o,
        wait,
    )
    return {
        "objection": objection_id,
        "event_id": event.id,
        "decision": decision,
        "paid_in": shown.paid_in if shown else None,
    }


def approve_payout(
    data_dir: Path | str, period: str, *, by: str | None = None, settings=None, wait: float = 10.0
) -> dict:
    """Record `payout.approved` for P once its window has passed with no open objection."""
    data_dir = Path(data_dir)
    doc, store = _documents(data_dir)
    store.close()
    state = _published(doc, period)
    now = _now()
    why = approval_refusal(state, period, now)  # the fold refuses the same; this says why first
    if why is not None:
        raise PayoutError(f"payout of {period} not approved: {why}")
    event = PayoutApproved(
        id=f"payout-{period}-{int(now.timestamp())}",
        occurred_at=now,
        source="quotaboard-cli",
        data=PayoutApprovedData(period=period, by=by or getpass.getuser()),
    )
    _send(data_dir, event, settings)

    def outcome(d: Publication):
        s = d.periods.get(period)
        if s is not None and s.payout == "approved":
            return {"approved": True, "approved_at": s.approved_at}
        refused = [r for r in d.rejected if r.id == event.id]
        return {"approved": False, "reason": refused[0].reason} if refused else None

    shown = _wait(data_dir, outcome, wait) or {"approved": None}
    return {"period": period, "event_id": event.id, **shown}


# --- export ---------------------------------------------------------------------------


def payout_rows(
    state: PublishedMonth, period: str, names: dict[str, str]
) -> tuple[list[str], list[list]]:
    """Header and rows for payroll: one row per rep, one column per correction."""
    objections = sorted(
        {c.objection for r in state.reps.values() for c in r.corrections},
        key=lambda x: (len(x), x),
    )
    header = (
        ["rep_id", "name", "period", "published_total"]
        + [f"objection {o}" for o in objections]
        + ["payout", "approved_at"]
    )
    rows = []
    for rep_id, r in sorted(state.reps.items()):
        by_id = {c.objection: c.amount for c in r.corrections}
        rows.append(
            [rep_id, names.get(rep_id, rep_id), period, Decimal(r.published_total)]
            + [Decimal(by_id[o]) if o in by_id else None for o in objections]
            + [Decimal(r.payout), state.approved_at]
        )
    return header, rows


def export_payout(data_dir: Path | str, period: str, out: Path | str) -> dict:
    """Write P's approved payout as CSV or Excel (by the file's suffix); refused before approval."""
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".xlsx"):
        raise PayoutError(f"--out {out}: write a .csv or an .xlsx file")
    doc, store = _documents(Path(data_dir))
    with store:
        standings = store.standings(period)
    reps = standings.reps if standings is not None else {}
    state = _published(doc, period)
    if state.payout != "approved":
        raise PayoutError(
            f"the payout of {period} is not approved yet: approve it first "
            f"(`quotaboard payout approve --period {period}`)"
        )
    header, rows = payout_rows(state, period, {r: e.name or r for r, e in reps.items()})
    if out.suffix.lower() == ".csv":
        with open(out, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row in rows:
                writer.writerow(
                    [
                        "" if v is None else (f"{v:.2f}" if isinstance(v, Decimal) else v)
                        for v in row
                    ]
                )
    else:
        _write_xlsx(out, period, header, rows)
    return {"period": period, "file": str(out), "reps": len(rows)}


def _write_xlsx(path: Path, period: str, header: list[str], rows: list[list]) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    try:
        ws = wb.add_worksheet(f"payout {period}")
        bold = wb.add_format({"bold": True})
        amount = wb.add_format({"num_format": "#,##0.00"})
        ws.write_row(0, 0, header, bold)
        for i, row in enumerate(rows, 1):
            for j, value in enumerate(row):
                if isinstance(value, Decimal):
                    # exact to the cent: a 2-decimal amount below 1e15 is exact in a double's 15 digits
                    ws.write_number(i, j, float(value), amount)
                elif value is not None:
                    ws.write_string(i, j, str(value))
        ws.set_column(0, len(header) - 1, 16)
    finally:
        wb.close()
