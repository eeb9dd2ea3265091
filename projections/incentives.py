"""The incentive engine: a plan plus one period's facts -> each rep's statement lines.

Pure: no I/O, no clock. The fold (services/project/state.py) builds `PeriodFacts` from
events; this module applies DOMAIN.md's "Incentives" rules to them. Live projection,
rebuild and replay all call `statement_lines`, so they agree by construction.

Rounding: every line is rounded once, half-up to 0.01 (ROUND_HALF_UP on Decimal rounds
ties away from zero, so negative lines round half away from zero); a line that rounds
to 0.00 is left out; a statement's total is the sum of its rounded lines.

Choices where DOMAIN.md is silent (written down here and in the docs):
- Attainment in explanations is shown to one decimal, rounded down, so a line never
  claims a threshold that was not reached (105.0%, 109.9% for 1.0999).
- Rates in explanations are percentages with at most 4 decimals, trailing zeros dropped.
- A clawback on a deal that closed in the statement's own period uses this period's
  effective rate (computed here); earlier periods ask `rate_of`.
- Team awards go to active reps whose region or team (`scope`, at the period's last
  instant) reached the threshold; when the fold lists its members, the rep must be
  among them. The group's actual is credited by region or team at the time (close or
  payment), like the region and team standings.
- Rank awards: several `[[rank_awards]]` entries add up, like team awards.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from projections.bounds import WIDE
from projections.facts import PeriodFacts, RepFacts
from projections.views import fixed
from schemas.ruleset import Incentive

__all__ = [
    "COMPONENTS",
    "Line",
    "add_months",
    "effective_rate",
    "line_json",
    "round_money",
    "statement_lines",
    "total",
]

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
HUNDRED = Decimal(100)

# The order of components on a statement (adjustments, appended by the fold, come last).
COMPONENTS = (
    "tiered",
    "brackets",
    "product_rates",
    "renewal",
    "referral",
    "team_awards",
    "rank_awards",
    "mentor",
    "clawback",
    "cap",
)

RateOf = Callable[[str, str], "Decimal | None"]


@dataclass(frozen=True)
class Line:
    """One statement line. `amount` is rounded to 0.01; `basis`/`rate` are what it was
    computed on (unrounded), where that makes sense."""

    component: str
    amount: Decimal
    explanation: str
    basis: Decimal | None = None
    rate: Decimal | None = None


def round_money(value: Decimal) -> Decimal:
    """Half-up to 0.01; ties of negatives round away from zero (-0.005 -> -0.01)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP, context=WIDE)


def total(lines: Iterable[Line]) -> Decimal:
    return sum((line.amount for line in lines), start=Decimal("0.00"))


def line_json(line: Line) -> dict[str, str]:
    """A line as the CLI contract shows it: `{"component", "amount", "explanation"}`."""
    return {
        "component": line.component,
        "amount": fixed(line.amount, CENT),
        "explanation": line.explanation,
    }


# --- formatting for explanations ------------------------------------------------------


def _money(value: Decimal) -> str:
    return f"{round_money(value):,.2f}"


def _pct(value: Decimal) -> str:
    """A fraction as a percentage: 0.02 -> "2%", 0.015 -> "1.5%", 1/60 -> "1.6667%"."""
    v = value * HUNDRED
    if v.as_tuple().exponent < -4:  # type: ignore[operator]
        v = v.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP, context=WIDE)
    return f"{_plain(v)}%"


def _plain(value: Decimal) -> str:
    v = value.normalize()
    if v == 0:
        return "0"
    return f"{v:f}"


def _attainment(a: Decimal) -> str:
    return f"{(a * HUNDRED).quantize(Decimal('0.1'), rounding=ROUND_FLOOR, context=WIDE):f}%"


# --- the components -------------------------------------------------------------------


@dataclass(frozen=True)
class _Raw:
    component: str
    amount: Decimal  # unrounded
    explanation: str
    basis: Decimal | None = None
    rate: Decimal | None = None
    commission: bool = False  # counts toward the effective rate


def _tiered(plan: Incentive, rep: RepFacts) -> list[_Raw]:
    tiered = plan.tiered
    if tiered is None:
        return []
    target = rep.targets.get(plan.basis)
    if target is None or target == 0:
        return []
    b = rep.basis(plan.basis)
    a = b / target
    tiers = sorted(tiered.tiers, key=lambda t: t.from_)
    reached = [t for t in tiers if t.from_ <= a]
    out: list[_Raw] = []
    if tiered.mode == "whole":
        if not reached:
            return []
        tier = reached[-1]
        out.append(
            _Raw(
                "tiered",
                tier.rate * b,
                f"{_attainment(a)} of target: {_pct(tier.rate)} of {_money(b)}",
                b,
                tier.rate,
                True,
            )
        )
    else:
        steps = []
        for tier, nxt in zip(tiers, [*tiers[1:], None], strict=True):
            span = (f"marginal tier above {_pct(tier.from_)} of target" if nxt is None
                    else f"marginal tier from {_pct(tier.from_)} to {_pct(nxt.from_)} of target")
            steps.append((tier.from_ * target, None if nxt is None else nxt.from_ * target, tier.rate, span))
        out.extend(_marginal("tiered", b, steps))
    if reached and reached[-1].bonus:
        tier = reached[-1]
        out.append(_Raw("tiered", tier.bonus, f"bonus for reaching {_pct(tier.from_)}"))
    return out


def _marginal(component: str, b: Decimal, steps: list[tuple]) -> list[_Raw]:
    """Marginal mode of tiers and brackets: each step's rate on the part of B between its
    start and the next step's (amounts), one line per segment; below the first, nothing."""
    out: list[_Raw] = []
    for lo, hi, rate, span in steps:
        part = (b if hi is None else min(b, hi)) - lo
        if part > 0:
            out.append(_Raw(component, rate * part, f"{span}: {_pct(rate)} of {_money(part)}", part, rate, True))
    return out


def _brackets(plan: Incentive, rep: RepFacts) -> list[_Raw]:
    brackets = plan.brackets
    if brackets is None:
        return []
    b = rep.basis(plan.basis)
    rows = sorted(brackets.brackets, key=lambda x: x.from_)
    reached = [x for x in rows if x.from_ <= b]
    out: list[_Raw] = []
    if brackets.mode == "whole":
        if not reached:
            return []
        row = reached[-1]
        i = rows.index(row)
        span = (
            f"bracket {_money(row.from_)}–{_money(rows[i + 1].from_)}"
            if i + 1 < len(rows)
            else f"bracket above {_money(row.from_)}"
        )
        out.append(
            _Raw(
                "brackets",
                row.rate * b,
                f"{_money(b)} in {span}: {_pct(row.rate)} of {_money(b)}",
                b,
                row.rate,
                True,
            )
        )
    else:
        steps = []
        for row, nxt in zip(rows, [*rows[1:], None], strict=True):
            hi = None if nxt is None else nxt.from_
            span = f"bracket {_money(row.from_)}–{_money(hi)}" if hi is not None else f"bracket above {_money(row.from_)}"
            steps.append((row.from_, hi, row.rate, span))
        out.extend(_marginal("brackets", b, steps))
    if reached and reached[-1].bonus:
        row = reached[-1]
        out.append(_Raw("brackets", row.bonus, f"bonus for reaching {_money(row.from_)}"))
    return out


def _product_rates(plan: Incentive, rep: RepFacts) -> list[_Raw]:
    out: list[_Raw] = []
    for product_line, rate in plan.product_rates.items():
        amount = rep.bookings_by_product_line.get(product_line, ZERO)
        out.append(
            _Raw(
                "product_rates",
                rate * amount,
                f"{product_line}: {_pct(rate)} of {_money(amount)}",
                amount,
                rate,
                True,
            )
        )
    return out


def _rate_from(rep: RepFacts, plan: Incentive, raws: Iterable[_Raw]) -> Decimal | None:
    b = rep.basis(plan.basis)
    if b == 0:
        return None
    return sum((r.amount for r in raws if r.commission), start=ZERO) / b


def effective_rate(plan: Incentive, rep: RepFacts) -> Decimal | None:
    """Unrounded (tiered + brackets + product_rates) / B, bonuses and renewal excluded;
    None when B is 0."""
    return _rate_from(
        rep, plan, _tiered(plan, rep) + _brackets(plan, rep) + _product_rates(plan, rep)
    )


def _renewal(plan: Incentive, rep: RepFacts, r: Decimal | None) -> list[_Raw]:
    b = rep.renewal_basis(plan.basis)
    if plan.renewal is None or r is None or b == 0:
        return []
    extra = plan.renewal.multiplier - ONE
    sign = "+" if extra >= 0 else "−"
    text = f"renewal {sign}{_pct(abs(extra))}: {_plain(extra)} × {_pct(r)} × {_money(b)}"
    return [_Raw("renewal", extra * r * b, text, b, extra * r)]


def _referral(plan: Incentive, rep: RepFacts) -> list[_Raw]:
    if plan.referral is None or rep.referral_closes <= 0:
        return []
    n = rep.referral_closes
    noun = "referral deal" if n == 1 else "referral deals"
    return [
        _Raw("referral", plan.referral.bonus * n, f"{n} {noun} × {_money(plan.referral.bonus)}")
    ]


def _group_attainment(plan: Incentive, facts: PeriodFacts, rep: RepFacts, scope: str) -> Decimal | None:
    """Attainment on the basis of the rep's region or team (at the period's last instant),
    or None when the rep is not among its listed members or it has no (non-zero) target."""
    if scope == "team":
        group, actuals, targets, members = rep.team, facts.team_actual, facts.team_targets, facts.team_members
    else:
        group, actuals, targets, members = rep.region, facts.region_actual, facts.region_targets, facts.region_members
    listed = members.get(group)
    if listed is not None and rep.rep_id not in listed:
        return None
    actual = actuals.get(plan.basis, {}).get(group)
    target = targets.get(plan.basis, {}).get(group)
    if actual is None or not target:
        return None
    return actual / target


def _team_awards(plan: Incentive, facts: PeriodFacts, rep: RepFacts) -> list[_Raw]:
    if not plan.team_awards or not rep.active:
        return []
    attainment: dict[str, Decimal | None] = {}
    out: list[_Raw] = []
    for award in plan.team_awards:
        if award.scope not in attainment:
            attainment[award.scope] = _group_attainment(plan, facts, rep, award.scope)
        a = attainment[award.scope]
        if a is not None and a >= award.from_:
            group = rep.team if award.scope == "team" else rep.region
            out.append(
                _Raw(
                    "team_awards",
                    award.per_member,
                    f"{award.scope} {group} reached {_attainment(a)} (≥ {_pct(award.from_)})",
                )
            )
    return out


def _rank_awards(plan: Incentive, facts: PeriodFacts) -> dict[str, list[_Raw]]:
    """Per rep, the rank-award lines of the quarter ending with this period."""
    out: dict[str, list[_Raw]] = {}
    if not plan.rank_awards or facts.quarter is None:
        return out
    values = facts.quarter_actual.get(plan.basis, {})
    ranked = [
        (rep_id, v)
        for rep_id, v in values.items()
        if v > 0 and (rep_id not in facts.reps or facts.reps[rep_id].active)
    ]
    ranked.sort(key=lambda x: (-x[1], x[0]))
    label = facts.quarter.split("-")[-1] if "-" in facts.quarter else facts.quarter
    for award in plan.rank_awards:
        prizes = list(award.prizes)
        place = 0
        i = 0
        while i < len(ranked):
            j = i
            while j < len(ranked) and ranked[j][1] == ranked[i][1]:
                j += 1
            group = ranked[i:j]
            won = prizes[place : place + len(group)]
            if won:
                share = sum(won, start=ZERO) / len(group)
                if len(group) > 1:
                    text = f"{label} rank {place + 1} (tied, shares {'+'.join(_money(p) for p in won)})"
                else:
                    text = f"{label} rank {place + 1}"
                for rep_id, value in group:
                    out.setdefault(rep_id, []).append(_Raw("rank_awards", share, text, value))
            place += len(group)
            i = j
    return out


def add_months(day: date, months: int) -> date:
    """`day` plus whole months, clamped to the month's end (Jan 31 + 1 -> Feb 28/29)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _mentor(plan: Incentive, facts: PeriodFacts) -> dict[str, list[_Raw]]:
    out: dict[str, list[_Raw]] = {}
    mentor = plan.mentor
    if mentor is None:
        return out
    seen: set[str] = set()
    for close in sorted(facts.mentee_closes, key=lambda c: (c.closed_on, c.deal_id)):
        if close.mentee_id in seen:
            continue
        seen.add(close.mentee_id)
        rep = facts.reps.get(close.mentor_id)
        if rep is None or not rep.active:
            continue
        if close.closed_on > add_months(close.hired_on, mentor.within_months):
            continue
        months = "month" if mentor.within_months == 1 else "months"
        text = f"mentor bonus: mentee {close.mentee_id}'s first deal {close.deal_id} within {mentor.within_months} {months}"
        out.setdefault(close.mentor_id, []).append(_Raw("mentor", mentor.bonus, text))
    return out


def _clawback(
    plan: Incentive, facts: PeriodFacts, rep: RepFacts, own_rate: Decimal | None, rate_of: RateOf
) -> list[_Raw]:
    if not plan.clawback or plan.basis != "bookings":
        return []
    out: list[_Raw] = []
    for refund in rep.refunds:
        r = (
            own_rate
            if refund.close_period == facts.period
            else rate_of(rep.rep_id, refund.close_period)
        )
        if r is None:
            continue
        base = refund.amount * refund.share
        text = (
            f"clawback: refund {refund.payment_id} on {refund.deal_id} ({refund.close_period}), "
            f"{_pct(refund.share)} × {_money(refund.amount)} × {_pct(r)}"
        )
        out.append(_Raw("clawback", -(base * r), text, base, r))
    return out


# --- the statement --------------------------------------------------------------------


def _finish(raws: Iterable[_Raw]) -> list[Line]:
    lines = []
    for raw in raws:
        amount = round_money(raw.amount)
        if amount == 0:
            continue
        lines.append(Line(raw.component, amount, raw.explanation, raw.basis, raw.rate))
    return lines


def statement_lines(plan: Incentive, facts: PeriodFacts, rate_of: RateOf) -> dict[str, list[Line]]:
    """Every rep's lines for the period, in DOMAIN.md's order (adjustments excluded).

    `rate_of(rep_id, period)` is the rep's effective rate in an earlier plan period
    (for clawback), or None when there was none.
    """
    ranks = _rank_awards(plan, facts)
    mentors = _mentor(plan, facts)
    out: dict[str, list[Line]] = {}
    for rep_id, rep in facts.reps.items():
        commission = _tiered(plan, rep) + _brackets(plan, rep) + _product_rates(plan, rep)
        r = _rate_from(rep, plan, commission)
        raws = (
            commission
            + _renewal(plan, rep, r)
            + _referral(plan, rep)
            + _team_awards(plan, facts, rep)
            + ranks.get(rep_id, [])
            + mentors.get(rep_id, [])
            + _clawback(plan, facts, rep, r, rate_of)
        )
        lines = _finish(raws)
        if plan.cap is not None:
            so_far = total(lines)
            if so_far > plan.cap:
                lines += _finish(
                    [_Raw("cap", plan.cap - so_far, f"cap {_money(plan.cap)}", so_far)]
                )
        out[rep_id] = lines
    return out
