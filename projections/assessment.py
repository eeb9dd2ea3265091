"""The scorecard (考核): each rep's weighted indicators, score and grade (DOMAIN.md,
"Assessment and diagnosis"), from the same figures as the standings.

Achievement = actual / target (the rep's `target.set` for the metric) or actual / goal;
for `cycle_days`, where lower is better, goal (or target) / actual. Points = weight ×
min(achievement, cap); score = Σ points, rounded half-up to 0.01; grade = the highest
`grades` entry whose `from` ≤ score. An indicator with neither target nor goal, or
whose achievement does not exist (no actual for a ratio, a zero target), scores 0 and
is flagged with the reason, so a manager sees a gap in the data, not a bad rep.

Pure: the fold (projections/projection.py) hands in each rep's figures and targets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from projections.metrics import Acc
from projections.views import CENT, fixed, metric_value, ratio4
from schemas.ruleset import Assessment, Indicator

ZERO = Decimal(0)
RATIO_METRICS = frozenset({"win_rate", "avg_deal_size", "collection_rate", "cycle_days"})
LOWER_IS_BETTER = frozenset({"cycle_days"})


@dataclass(frozen=True)
class RepRow:
    """One rep as the scorecard needs it: who, the period's figures and targets."""

    rep_id: str
    name: str
    region: str | None
    team: str | None
    active: bool
    acc: Acc
    targets: dict[str, Decimal]


def measure(acc: Acc, metric: str) -> Decimal | int | None:
    """The rep's actual for a metric, unrounded; None where a ratio does not exist."""
    if metric in RATIO_METRICS:
        return getattr(acc, metric)()
    return acc.value(metric)


def _shown(metric: str, value: Decimal | int | None) -> str | int | None:
    if value is None:
        return None
    if metric in RATIO_METRICS:
        return ratio4(value)
    return metric_value(metric, value)


def achievement(
    ind: Indicator, actual: Decimal | int | None, target: Decimal | None
) -> tuple[Decimal | None, str | None, str | None]:
    """(achievement, against "target"|"goal"|None, flag) of one indicator."""
    reference, against = (target, "target") if target is not None else (ind.goal, "goal")
    if reference is None:
        return None, None, f"no target for {ind.metric} and no goal in the ruleset"
    if reference == 0:
        return None, against, f"the {against} for {ind.metric} is 0"
    if actual is None:
        return None, against, f"no {ind.metric} in the period"
    if ind.metric in LOWER_IS_BETTER:
        if actual == 0:
            return ind.cap, against, None  # instant closes: as good as the cap allows
        return Decimal(reference) / Decimal(actual), against, None
    return Decimal(actual) / Decimal(reference), against, None


def grade_of(assessment: Assessment, score: Decimal) -> str | None:
    """The highest grade whose `from` ≤ score (None below every `from`)."""
    reached = [g for g in assessment.grades if g.from_ <= score]
    return max(reached, key=lambda g: g.from_).grade if reached else None


def rep_scorecard(assessment: Assessment, row: RepRow) -> dict:
    indicators = []
    total = ZERO
    flagged = []
    for ind in assessment.indicators:
        actual = measure(row.acc, ind.metric)
        target = row.targets.get(ind.metric)
        ach, against, flag = achievement(ind, actual, target)
        counted = min(ach, ind.cap) if ach is not None else None
        points = ind.weight * counted if counted is not None else ZERO
        total += points
        if flag is not None:
            flagged.append(ind.metric)
        indicators.append(
            {
                "metric": ind.metric,
                "weight": str(ind.weight),
                "actual": _shown(ind.metric, actual),
                "target": _shown(ind.metric, target) if target is not None else None,
                "goal": str(ind.goal) if ind.goal is not None else None,
                "against": against,
                "achievement": ratio4(ach),
                "cap": str(ind.cap),
                "capped": ach is not None and ach > ind.cap,
                "points": fixed(points, CENT),
                "flag": flag,
            }
        )
    score = Decimal(fixed(total, CENT))  # half-up to 0.01, never a signed zero
    return {
        "name": row.name,
        "region": row.region,
        "team": row.team,
        "active": row.active,
        "score": str(score),
        "grade": grade_of(assessment, score),
        "flagged": flagged,
        "indicators": indicators,
    }


def scorecard_doc(
    period: str, assessment: Assessment, ruleset_ref: dict, rows: Iterable[RepRow]
) -> dict:
    """`scorecard --json`: every rep's indicators, score and grade for the period."""
    return {
        "period": period,
        "ruleset": dict(ruleset_ref),
        "assessment": {
            "period": assessment.period,
            "grades": [{"from": str(g.from_), "grade": g.grade} for g in assessment.grades],
            "indicators": [
                {
                    "metric": i.metric,
                    "weight": str(i.weight),
                    "cap": str(i.cap),
                    "goal": str(i.goal) if i.goal is not None else None,
                }
                for i in assessment.indicators
            ],
        },
        "reps": {
            row.rep_id: rep_scorecard(assessment, row)
            for row in sorted(rows, key=lambda r: r.rep_id)
        },
    }
