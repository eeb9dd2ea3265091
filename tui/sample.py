"""Documents shaped like cli.md's JSON, made up: for the benchmark and quick looks.

Tests of the real path build their store through the fold instead (tests/unit/test_tui.py).
"""

from __future__ import annotations

import random
from decimal import Decimal

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
        "target": _q(target) if target is not None else None,
        "attainment": _q(att, "0.0001") if att is not None else None,
        "gap": _q(bookings - target) if target is not None else None,
        "rag": _rag(att),
        "win_rate": _q(Decimal(won) / (won + lost), "0.0001") if won + lost else None,
        "avg_deal_size": _q(bookings / won, "0.0001") if won else None,
        "collection_rate": "0.3000" if bookings else None,
        "cycle_days": "14.5000" if won else None,
        "activities": won * 3,
        "mom": None,
        "yoy": None,
    }


def standings(period: str, reps: int = 24, seed: int = 1, position: int = 100) -> dict:
    rng = random.Random(seed)
    doc = {
        "period": period,
        "ruleset": {"id": "seed-table3", "hash": "sha256:sample"},
        "position": position,
        "team": {},
        "regions": {},
        "product_lines": {},
        "reps": {},
    }
    totals = {r: [Decimal(0), Decimal(0), 0] for r in REGIONS}
    for i in range(reps):
        rep_id = f"rep{i:04d}"
        region = REGIONS[i % len(REGIONS)]
        target = Decimal(rng.randrange(3, 10) * 100_000)
        bookings = (target * Decimal(rng.randrange(40, 140)) / 100).quantize(Decimal("1"))
        won = rng.randrange(1, 6)
        entry = {
            "name": f"Rep {i:04d}",
            "region": region,
            "team": "sales",
            **_metrics(bookings, target, won, rng.randrange(0, 3)),
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
                }
            )
        entry["statement"] = lines
        entry["total"] = _q(sum((Decimal(x["amount"]) for x in lines), Decimal(0)))
        doc["reps"][rep_id] = entry
        totals[region][0] += bookings
        totals[region][1] += target
        totals[region][2] += won
    for region, (b, t, w) in totals.items():
        doc["regions"][region] = _metrics(b, t, w)
    b = sum((v[0] for v in totals.values()), Decimal(0))
    t = sum((v[1] for v in totals.values()), Decimal(0))
    doc["team"]["sales"] = _metrics(b, t, sum(v[2] for v in totals.values()))
    for line in LINES:
        doc["product_lines"][line] = _metrics(b / 3, None, 3)
    return doc


def bump(doc: dict, rep_id: str, amount: Decimal, position: int) -> dict:
    """The same standings after `rep_id` booked `amount` more (figures recomputed simply)."""
    entry = doc["reps"][rep_id]
    bookings = Decimal(entry["bookings"]) + amount
    target = Decimal(entry["target"]) if entry.get("target") else None
    entry.update(_metrics(bookings, target, entry["deals_won"] + 1, entry["deals_lost"]))
    doc["position"] = position
    return doc
