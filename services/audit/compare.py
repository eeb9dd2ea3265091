"""A replay's answer: the published statement lines beside the replayed ones, per rep,
and the published scores and grades beside the replayed ones.

Pure functions of two documents' `reps` as their Structs (schemas/read_models.py: the
stored side decoded, the fold's side converted the same way the projector converts it),
so the pairing can be tested without a log. Lines are matched by component, in order
within a component, and shown in DOMAIN.md's line order; a line one side lacks counts
0.00 there.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from projections.views import fixed
from schemas.documents import as_decimal
from schemas.read_models import FrozenRep, RepEntry, Scorecard, StatementLine
from services.audit.common import AuditError

ADJUSTMENT = "adjustment"
CENT = Decimal("0.01")
ZERO = Decimal(0)
# DOMAIN.md "Line order"; unknown components keep their first-seen order after these.
COMPONENT_ORDER = [
    "tiered", "brackets", "product_rates", "renewal", "referral", "team_awards", "team_award",
    "rank_awards", "rank_award", "mentor", "clawback", "cap", ADJUSTMENT, "adjustments",
]  # fmt: skip


def _money(value: str) -> Decimal:
    amount = as_decimal(value)
    if amount is None or not amount.is_finite():
        raise AuditError(f"not a money amount in the read models: {value!r}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _fmt(value: Decimal) -> str:
    return fixed(value, CENT)


def _component_rank(component: str, seen: list[str]) -> tuple[int, int]:
    if component in COMPONENT_ORDER:
        return (COMPONENT_ORDER.index(component), 0)
    if component not in seen:
        seen.append(component)
    return (len(COMPONENT_ORDER), seen.index(component))


def _is_adjustment(line: StatementLine) -> bool:
    return line.component.startswith(ADJUSTMENT)


def pair_lines(before: list[StatementLine], after: list[StatementLine]) -> list[dict]:
    """Match lines by component, in order within a component; a missing side is 0.00."""
    by_component: dict[str, tuple[list[Decimal], list[Decimal]]] = {}
    order: list[str] = []
    for side, lines in ((0, before), (1, after)):
        for line in lines:
            if line.component not in by_component:
                by_component[line.component] = ([], [])
                order.append(line.component)
            by_component[line.component][side].append(_money(line.amount))
    seen: list[str] = []
    ranked = sorted(order, key=lambda c: (_component_rank(c, seen), order.index(c)))
    out = []
    for component in ranked:
        left, right = by_component[component]
        for i in range(max(len(left), len(right))):
            b = left[i] if i < len(left) else ZERO
            a = right[i] if i < len(right) else ZERO
            out.append(
                {"component": component, "before": _fmt(b), "after": _fmt(a), "delta": _fmt(a - b)}
            )
    return out


Reps = Mapping[str, FrozenRep] | Mapping[str, RepEntry]


def _lines(reps: Reps, rep_id: str) -> list[StatementLine]:
    rep = reps.get(rep_id)
    return rep.statement if rep is not None else []


def compare(baseline_reps: Reps, replay_reps: Mapping[str, RepEntry]) -> tuple[dict, dict]:
    """Per rep: before/after/delta and paired lines; plus totals."""
    reps: dict[str, dict] = {}
    tb = ta = ZERO
    for rep_id in sorted(set(baseline_reps) | set(replay_reps)):
        before_lines = _lines(baseline_reps, rep_id)
        after_lines = [x for x in _lines(replay_reps, rep_id) if not _is_adjustment(x)]
        # adjustments for earlier periods are not the plan's: carried over unchanged
        after_lines += [x for x in before_lines if _is_adjustment(x)]
        lines = pair_lines(before_lines, after_lines)
        b = sum((_money(x.amount) for x in before_lines), ZERO)
        a = sum((_money(x.amount) for x in after_lines), ZERO)
        reps[rep_id] = {"before": _fmt(b), "after": _fmt(a), "delta": _fmt(a - b), "lines": lines}
        tb += b
        ta += a
    return reps, {"before": _fmt(tb), "after": _fmt(ta), "delta": _fmt(ta - tb)}


def score_deltas(before: Scorecard | None, after: Scorecard | None) -> dict:
    """Per rep: score and grade before and after (a replay under a corrected ruleset)."""
    b = before.reps if before is not None else {}
    a = after.reps if after is not None else {}
    out = {}
    for rep_id in sorted(set(b) | set(a)):
        sb = b[rep_id].score if rep_id in b else None
        sa = a[rep_id].score if rep_id in a else None
        delta = (as_decimal(sa) or ZERO) - (as_decimal(sb) or ZERO)
        out[rep_id] = {
            "score_before": sb,
            "score_after": sa,
            "score_delta": _fmt(delta),
            "grade_before": b[rep_id].grade if rep_id in b else None,
            "grade_after": a[rep_id].grade if rep_id in a else None,
        }
    return out
