"""Rep timelines folded from their own events (onboarding, transfers, offboarding).

A rep's events are kept sorted by (occurred_at, position); `fold_rep` turns them into
a `RepTimeline`: region/team segments and active intervals, so that "region at an
instant" and "active at an instant" are one bisect each.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date

ONBOARDED, TRANSFERRED, OFFBOARDED = 0, 1, 2


class RepTimeline:
    __slots__ = ("rep_id", "name", "hired_on", "onboarded_t", "mentor_id", "known",
                 "_seg_t", "_seg_region", "_seg_team", "_active", "first_t")

    def __init__(self, rep_id: str) -> None:
        self.rep_id = rep_id
        self.name = rep_id
        self.hired_on: date | None = None
        self.onboarded_t: int | None = None  # first onboarding instant
        self.mentor_id: str | None = None
        self.known = False  # an onboarding was seen
        self._seg_t: list[int] = []
        self._seg_region: list[str | None] = []
        self._seg_team: list[str | None] = []
        self._active: list[tuple[int, int | None]] = []  # [start, end) intervals
        self.first_t: int | None = None

    def _seg(self, t: int) -> int:
        i = bisect_right(self._seg_t, t) - 1
        return i if i >= 0 else 0

    def region_at(self, t: int) -> str | None:
        """Region at an instant; before the first event, the first region known."""
        seg_t = self._seg_t
        if len(seg_t) <= 1:  # never transferred (most reps): no search
            return self._seg_region[0] if seg_t else None
        i = bisect_right(seg_t, t) - 1
        return self._seg_region[i if i >= 0 else 0]

    def team_at(self, t: int) -> str | None:
        seg_t = self._seg_t
        if len(seg_t) <= 1:
            return self._seg_team[0] if seg_t else None
        i = bisect_right(seg_t, t) - 1
        return self._seg_team[i if i >= 0 else 0]

    def active_at(self, t: int) -> bool:
        for start, end in self._active:
            if start <= t and (end is None or t < end):
                return True
        return False

    def active_during(self, start: int, end: int) -> bool:
        """Active at any instant of [start, end)."""
        for a, b in self._active:
            if a < end and (b is None or b > start):
                return True
        return False

    def offboarded_before(self, t: int) -> bool:
        return bool(self._active) and self._active[-1][1] is not None and self._active[-1][1] <= t

    def changes_in(self, start: int, end: int) -> bool:
        """Whether the region/team changes strictly inside (start, end)."""
        i = bisect_right(self._seg_t, start)
        return i < len(self._seg_t) and self._seg_t[i] < end


def fold_rep(rep_id: str, events: list[tuple]) -> RepTimeline:
    """events: sorted (t, pos, code, data)."""
    tl = RepTimeline(rep_id)
    region = team = None
    active_since: int | None = None
    for t, _pos, code, d in events:
        if tl.first_t is None:
            tl.first_t = t
        if code == ONBOARDED:
            tl.known = True
            tl.name = d.name
            region, team = d.region, d.team
            if d.hired_on is not None:
                tl.hired_on = d.hired_on
            if d.mentor_id is not None:
                tl.mentor_id = d.mentor_id
            tl._seg_t.append(t)
            tl._seg_region.append(region)
            tl._seg_team.append(team)
            if active_since is None:
                active_since = t
                if tl.onboarded_t is None:
                    tl.onboarded_t = t
        elif code == TRANSFERRED:
            region = d.region
            if d.team is not None:
                team = d.team
            tl._seg_t.append(t)
            tl._seg_region.append(region)
            tl._seg_team.append(team)
        elif code == OFFBOARDED:
            if active_since is not None:
                tl._active.append((active_since, t))
                active_since = None
    if active_since is not None:
        tl._active.append((active_since, None))
    return tl
