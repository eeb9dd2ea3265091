"""Publication (公示), objections (异议) and payout (发放): DOMAIN.md's rules, folded in business order.

The three event types are few (a handful per rep and month), so their state is not
updated incrementally: every question is answered from the whole set, sorted by
(occurred_at, log position). That makes the answers a function of the set of stored
events alone: a late or back-dated objection, resolution or approval gives the same
read models as one that arrived on time, and the live projector, a rebuild and a
replay agree. The projection supplies what the rules need from elsewhere: when each
month was published (`period.closed`), the `[publication]` rules and the timezone.

Choices where DOMAIN.md is silent:
- An objection needs its period published at its `occurred_at`; one raised before is
  listed as rejected input (a back-dated close may admit it later). The first valid
  `objection.raised` of an id in business order is the objection; later ones with the
  same id are rejected input. A resolution must follow its objection in business order.
- While the window cannot be computed (a year the CN calendar does not know), every
  unresolved objection counts as open and no approval passes, with the reason.
- An upheld correction of 0 is listed in the payout but gives no statement line; a
  correction already paid in a published statement stays there (never paid twice),
  even if its approval is later found not to hold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from projections.periods import EPOCH, US, from_us, instant_us
from projections.views import money
from projections.workdays import CalendarError, WorkCalendar
from schemas import events as ev
from schemas.read_models import PublishedMonth
from schemas.ruleset import Publication

TYPES = (ev.ObjectionRaised, ev.ObjectionResolved, ev.PayoutApproved)
ZERO = Decimal(0)
SECOND = 1_000_000


class Correction:
    """An upheld objection paid after the approval: a statement line, like an adjustment."""

    __slots__ = (
        "component",
        "amount",
        "explanation",
        "basis",
        "rate",
        "for_period",
        "objection_id",
        "rep_id",
    )

    def __init__(self, objection: Objection) -> None:
        self.component = "objection"
        self.amount = objection.amount
        note = f": {objection.note}" if objection.note else ""
        self.explanation = f"objection {objection.id} for {objection.period}{note}"
        self.basis = None
        self.rate = None
        self.for_period = objection.period
        self.objection_id = objection.id
        self.rep_id = objection.rep


@dataclass
class Objection:
    id: str
    period: str
    rep: str
    reason: str
    component: str | None
    claimed: Decimal | None
    raised: tuple[int, int]  # (t, pos)
    event_id: str
    inside: bool = True  # raised inside the window (True while the window is unknown)
    decision: str | None = None
    amount: Decimal | None = None
    note: str | None = None
    resolved: tuple[int, int] | None = None

    @property
    def state(self) -> str:
        if self.decision is not None:
            return self.decision
        return "open" if self.inside else "late"


@dataclass
class PeriodState:
    period: str
    published_t: int | None
    window_end_t: int | None = None
    window_error: str | None = None
    calendar: str = "weekdays"
    objections: list[Objection] = field(default_factory=list)
    approval: tuple[int, int, str, str | None] | None = None  # (t, pos, event id, by)

    def before_approval(self, o: Objection) -> bool:
        return self.approval is None or (o.resolved is not None and o.resolved < self.approval[:2])


def _t(event) -> int:
    return (event.occurred_at - EPOCH) // US


class Publications:
    """Objections and approvals, with the answers the read models need."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._raised: list[tuple[int, int, ev.ObjectionRaised]] = []
        self._resolved: list[tuple[int, int, ev.ObjectionResolved]] = []
        self._approved: list[tuple[int, int, ev.PayoutApproved]] = []
        self._paid_in: dict[str, str] = {}  # objection id -> the published month that paid it
        self._cache: tuple | None = None

    def add(self, pos: int, event) -> set[str]:
        """Take one event; the periods whose publication state it may change."""
        self._cache = None
        item = (_t(event), pos, event)
        if isinstance(event, ev.ObjectionRaised):
            self._raised.append(item)
            return {event.data.period}
        if isinstance(event, ev.PayoutApproved):
            self._approved.append(item)
            return {event.data.period}
        self._resolved.append(item)
        oid = event.data.objection_id
        return {e.data.period for _t_, _p, e in self._raised if e.data.objection_id == oid}

    def invalidate(self) -> None:
        """The published months changed (a close): answers are recomputed."""
        self._cache = None

    def has_events(self) -> bool:
        return bool(self._raised or self._resolved or self._approved)

    # --- the fold ---------------------------------------------------------------------

    def states(
        self, published: Callable[[], Mapping[str, int]], rules: Callable[[str], Publication]
    ) -> tuple[dict[str, PeriodState], list[dict]]:
        """The state of every published month and of every month an event names, and the
        rejected inputs, from the whole set in business order. `published()` gives each
        published month's publication instant."""
        if self._cache is not None:
            return self._cache
        states: dict[str, PeriodState] = {}
        rejected: list[dict] = []
        times = published()

        def state(period: str) -> PeriodState:
            s = states.get(period)
            if s is None:
                s = states[period] = PeriodState(period, times.get(period))
                if s.published_t is not None:
                    r = rules(period)
                    s.calendar = r.calendar
                    try:
                        end = WorkCalendar.of(r).window_end(
                            from_us(s.published_t, self.tz), r.objection_days, self.tz
                        )
                        s.window_end_t = instant_us(end)
                    except CalendarError as exc:
                        s.window_error = str(exc)
            return s

        def refuse(event, pos: int, why: str) -> None:
            rejected.append(
                {
                    "id": event.id,
                    "type": ev.event_type(event),
                    "position": pos,
                    "occurred_at": event.occurred_at.isoformat(),
                    "reason": why,
                }
            )

        for period in sorted(times):
            state(period)
        objections: dict[str, Objection] = {}
        for t, pos, e in sorted(self._raised, key=lambda x: x[:2]):
            d = e.data
            s = state(d.period)
            if d.objection_id in objections:
                refuse(
                    e,
                    pos,
                    f"objection {d.objection_id} was already raised "
                    f"(event {objections[d.objection_id].event_id})",
                )
                continue
            if s.published_t is None or t < s.published_t:
                refuse(e, pos, f"period {d.period} was not published at {self._iso(t)}")
                continue
            o = Objection(
                d.objection_id,
                d.period,
                d.rep_id,
                d.reason,
                d.component,
                d.claimed_amount,
                (t, pos),
                e.id,
                inside=s.window_end_t is None or t < s.window_end_t,
            )
            objections[o.id] = o
            s.objections.append(o)
        for t, pos, e in sorted(self._resolved, key=lambda x: x[:2]):
            d = e.data
            o = objections.get(d.objection_id)
            if o is None or o.raised > (t, pos):
                refuse(e, pos, f"no objection {d.objection_id} was raised before this resolution")
            elif o.resolved is not None:
                refuse(
                    e,
                    pos,
                    f"objection {o.id} was already resolved ({o.decision} at {self._iso(o.resolved[0])})",
                )
            else:
                o.decision, o.resolved, o.note = d.decision, (t, pos), d.note
                o.amount = d.amount if d.decision == "upheld" else None
        for t, pos, e in sorted(self._approved, key=lambda x: x[:2]):
            s = state(e.data.period)
            why = self._refusal(s, t, pos)
            if why is not None:
                refuse(e, pos, why)
            else:
                s.approval = (t, pos, e.id, e.data.by)
        self._cache = (states, rejected)
        return self._cache

    def _refusal(self, s: PeriodState, t: int, pos: int) -> str | None:
        """Why an approval at (t, pos) approves nothing, or None (DOMAIN.md's conditions)."""
        p = s.period
        if s.approval is not None:
            return f"the payout of {p} was already approved at {self._iso(s.approval[0])}"
        if s.published_t is None or t < s.published_t:
            return f"period {p} was not published at {self._iso(t)}"
        if s.window_error is not None:
            return s.window_error
        if t < s.window_end_t:
            return f"the objection window of {p} closes {self._iso(s.window_end_t - SECOND)}"
        for o in s.objections:
            if o.inside and (o.resolved is None or o.resolved > (t, pos)):
                return f"objection {o.id} on {p} was open at {self._iso(t)}"
        return None

    def _iso(self, t: int) -> str:
        return from_us(t, self.tz).isoformat()

    # --- what the statements pay --------------------------------------------------------

    def corrections_after_approval(self, states: Mapping[str, PeriodState]) -> list[Objection]:
        """Upheld objections resolved after their period's approval (paid in a later statement)."""
        out = []
        for s in states.values():
            if s.approval is None:
                continue
            out.extend(
                o
                for o in s.objections
                if o.decision == "upheld" and not s.before_approval(o) and o.amount
            )
        return out

    def paid_in(self, objection_id: str) -> str | None:
        return self._paid_in.get(objection_id)

    def freeze(self, month: str, lines: list) -> None:
        """`month` was published with these correction lines: they are paid there for good."""
        for line in lines:
            self._paid_in.setdefault(line.objection_id, month)

    # --- documents --------------------------------------------------------------------

    def objection_doc(self, o: Objection, s: PeriodState, paid_month: str | None) -> dict:
        """`paid_month`: the statement that pays (or will pay) it if resolved after the approval."""
        paid = None
        if o.decision == "upheld":
            paid = "payout" if s.before_approval(o) and o.id not in self._paid_in else paid_month
        return {
            "id": o.id,
            "period": o.period,
            "rep": o.rep,
            "component": o.component,
            "reason": o.reason,
            "claimed": money(o.claimed),
            "state": o.state,
            "amount": money(o.amount),
            "note": o.note,
            "raised_at": self._iso(o.raised[0]),
            "resolved_at": self._iso(o.resolved[0]) if o.resolved else None,
            "late": not o.inside,
            "event_id": o.event_id,
            "paid_in": paid,
        }

    def summary(self, s: PeriodState) -> dict:
        """`standings --json`'s `publication` of a published month."""
        return {
            "published_at": self._iso(s.published_t),
            "window_closes": self._iso(s.window_end_t - SECOND)
            if s.window_end_t is not None
            else None,
            "window_error": s.window_error,
            "calendar": s.calendar,
            "objections_open": sum(1 for o in s.objections if o.state == "open"),
            "objections_late": sum(1 for o in s.objections if o.state == "late"),
            "objections": len(s.objections),
            "payout": "approved" if s.approval else "pending",
            "approved_at": self._iso(s.approval[0]) if s.approval else None,
            "approved_by": s.approval[3] if s.approval else None,
        }

    def payout(self, s: PeriodState, frozen_reps: Mapping[str, dict]) -> dict:
        """Per rep: the published total, the corrections resolved before the approval (those
        not already paid in a statement), and the payout."""
        reps: dict[str, dict] = {}
        for rep_id, entry in sorted(frozen_reps.items()):
            reps[rep_id] = {
                "published_total": entry["total"],
                "corrections": [],
                "payout": entry["total"],
            }
        for o in s.objections:
            if o.decision != "upheld" or not s.before_approval(o) or o.id in self._paid_in:
                continue
            r = reps.setdefault(
                o.rep,
                {
                    "published_total": "0.00",
                    "corrections": [],
                    "payout": "0.00",
                },
            )
            r["corrections"].append(
                {
                    "objection": o.id,
                    "amount": money(o.amount),
                    "explanation": f"objection {o.id}" + (f": {o.note}" if o.note else ""),
                }
            )
            r["payout"] = money(Decimal(r["payout"]) + o.amount)
        return reps


def approval_refusal(state: PublishedMonth, period: str, now: datetime) -> str | None:
    """Why the payout of P cannot be approved at `now`, read from P's published state as
    the `publication` document shows it; the same conditions as `_refusal`, which decides
    in the fold. The CLI asks this before it sends an approval, so a refusal changes nothing."""
    if state.payout == "approved":
        return f"the payout of {period} was already approved at {state.approved_at}"
    if state.window_closes is None:
        return f"the objection window of {period} is unknown: {state.window_error}"
    closes = datetime.fromisoformat(state.window_closes)
    if now <= closes:
        return f"the objection window of {period} is open until {state.window_closes}"
    open_ = [o.id for o in state.objections if o.state == "open"]
    if open_:
        return (
            f"{period} has open objections ({', '.join(sorted(open_))}): resolve them first "
            f"(`quotaboard objection resolve ID --upheld AMOUNT|--rejected --note TEXT`)"
        )
    return None
