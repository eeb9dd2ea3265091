"""Publication in the TUI: the period header's state line, a statement's honours and
objections, and the objection states' styles (the objections screen is in screens.py).

Everything comes from the read models (`standings`' `publication`, the `publication`
document); only the working days left in the window are counted here, with the same
calendar as the fold (projections.workdays), from the reader's clock.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.text import Text

from projections.workdays import CalendarError, WorkCalendar
from schemas.read_models import ObjectionDoc, Publication, PublicationSummary
from tui.format import money

STATE_STYLE = {"open": "bold yellow", "late": "magenta", "upheld": "green", "rejected": "dim"}
HONOUR_WORDS = {"star_of_month": "★ 月度销售之星 star of the month"}


def honour_text(honour: str) -> str:
    if honour.startswith("top_n:"):
        return f"🏅 季度TOP 第{honour[6:]}名 quarter's top, place {honour[6:]}"
    return HONOUR_WORDS.get(honour, honour)


def publication_text(pub: PublicationSummary, now: datetime, tz: tzinfo) -> Text:
    """`公示 published 09-05 · window closes in 2 working days · 1 open objection · payout pending`."""
    text = Text()
    text.append(f"公示 published {pub.published_at[:10]}")
    closes = pub.window_closes
    if closes is None:
        text.append(f" · window unknown: {pub.window_error}", style="red")
    else:
        end = datetime.fromisoformat(closes)
        if now > end:
            text.append(" · window closed")
        else:
            try:
                # a year only the ruleset declares is not known here: the date is shown instead
                calendar = WorkCalendar(pub.calendar)
                days = calendar.working_days_between(now.astimezone(tz).date(), end.date())
                left = "today" if days == 0 else f"in {days} working day{'s' if days != 1 else ''}"
            except CalendarError:
                left = f"on {closes[:10]}"
            text.append(f" · window closes {left}", style="bold")
    open_ = pub.objections_open
    text.append(
        f" · {open_} open objection{'s' if open_ != 1 else ''}",
        style="bold yellow" if open_ else "",
    )
    if pub.payout == "approved":
        text.append(f" · payout approved {str(pub.approved_at)[:10]}", style="green")
    else:
        text.append(" · payout pending")
    return text


def rep_objections(doc: Publication | None, period: str, rep_id: str) -> list[ObjectionDoc]:
    state = doc.periods.get(period) if doc is not None else None
    return [o for o in state.objections if o.rep == rep_id] if state is not None else []


def rep_publication_text(honours: list[str], objections: list[ObjectionDoc]) -> Text:
    """A statement's honours and the rep's objections on the period."""
    text = Text()
    for h in honours:
        text.append(honour_text(h) + "\n", style="bold")
    for o in objections:
        text.append(f"{o.id} ")
        text.append(o.state, style=STATE_STYLE.get(o.state, ""))
        amount = f" {money(o.amount)}" if o.amount is not None else ""
        text.append(f"{amount} · {o.component or 'statement'}: {o.reason}")
        if o.note:
            text.append(f" — {o.note}", style="dim")
        text.append("\n")
    text.rstrip()
    return text
