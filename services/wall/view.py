"""What the wall shows, from the read store's documents: the figures are the documents'
own (the same the TUI and `--json` show); this module only ranks them (the shared
schemas.documents.rank_reps), takes the team's trend from the fold's weekly document, and
formats. With `hide_money` no amount leaves this module: the page gets attainment only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from projections.metrics import UNASSIGNED
from projections.periods import (
    BUSINESS_TZ,
    bounds,
    current_month,
    days_left,
    default_month,
    kind_of,
    months_among,
    shift,
)
from schemas.documents import RAG_SYMBOL, as_decimal, money, pct, rank_reps
from services.wall.morning import MorningRanks
from tui.source import DataSource

BAR_SCALE = Decimal("1.5")  # a bar is full at 150% of target; the target mark sits at 2/3
RAG_WORD = {"green": "on track", "yellow": "behind", "red": "at risk", "none": "no target"}


@dataclass(frozen=True)
class Bar:
    """An SVG bar's geometry in a 0..100 viewBox: attributes, never inline styles (CSP)."""

    fill: str
    target: str
    pace: str | None = None


def bar(attainment: str | None, pace: Decimal | None = None) -> Bar:
    att = as_decimal(attainment) or Decimal(0)
    width = max(Decimal(0), min(att, BAR_SCALE)) / BAR_SCALE * 100
    mark = Decimal(1) / BAR_SCALE * 100
    return Bar(
        f"{width:.1f}", f"{mark:.1f}", None if pace is None else f"{pace / BAR_SCALE * 100:.1f}"
    )


def honour_text(honour: str) -> str:
    """`star_of_month`, or `top_n:K` (cli.md), as a person reads it."""
    return {"star_of_month": "★ star of the month"}.get(honour, honour.replace("_", " "))


def _trend(
    source: DataSource, period: str, target: Decimal | None, hide_money: bool
) -> list[dict]:
    """The team's bookings per week of the period: the fold's weekly trend (the document
    `quotaboard weekly` and the TUI's trend screen show), its teams added up without the
    unassigned credit, as the team panels show them; with the attainment reached by each
    week's end when the team has a target."""
    doc = source.weekly(period)
    if doc is None:
        return []
    weeks = {week: Decimal(0) for week in doc.weeks}
    for team, series in doc.team.items():
        if team == UNASSIGNED:
            continue
        for row in series.weeks:
            weeks[row.week] += as_decimal(row.bookings) or Decimal(0)
    if not any(weeks.values()):
        return []
    top = max(weeks.values())
    running, out = Decimal(0), []
    for i, (week, amount) in enumerate(weeks.items()):
        running += amount
        reached = running / target if target else None
        height = amount / top * 80
        out.append(
            {
                "week": week[-3:],
                "x": f"{i * 100 / len(weeks) + 100 / len(weeks) * 0.15:.2f}",
                "width": f"{100 / len(weeks) * 0.7:.2f}",
                "height": f"{height:.2f}",
                "y": f"{90 - height:.2f}",
                "amount": None if hide_money else money(amount, compact=True),
                "reached": pct(reached, 0) if reached is not None else None,
            }
        )
    return out


def wall_view(
    source: DataSource,
    period: str | None,
    now: datetime,
    morning: MorningRanks,
    hide_money: bool,
    tz: ZoneInfo = BUSINESS_TZ,
) -> dict:
    """The page's model for `period` (default: this month) at `now`; months, days left,
    the time shown and the morning's day are the business timezone's (`tz`, the rulesets')."""
    periods = source.periods()
    this_month = current_month(now, tz)
    period = period or default_month(months_among(periods), this_month) or this_month
    start, end = bounds(period, tz)
    elapsed = (max(start, min(now, end)) - start) / (end - start)
    view = {
        "period": period,
        "kind": kind_of(period),
        "days_left": days_left(period, now, tz),
        "prev": shift(period, -1),
        "next": shift(period, 1),
        "hide_money": hide_money,
        "updated": now.astimezone(tz).strftime("%H:%M:%S"),
        "position": source.position(),
        "teams": [],
        "rows": [],
        "regions": [],
        "honours": [],
        "trend": [],
    }
    doc = source.standings(period)
    if doc is None:
        return view
    view["position"] = doc.position
    pace = Decimal(str(round(elapsed, 4)))
    team_target = None
    for name, team in sorted(doc.team.items()):
        rag = team.rag
        view["teams"].append(
            {
                "name": name,
                "rag": rag,
                "rag_word": RAG_WORD[rag],
                "symbol": RAG_SYMBOL[rag],
                "attainment": pct(team.attainment, 1),
                "bar": bar(team.attainment, pace),
                "bookings": None if hide_money else money(team.bookings, compact=True),
                "target": None if hide_money else money(team.target, compact=True),
            }
        )
        team_target = team_target or as_decimal(team.target)
    reps = doc.reps
    ranks = rank_reps(reps)
    before = morning.baseline(period, now.astimezone(tz).date(), ranks)
    for rep_id, entry in sorted(reps.items(), key=lambda item: (ranks[item[0]], item[0])):
        rag = entry.rag
        move = before[rep_id] - ranks[rep_id] if rep_id in before else None
        honours = [honour_text(h) for h in entry.honours]
        row = {
            "id": rep_id,
            "rank": ranks[rep_id],
            "name": entry.name or rep_id,
            "region": entry.region or "—",
            "rag": rag,
            "rag_word": RAG_WORD[rag],
            "symbol": RAG_SYMBOL[rag],
            "attainment": pct(entry.attainment, 0),
            "bar": bar(entry.attainment),
            "move": move,
            "honours": honours,
            "bookings": None if hide_money else money(entry.bookings, compact=True),
            "target": None if hide_money else money(entry.target, compact=True),
        }
        view["rows"].append(row)
        if honours:
            view["honours"].append(
                {"name": row["name"], "region": row["region"], "honours": honours}
            )
    for name, region in sorted(doc.regions.items()):
        rag = region.rag
        members = sum(1 for e in reps.values() if e.region == name)
        view["regions"].append(
            {
                "name": name,
                "rag": rag,
                "rag_word": RAG_WORD[rag],
                "symbol": RAG_SYMBOL[rag],
                "attainment": pct(region.attainment, 0),
                "bar": bar(region.attainment),
                "members": members,
                "bookings": None if hide_money else money(region.bookings, compact=True),
                "target": None if hide_money else money(region.target, compact=True),
            }
        )
    view["trend"] = _trend(source, period, team_target, hide_money)
    return view
