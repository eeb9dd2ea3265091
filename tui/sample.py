"""Standings made up, as the Struct readers get (schemas/read_models.Standings): for the
benchmark, quick looks and tests that want chosen figures without a fold.

Built as cli.md's JSON and converted once with msgspec.convert, so a sample that drifts
from the schema fails here. Tests of the real path build their store through the fold
instead (tests/unit/test_tui.py).
"""

from __future__ import annotations

import random
from decimal import Decimal

import msgspec

from projections.periods import kind_of
from schemas.read_models import Standings

REGIONS = ["East", "South", "North", "West"]
LINES = ["A", "B", "C"]


def _q(d: Decimal, places: str = "0.01") -> str:
    return str(d.quantize(Decimal(places)))


def _rag(att: Decimal | None) -> str:
    if att is None:
        return "none"
    return "red" if att < Decimal("0.8") else "yellow" if att < 1 else "green"


def _metrics(bookings: Decimal, target: Decimal | None, won: int, lost: int = 0) -> dict:
    att = bookings / target if target else None
    return {
        "bookings": _q(bookings),
        "collections": _q(bookings * Decimal("0.3")),
        "deals_won": won,
        "deals_lost": lost,
        "new_customers": won,
        "basis": "bookings",
        "target": _q(target) if target is not None else None,
        "attainment": _q(att, "0.0001") if att is not None else None,
        "gap": _q(bookings - target) if target is not None else None,
        "rag": _rag(att),
        "win_rate": _q(Decimal(won) / (won + lost), "0.0001") if won + lost else None,
        "avg_deal_size": _q(bookings / won, "0.0001") if won else None,
        "collection_rate": "0.3000" if bookings else None,
        "cycle_days": "14.5000" if won else None,
        "activities": won * 3,
        "activities_by_kind": {"call": won * 3} if won else {},
        "mom": None,
        "yoy": None,
        "targets": {},
        "changes": {},
    }


def rep_entry(
    name: str, region: str, bookings: Decimal, target: Decimal, won: int, lost: int = 0
) -> dict:
    """A rep of team "sales" at `bookings` against `target`, paid a tiered rate from 80%."""
    entry = {
        "name": name,
        "region": region,
        "team": "sales",
        "active": True,
        **_metrics(bookings, target, won, lost),
    }
    att = bookings / target
    lines = []
    if att >= Decimal("0.8"):
        rate = (
            Decimal("0.03")
            if att >= Decimal("1.2")
            else Decimal("0.02")
            if att >= 1
            else Decimal("0.015")
        )
        lines.append(
            {
                "component": "tiered",
                "amount": _q(bookings * rate),
                "explanation": f"{att * 100:.1f}% of target: {rate * 100:g}% of {bookings:,.2f}",
                "basis": _q(bookings),
                "rate": str(rate),
            }
        )
    entry["statement"] = lines
    entry["total"] = _q(sum((Decimal(x["amount"]) for x in lines), Decimal(0)))
    entry["honours"] = []
    return entry


def standings_of(period: str, reps: dict[str, dict], position: int = 100) -> Standings:
    """The standings of `reps` (rep_entry's, in REGIONS): regions, team "sales" and the
    product lines summed from them."""
    doc = {
        "period": period,
        "kind": kind_of(period),
        "ruleset": {"id": "seed-table3", "hash": "sha256:sample"},
        "closed": False,
        "closed_months": [],
        "team": {},
        "regions": {},
        "product_lines": {},
        "reps": reps,
        "unassigned": {**_metrics(Decimal(0), None, 0), "reps": {}},
        "position": position,
    }
    totals = {r: [Decimal(0), Decimal(0), 0] for r in REGIONS}
    for entry in reps.values():
        total = totals[entry["region"]]
        total[0] += Decimal(entry["bookings"])
        total[1] += Decimal(entry["target"])
        total[2] += entry["deals_won"]
    for region, (b, t, w) in totals.items():
        doc["regions"][region] = _metrics(b, t, w)
    b = sum((v[0] for v in totals.values()), Decimal(0))
    t = sum((v[1] for v in totals.values()), Decimal(0))
    doc["team"]["sales"] = _metrics(b, t, sum(v[2] for v in totals.values()))
    for line in LINES:
        doc["product_lines"][line] = _metrics(b / 3, None, 3)
    return msgspec.convert(doc, Standings)


def standings(period: str, reps: int = 24, seed: int = 1, position: int = 100) -> Standings:
    """`reps` reps at random figures (the same for the same `seed`)."""
    rng = random.Random(seed)
    entries = {}
    for i in range(reps):
        target = Decimal(rng.randrange(3, 10) * 100_000)
        bookings = (target * Decimal(rng.randrange(40, 140)) / 100).quantize(Decimal("1"))
        won = rng.randrange(1, 6)
        entries[f"rep{i:04d}"] = rep_entry(
            f"Rep {i:04d}", REGIONS[i % len(REGIONS)], bookings, target, won, rng.randrange(0, 3)
        )
    return standings_of(period, entries, position)


def bump(doc: Standings, rep_id: str, amount: Decimal, position: int) -> Standings:
    """The same standings after `rep_id` booked `amount` more (figures recomputed simply)."""
    entry = doc.reps[rep_id]
    bookings = Decimal(entry.bookings) + amount
    target = Decimal(entry.target) if entry.target else None
    figures = _metrics(bookings, target, entry.deals_won + 1, entry.deals_lost)
    doc.reps[rep_id] = msgspec.structs.replace(entry, **figures)
    doc.position = position
    return doc
