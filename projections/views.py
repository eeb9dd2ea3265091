"""The JSON documents' formatting: money 2 decimals, ratios 4, half-up, as strings.

RAG and every comparison use the unrounded values; rounding happens only here, in
`fixed`, which also writes a zero without a sign: 0 ÷ −5, or −0.00004 rounded, is a
Decimal −0, and "-0.0000" reads as a loss to a person and differs from "0.0000" to a
program comparing text.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from projections.bounds import WIDE
from projections.funnel import FunnelCounts, conversion
from projections.metrics import Acc, Figures, change, rag, ratio

CENT = Decimal("0.01")
BASIS_POINT = Decimal("0.0001")
METRICS = ("bookings", "collections", "deals_won", "new_customers")
MONEY_METRICS = ("bookings", "collections")


def fixed(value: Decimal, exponent: Decimal) -> str:
    """`value` rounded half-up to `exponent` (0.01, 0.0001) as text; zero never signed."""
    q = value.quantize(exponent, ROUND_HALF_UP, WIDE)  # positional: keyword parsing costs as much
    return str(q) if q else str(abs(q))


def money(value: Decimal | int | None) -> str | None:
    if value is None:
        return None
    if value.__class__ is not Decimal:
        value = Decimal(value)
    return fixed(value, CENT)


def ratio4(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return fixed(value, BASIS_POINT)


def metric_value(metric: str, value) -> str | int:
    """Money as 2-decimal text; a count as an int, or as text where a target (a Decimal)
    is in it: the JSON has always shown those as strings (schemas/read_models.Amount)."""
    if metric in MONEY_METRICS:
        return money(value)
    return str(value) if value.__class__ is Decimal else value


# Every scope carries the 环比 / 同比 of these (the users' 表2 shows them all).
CHANGE_METRICS = ("bookings", "collections", "deals_won", "new_customers", "win_rate",
                  "avg_deal_size", "collection_rate", "cycle_days", "activities")
_RATIOS = frozenset({"win_rate", "avg_deal_size", "collection_rate", "cycle_days"})


def _measure(acc: Acc | None, metric: str):
    if acc is None:
        return None
    return getattr(acc, metric)() if metric in _RATIOS else acc.value(metric)


def _changes(a: Acc, previous: Acc | None, last_year: Acc | None) -> dict:
    out = {}
    for metric in CHANGE_METRICS:
        value = _measure(a, metric)
        out[metric] = {
            "mom": ratio4(change(value, _measure(previous, metric))) if value is not None else None,
            "yoy": ratio4(change(value, _measure(last_year, metric))) if value is not None else None,
        }
    return out


def scope_entry(acc: Acc | None, targets: dict[str, Decimal], basis: str, red_below: Decimal,
                green_from: Decimal, previous: Acc | None, last_year: Acc | None) -> dict:
    """The metric fields every scope carries (team, region, product line, rep)."""
    a = acc or Acc()
    target = targets.get(basis)
    actual = a.value(basis)
    attainment = ratio(actual, target)
    entry = {
        "bookings": money(a.bookings),
        "collections": money(a.collections),
        "deals_won": a.deals_won,
        "deals_lost": a.deals_lost,
        "new_customers": a.new_customers,
        "basis": basis,
        "target": metric_value(basis, target) if target is not None else None,
        "attainment": ratio4(attainment),
        "gap": metric_value(basis, actual - target) if target is not None else None,
        "rag": rag(attainment, red_below, green_from),
        "win_rate": ratio4(a.win_rate()),
        "avg_deal_size": ratio4(a.avg_deal_size()),
        "collection_rate": ratio4(a.collection_rate()),
        "cycle_days": ratio4(a.cycle_days()),
        "activities": a.activities,
        "activities_by_kind": dict(sorted(a.activity_kinds.items())),
        "mom": ratio4(change(a.bookings, previous.bookings if previous else None)),
        "yoy": ratio4(change(a.bookings, last_year.bookings if last_year else None)),
    }
    others = {}
    for metric, t in sorted(targets.items()):
        value = a.value(metric)
        att = ratio(value, t)
        others[metric] = {
            "actual": metric_value(metric, value),
            "target": metric_value(metric, t),
            "attainment": ratio4(att),
            "gap": metric_value(metric, value - t),
            "rag": rag(att, red_below, green_from),
        }
    entry["targets"] = others
    entry["changes"] = _changes(a, previous, last_year)
    return entry


def funnel_doc(period: str, counts: FunnelCounts) -> dict:
    stages = {"lead": counts.reached[0], "qualified": counts.reached[1],
              "negotiation": counts.reached[2], "won": counts.reached[3]}
    by_source = {}
    for source, reached in sorted(counts.by_source.items()):
        by_source[source] = {
            "created": reached[0], "qualified": reached[1], "negotiation": reached[2], "won": reached[3],
            "win_rate": ratio4(Decimal(reached[3]) / reached[0] if reached[0] else None),
        }
    return {
        "period": period,
        "stages": stages,
        "conversion": {k: ratio4(v) for k, v in conversion(counts.reached).items()},
        "by_source": by_source,
        "repurchase": counts.repurchase,
        "lost": counts.lost,
    }


def line_doc(line, period: str | None = None) -> dict:
    out = {
        "component": line.component,
        "amount": money(line.amount),
        "explanation": line.explanation if period is None else f"{period}: {line.explanation}",
        "basis": money(line.basis) if getattr(line, "basis", None) is not None else None,
        "rate": str(line.rate) if getattr(line, "rate", None) is not None else None,
    }
    if period is not None:
        out["period"] = period
    return out


STATEMENT_PARTS = ("deals", "activities", "weekly_bookings")


def statement_doc(parts: dict, standings: dict, entry: dict) -> dict:
    """cli.md's `statement --json`: the rep's standings `entry` (figures, lines, total), with
    the statement's own lists (`parts`: deals, activities, weekly bookings) in it.

    The one place a statement is put together: by the fold, and by the read store from
    the stored parts and the period's current standings. A rank or team award earned
    through other reps' deals changes the standings, not this rep's parts, so a reader
    always sees the figures of the same checkpoint. The entry's `activities` (a count)
    gives way to the list, in the entry's place.
    """
    doc = {"period": parts["period"], "ruleset": standings["ruleset"], "position": standings["position"],
           "rep_id": parts["rep_id"]}
    for key, value in entry.items():
        doc[key] = parts[key] if key in parts and key in STATEMENT_PARTS else value
    for key in STATEMENT_PARTS:
        doc[key] = parts[key]
    return doc


def money_issue_doc(deal_id: str, issue, occurred_at: str) -> dict:
    """One receipt or refund that counts less than it says (`unmatched`'s `payments`)."""
    pid, amount, counted = issue.payment_id, issue.amount, issue.counted
    if issue.reason == "duplicate_payment":
        why = f"payment {pid} on deal {deal_id} was already received (event {issue.first_id}): counted once"
    elif issue.reason == "over_refund":
        why = (f"refund of {amount:,.2f} exceeds the {counted:,.2f} payment {pid} still holds: "
               f"{counted:,.2f} counted, {amount - counted:,.2f} not")
    elif issue.received_later:
        why = f"payment {pid} on deal {deal_id} is dated after this refund: it held nothing to refund then"
    else:
        why = f"deal {deal_id} has no payment {pid}: the refund counts nothing until the payment arrives"
    return {
        "id": issue.event_id,
        "type": "payment.refunded" if issue.refund else "payment.received",
        "position": issue.pos,
        "occurred_at": occurred_at,
        "deal_id": deal_id,
        "payment_id": pid,
        "amount": money(amount),
        "counted": money(counted),
        "excess": money(amount - counted),
        "reason": issue.reason,
        "explanation": why,
    }


def _total(table: dict[str, Acc]) -> Acc:
    out = Acc()
    for acc in table.values():
        out.add(acc)
    return out


def unassigned_doc(fig: Figures, previous: Figures | None, last_year: Figures | None, basis: str,
                   red_below: Decimal, green_from: Decimal) -> dict:
    """Standings' `unassigned`: what was credited to rep ids no rep.onboarded names, with
    the same metric fields as any scope, and under `reps` each such id's money."""
    entry = scope_entry(_total(fig.unassigned), {}, basis, red_below, green_from,
                        _total(previous.unassigned) if previous else None,
                        _total(last_year.unassigned) if last_year else None)
    entry["reps"] = {rep: {"bookings": money(a.bookings), "collections": money(a.collections)}
                     for rep, a in sorted(fig.unassigned.items())}
    return entry
