"""A replay's answer: the published statement lines beside the replayed ones, per rep.

Pure functions of two `reps` documents (the read models' shape), so the pairing can be
tested without a log. Lines are matched by component, in order within a component, and
shown in DOMAIN.md's line order; a line one side lacks counts 0.00 there.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from projections.views import fixed
from services.audit.common import AuditError

ADJUSTMENT = "adjustment"
CENT = Decimal("0.01")
ZERO = Decimal(0)
# DOMAIN.md "Line order"; unknown components keep their first-seen order after these.
COMPONENT_ORDER = [
    "tiered", "brackets", "product_rates", "renewal", "referral", "team_awards", "team_award",
    "rank_awards", "rank_award", "mentor", "clawback", "cap", ADJUSTMENT, "adjustments",
]  # fmt: skip


def _money(value: Any) -> Decimal:
    if value is None or value == "":
        return ZERO
    try:
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise AuditError(f"not a money amount in the read models: {value!r}") from None


def _fmt(value: Decimal) -> str:
    return fixed(value, CENT)


def _statement_lines(rep: dict) -> list[dict]:
    return list(rep.get("statement") or rep.get("lines") or [])


def _component_rank(component: str, seen: list[str]) -> tuple[int, int]:
    if component in COMPONENT_ORDER:
        return (COMPONENT_ORDER.index(component), 0)
    if component not in seen:
        seen.append(component)
    return (len(COMPONENT_ORDER), seen.index(component))


def _is_adjustment(line: dict) -> bool:
    return str(line.get("component", "")).startswith(ADJUSTMENT)


def pair_lines(before: list[dict], after: list[dict]) -> list[dict]:
    """Match lines by component, in order within a component; a missing side is 0.00."""
    by_component: dict[str, tuple[list[Decimal], list[Decimal]]] = {}
    order: list[str] = []
    for side, lines in ((0, before), (1, after)):
        for line in lines:
            component = str(line.get("component", ""))
            if component not in by_component:
                by_component[component] = ([], [])
                order.append(component)
            by_component[component][side].append(_money(line.get("amount")))
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


def compare(baseline_reps: dict, replay_reps: dict) -> tuple[dict, dict]:
    """Per rep: before/after/delta and paired lines; plus totals."""
    reps: dict[str, dict] = {}
    tb = ta = ZERO
    for rep_id in sorted(set(baseline_reps) | set(replay_reps)):
        before_lines = _statement_lines(baseline_reps.get(rep_id) or {})
        after_lines = [
            x for x in _statement_lines(replay_reps.get(rep_id) or {}) if not _is_adjustment(x)
        ]
        # adjustments for earlier periods are not the plan's: carried over unchanged
        after_lines += [x for x in before_lines if _is_adjustment(x)]
        lines = pair_lines(before_lines, after_lines)
        b = sum((_money(x.get("amount")) for x in before_lines), ZERO)
        a = sum((_money(x.get("amount")) for x in after_lines), ZERO)
        reps[rep_id] = {"before": _fmt(b), "after": _fmt(a), "delta": _fmt(a - b), "lines": lines}
        tb += b
        ta += a
    return reps, {"before": _fmt(tb), "after": _fmt(ta), "delta": _fmt(ta - tb)}
