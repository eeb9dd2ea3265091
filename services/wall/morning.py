"""Each period's ranks as of the business day's first look: the wall's "movement since
the morning".

Ranks are not in the documents (every reader ranks with schemas.documents.rank_reps), so
the morning's are kept here, per period, in `<data>/wall/morning.json` (0600): the first
ranking the wall computes on a business day becomes that day's baseline and survives a
restart of the wall, so a reload at noon still shows who climbed since the morning.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from services.config import write_private


class MorningRanks:
    def __init__(self, data_dir: Path | str) -> None:
        self.path = Path(data_dir) / "wall" / "morning.json"
        try:
            self._days: dict[str, dict] = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            self._days = {}

    def baseline(self, period: str, day: date, ranks: dict[str, int]) -> dict[str, int]:
        """The ranks of `period` at the start of `day`: the first ranking seen that day.
        A rep who appeared since has no morning rank (the wall shows it as new all day);
        it is remembered as joined, so the file is written once per newcomer, not per look."""
        kept = self._days.get(period)
        if kept is None or kept.get("day") != day.isoformat():
            kept = {"day": day.isoformat(), "ranks": dict(ranks), "joined": []}
        else:
            known = set(kept["ranks"]) | set(kept.get("joined", ()))
            if set(ranks) <= known:
                return kept["ranks"]
            joined = sorted(set(kept.get("joined", ())) | (set(ranks) - known))
            kept = {"day": kept["day"], "ranks": kept["ranks"], "joined": joined}
        self._days[period] = kept
        write_private(self.path, json.dumps(self._days, ensure_ascii=False, sort_keys=True))
        return kept["ranks"]
