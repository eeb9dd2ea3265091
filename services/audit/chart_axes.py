"""Round axis labels for the review's weekly charts (services/audit/review.py).

Why here and not pygal's own: pygal puts a secondary axis' labels at the primary axis'
label positions and gives each the value at that height, formatted like the primary's;
with 13 money labels over a 环比 range of -100% to -99% that printed "-100" and "-99"
six times each. So both axes are chosen here: the money labels on round steps from the
lowest value (or 0) to the highest, and the 环比 labels with as many round percentage
steps, so each 环比 label is a round number and lines up with a money label.

Only the picture: the figures printed in the review are the store's decimal text.
"""

from __future__ import annotations

import math

STEPS = (1, 2, 2.5, 5, 10)  # times a power of ten


def round_step(span: float, intervals: int) -> int:
    """The smallest whole 1, 2, 2.5 or 5 × 10^k that covers `span` in `intervals` steps."""
    needed = max(span / intervals, 1)
    power = 10 ** math.floor(math.log10(needed))
    return next(
        int(m * power) for m in STEPS if m * power >= needed and float(m * power).is_integer()
    )


def labels_over(low: float, high: float, intervals: int = 5) -> list[int]:
    """Round labels from at or below min(low, 0) to at or above max(high, 0), about
    `intervals` steps (at least two, so a matching axis can straddle 0)."""
    low, high = min(low, 0), max(high, 0)
    step = round_step(high - low, intervals)
    start = math.floor(low / step) * step
    count = max(math.ceil((high - start) / step), 2)
    return [start + i * step for i in range(count + 1)]


def labels_matching(low: float, high: float, count: int) -> list[int]:
    """`count` (3 or more) round labels, evenly stepped, covering min(low, 0) to max(high,
    0): the secondary axis beside a primary axis of `count` labels. Two steps or more always
    fit once a step reaches both ends' size."""
    low, high = min(low, 0), max(high, 0)
    intervals = count - 1
    step = round_step(high - low, intervals)
    while math.floor(low / step) * step + intervals * step < high:
        step = round_step(step + 1, 1)  # the next round step
    start = math.floor(low / step) * step
    return [start + i * step for i in range(intervals + 1)]
