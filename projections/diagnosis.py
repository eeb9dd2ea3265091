"""Diagnosis (5Why, 问题定位): why a rep below green is behind, driver by driver, against the
team (DOMAIN.md, "Assessment and diagnosis").

For each rep whose attainment on the basis metric is below `green_from` (RAG red or
yellow), the drivers where the rep is weaker than the team: win rate; new-customer
conversion (deals of kind `new` in the cohort that closed / those created); each funnel
step's conversion (the cohort: deals created in the period and the two months before,
by their owner); average deal size; activities; new customers; cycle days. The team's
value is the team-level ratio, or the per-active-rep mean for counts. A driver is listed
when the rep's value is below 0.80 × the team's (cycle days: above 1.25 ×), worst
relative shortfall first, each with both values and a sentence a manager reads aloud.

Pure: the fold (projections/projection.py) hands in the figures and the cohort's deals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from projections.deals import STAGES, DealState
from projections.metrics import Acc
from projections.views import money, ratio4

BELOW = Decimal("0.80")  # listed when the rep's value is below this share of the team's
ABOVE = Decimal("1.25")  # cycle days: listed above this multiple
COHORT_MONTHS = 3  # the period's months and the two before


@dataclass
class Cohort:
    """Counts of a cohort of deals: created and closed of kind `new`, and reached per stage."""

    new_created: int = 0
    new_closed: int = 0
    reached: list[int] = field(default_factory=lambda: [0, 0, 0, 0])

    def add(self, d: DealState) -> None:
        won = d.reached == 3
        if d.kind == "new":
            self.new_created += 1
            self.new_closed += won
        for i in range(d.reached + 1):
            self.reached[i] += 1

    def new_conversion(self) -> Decimal | None:
        return Decimal(self.new_closed) / self.new_created if self.new_created else None

    def step(self, i: int) -> Decimal | None:
        a, b = self.reached[i], self.reached[i + 1]
        return Decimal(b) / a if a else None


    def merge(self, other: Cohort) -> None:
        self.new_created += other.new_created
        self.new_closed += other.new_closed
        self.reached = [a + b for a, b in zip(self.reached, other.reached, strict=True)]


def owner_cohorts(deals: Iterable[DealState]) -> dict[str, Cohort]:
    """One month's cohort per owner; a deal's owner is its owner at the close, else now.
    The fold keeps these per month: a period's cohort spans several months, and a month
    feeds the diagnoses of its own month, quarter and year and of the two months after."""
    by_rep: dict[str, Cohort] = {}
    for d in deals:
        owner = d.close_owner or d.owner
        cohort = by_rep.get(owner)
        if cohort is None:
            cohort = by_rep[owner] = Cohort()
        cohort.add(d)
    return by_rep


def cohorts(months: Iterable[dict[str, Cohort]], team_of) -> tuple[dict[str, Cohort], dict[str, Cohort]]:
    """(per owner, per team) cohorts of the months' owner cohorts added up."""
    by_rep: dict[str, Cohort] = {}
    for month in months:
        for owner, cohort in month.items():
            by_rep.setdefault(owner, Cohort()).merge(cohort)
    by_team: dict[str, Cohort] = {}
    for owner, cohort in by_rep.items():
        team = team_of(owner)
        if team is not None:
            by_team.setdefault(team, Cohort()).merge(cohort)
    return by_rep, by_team


@dataclass(frozen=True)
class Driver:
    key: str
    label: str
    coaching: str
    lower_is_better: bool = False


STEP_LABELS = {
    0: ("lead → qualified", "qualifying leads"),
    1: ("qualified → negotiation", "taking qualified deals to a proposal"),
    2: ("negotiation → won", "negotiation and closing"),
}
DRIVERS = [
    Driver("win_rate", "win rate", "deal qualification and closing"),
    Driver("new_customer_conversion", "new-customer conversion", "following up new prospects"),
    *[
        Driver(f"{STAGES[i]}_to_{STAGES[i + 1]}", label, coaching)
        for i, (label, coaching) in STEP_LABELS.items()
    ],
    Driver("avg_deal_size", "average deal size", "deal size: upselling and bundling"),
    Driver("activities", "activities", "more customer contact (calls, visits, meetings)"),
    Driver("new_customers", "new customers", "prospecting for new customers"),
    Driver("cycle_days", "sales cycle", "moving stalled deals forward", lower_is_better=True),
]
_PERCENT = {
    "win_rate",
    "new_customer_conversion",
    "lead_to_qualified",
    "qualified_to_negotiation",
    "negotiation_to_won",
}
_COUNTS = {"activities", "new_customers"}


def _pct(value: Decimal) -> str:
    return f"{value * 100:.1f}%"


def _said(key: str, value: Decimal, per_rep: bool = False) -> str:
    """A value as a person says it."""
    if key in _PERCENT:
        return _pct(value)
    if key == "avg_deal_size":
        return f"{value:,.2f}"
    if key == "cycle_days":
        return f"{value:.1f} days"
    return f"{value:.1f} per rep" if per_rep else f"{value:,.0f}"


def _value_doc(key: str, value: Decimal) -> str:
    return money(value) if key == "avg_deal_size" else ratio4(value)


def values(acc: Acc, cohort: Cohort | None) -> dict[str, Decimal | None]:
    c = cohort or Cohort()
    return {
        "win_rate": acc.win_rate(),
        "new_customer_conversion": c.new_conversion(),
        "lead_to_qualified": c.step(0),
        "qualified_to_negotiation": c.step(1),
        "negotiation_to_won": c.step(2),
        "avg_deal_size": acc.avg_deal_size(),
        "activities": Decimal(acc.activities),
        "new_customers": Decimal(acc.new_customers),
        "cycle_days": acc.cycle_days(),
    }


def team_values(
    team_acc: Acc, team_cohort: Cohort | None, active_members: list[Acc]
) -> dict[str, Decimal | None]:
    """The team's values: team-level ratios, per-active-rep means for counts."""
    out = values(team_acc, team_cohort)
    n = len(active_members)
    for key in _COUNTS:
        out[key] = (
            sum((Decimal(getattr(a, key)) for a in active_members), Decimal(0)) / n if n else None
        )
    return out


def _detail(key: str, cohort: Cohort | None, window: str) -> str:
    if key == "new_customer_conversion" and cohort is not None:
        return f" ({cohort.new_closed} of {cohort.new_created} new-customer deals created {window} closed)"
    return ""


def drivers(
    rep: dict[str, Decimal | None],
    team: dict[str, Decimal | None],
    cohort: Cohort | None,
    window: str,
) -> list[dict]:
    """The drivers where the rep is weaker than the team, worst relative shortfall first."""
    found = []
    for order, drv in enumerate(DRIVERS):
        mine, theirs = rep[drv.key], team[drv.key]
        if mine is None or theirs is None or theirs == 0:
            continue
        if drv.lower_is_better:
            if mine <= ABOVE * theirs:
                continue
            shortfall = mine / theirs - 1
        else:
            if mine >= BELOW * theirs:
                continue
            shortfall = 1 - mine / theirs
        per_rep = drv.key in _COUNTS
        text = (
            f"{drv.label} {_said(drv.key, mine)} against the team's {_said(drv.key, theirs, per_rep)}"
            f"{_detail(drv.key, cohort, window)}: needs coaching on {drv.coaching}"
        )
        found.append(
            (
                -shortfall,
                order,
                {
                    "driver": drv.key,
                    "label": drv.label,
                    "rep": _value_doc(drv.key, mine),
                    "team": _value_doc(drv.key, theirs),
                    "shortfall": ratio4(shortfall),
                    "coaching": drv.coaching,
                    "explanation": text,
                },
            )
        )
    found.sort(key=lambda x: (x[0], x[1]))
    return [x[2] for x in found]


def headline(entry: dict) -> str:
    """ "小李 is at 75.0% of target (450,000.00 of 600,000.00, gap −150,000.00)"."""
    basis = entry.get("basis", "bookings")
    actual = entry.get(basis)
    att = Decimal(entry["attainment"])
    amounts = ""
    if actual is not None and entry.get("target") is not None:
        amounts = f" ({Decimal(str(actual)):,.2f} of {Decimal(str(entry['target'])):,.2f} {basis})"
    return f"{entry['name']} is at {_pct(att)} of target{amounts}, {entry['rag']}"
