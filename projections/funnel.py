"""The cohort funnel (销售漏斗): deals created in a period and the furthest stage each reached.

"Reached" is judged on everything known now: a deal has reached a stage if it was
ever in it or any later one; a signed deal not yet closed has reached negotiation;
"won" means closed (by the definition) at any time.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from projections.deals import STAGES, DealState


class FunnelCounts:
    __slots__ = ("reached", "by_source", "repurchase", "lost")

    def __init__(self) -> None:
        self.reached = [0, 0, 0, 0]
        self.by_source: dict[str, list[int]] = {}
        self.repurchase = 0  # closed deals of kind renewal or upsell
        self.lost = 0

    def add_deal(self, d: DealState) -> None:
        r = d.reached
        for i in range(r + 1):
            self.reached[i] += 1
        src = self.by_source.get(d.source_channel)
        if src is None:
            src = self.by_source[d.source_channel] = [0, 0, 0, 0]
        for i in range(r + 1):
            src[i] += 1
        if r == 3 and d.kind in ("renewal", "upsell"):
            self.repurchase += 1
        if d.lost and r < 3:
            self.lost += 1


    def add(self, other: FunnelCounts) -> None:
        """Add a disjoint cohort's counts (a quarter's are the sum of its months')."""
        for i in range(4):
            self.reached[i] += other.reached[i]
        for source, reached in other.by_source.items():
            mine = self.by_source.get(source)
            if mine is None:
                mine = self.by_source[source] = [0, 0, 0, 0]
            for i in range(4):
                mine[i] += reached[i]
        self.repurchase += other.repurchase
        self.lost += other.lost


def count_cohort(deals: Iterable[DealState]) -> FunnelCounts:
    out = FunnelCounts()
    for d in deals:
        out.add_deal(d)
    return out


def conversion(reached: list[int]) -> dict[str, Decimal | None]:
    out: dict[str, Decimal | None] = {}
    for i in range(3):
        a, b = reached[i], reached[i + 1]
        out[f"{STAGES[i]}_to_{STAGES[i + 1]}"] = Decimal(b) / a if a else None
    return out
