"""The pure fold: every read model, folded from the event log in business order.

`Projection.apply(batch)` takes (log position, decoded event) pairs in ascending
position. It keeps each entity's events (a deal with its payments, a rep's org events,
a target key) sorted by (occurred_at, position), re-folds only the entities a batch
touches, and marks dirty only the periods those entities feed. Figures are built lazily
per period and cached until a later batch dirties them, so a late, back-dated event
gives exactly the figures it would have given on time, and the live projector, a
rebuild and a replay (another RulesetSet) share this one path.

`period.closed` and `ruleset.applied` are processed in position order: the state first
catches up on everything before them, then the period's statements are frozen as they
stand (what was published) or the period's plan is replaced. Later changes to a closed
period are paid as "adjustment for P" lines in the first month after P not closed.

No I/O here: no files, no sqlite, no clock.

Choices where DOMAIN.md is silent (written down here for the docs):
- Events before a deal's `deal.created` in business order still apply to it (a payment
  before the deal's creation date counts at its own time). A deal with no
  `deal.created` at all is listed by `unmatched()` and feeds no figure.
- A loss counts once per transition into "lost"; a second `deal.lost` while already
  lost is ignored; a `deal.won` (or the close) clears the lost state.
- Reassigning a deal keeps its latest credit split (money follows the split; counts
  follow the new owner).
- Region and team scopes take the rep's region/team at the instant (close, payment,
  loss, activity); a rep's entry shows the region at the period's last instant.
- A rep appears in a period's standings when active at any instant of it, or with any
  figure or target in it. What is credited to a rep id no `rep.onboarded` names is
  counted under `unassigned` (and the region and team `unassigned`), not as a rep.
- Product-line scope: the full closed amount of a deal, its count and cycle.
- A closed month's standings show the frozen statement (what was published) beside the
  current figures; quarter and year documents show each month's lines with a
  `"period"` field and the explanation prefixed by the month.
- A quarter's last month has statements as soon as any month of the quarter has a
  figure when its plan pays there (a quarterly plan, or rank awards).
- Statements list the rep's 20 latest activities (month documents only; quarters and
  years carry the counts by kind).
- `period.closed` for an already closed month changes nothing; a `ruleset.applied`
  whose TOML does not load, or whose hash is not its TOML's, is listed under
  `unmatched()["rejected"]`.
"""

from __future__ import annotations

import functools
import gc
from bisect import insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from operator import itemgetter

from projections import periods as pd
from projections.bounds import WIDE, Bounds, describe
from projections.deals import (
    CREATED,
    LOST,
    PAID,
    REASSIGNED,
    REFUNDED,
    SPLIT,
    STAGE,
    UPDATED,
    WON,
    DealState,
    MoneyIssue,
    fold_deal,
    payload,
)
from projections.facts import MenteeClose, PeriodFacts, RepFacts
from projections.funnel import FunnelCounts, count_cohort
from projections.honours import honours
from projections.metrics import ZERO as FIG_ZERO
from projections.metrics import Acc, Figures, build_month, merge_figures, ratio
from projections.org import OFFBOARDED, ONBOARDED, TRANSFERRED, RepTimeline, fold_rep
from projections.periods import EPOCH, US, Calendar, instant_us
from projections.publication import TYPES as PUBLICATION_TYPES
from projections.publication import Correction, Publications
from projections.rulesets import LoadedRuleset, RulesetSet, load_ruleset
from projections.views import (
    funnel_doc,
    line_doc,
    money,
    money_issue_doc,
    scope_entry,
    statement_doc,
    unassigned_doc,
)
from schemas import events as ev
from schemas import fast
from schemas.fast import PUBLIC

ZERO = Decimal(0)
RECENT_ACTIVITIES = 20  # a statement lists the rep's latest activities (all are counted)
CENT = Decimal("0.01")
_TIME_POS = itemgetter(0, 4)  # an activity item's (occurred_at, position)

_DEAL_CODES = {
    ev.DealCreated: CREATED,
    ev.DealUpdated: UPDATED,
    ev.DealStageChanged: STAGE,
    ev.DealReassigned: REASSIGNED,
    ev.DealCreditSplit: SPLIT,
    ev.DealWon: WON,
    ev.DealLost: LOST,
    ev.PaymentReceived: PAID,
    ev.PaymentRefunded: REFUNDED,
}
_REP_CODES = {ev.RepOnboarded: ONBOARDED, ev.RepTransferred: TRANSFERRED, ev.RepOffboarded: OFFBOARDED}
# The projector's trusted decode (schemas.fast) gives lighter Structs with the same fields
# for the frequent types; they dispatch exactly as the public class they stand for.
for _cls, _public in PUBLIC.items():
    if _public in _DEAL_CODES:
        _DEAL_CODES[_cls] = _DEAL_CODES[_public]
_ACTIVITY_CLASSES = frozenset({ev.ActivityLogged, fast.ActivityLogged})
_CUSTOMER_CLASSES = frozenset({ev.CustomerCreated, fast.CustomerCreated})


@dataclass
class Changes:
    """What a batch changed: the periods whose documents to rewrite, and the reps whose own
    statement parts (deals, activities, weekly bookings) changed. Any rep's figures and
    lines may change with a period (team and rank awards): read them from `standings`.
    `new_periods` had no documents before: every rep of theirs needs a statement."""

    position: int
    periods: set[str] = field(default_factory=set)
    reps: set[str] = field(default_factory=set)
    new_periods: set[str] = field(default_factory=set)

    def add(self, other: Changes) -> None:
        """Fold a later batch's changes into these."""
        self.position = other.position
        self.periods |= other.periods
        self.reps |= other.reps
        self.new_periods |= other.new_periods


class Adjustment:
    __slots__ = ("component", "amount", "explanation", "basis", "rate", "for_period")

    def __init__(self, for_period: str, amount: Decimal, explanation: str) -> None:
        self.component = "adjustment"
        self.amount = amount
        self.explanation = explanation
        self.basis = None
        self.rate = None
        self.for_period = for_period


def _gc_paused(method):
    """Run a method with the cyclic GC paused (documents allocate many small, acyclic dicts)."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():
            return method(*args, **kwargs)
        gc.disable()
        try:
            return method(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper


class Projection:
    """All read models, folded from the event log in business order."""

    def __init__(self, rulesets: RulesetSet) -> None:
        self.rulesets = rulesets
        self.definitions = rulesets.definitions
        self.tz = rulesets.timezone
        self.cal = Calendar(self.tz)
        self._bounds = Bounds(self.cal.tz)
        self.position = 0
        # entities, each with its events sorted by (t, pos)
        self._deal_events: dict[str, list[tuple]] = {}
        self._deals: dict[str, DealState] = {}
        self._created: set[str] = set()
        self._deal_months: dict[str, set[str]] = {}
        self._month_deals: dict[str, set[str]] = {}
        self._cohort: dict[str, set[str]] = {}
        self._pending: dict[str, list[tuple]] = {}
        self._money_issues: dict[str, list[MoneyIssue]] = {}  # deal -> receipts/refunds not fully counted
        self._rep_events: dict[str, list[tuple]] = {}
        self._reps: dict[str, RepTimeline] = {}
        self._targets: dict[tuple, tuple] = {}
        self._targets_by_period: dict[str, dict[tuple[str, str], dict[str, Decimal]]] = {}
        self._activities: dict[str, dict[str, list[tuple]]] = {}
        self._customers: dict[str, str | None] = {}
        self._cust_closes: dict[str, dict[str, tuple]] = {}
        self._cust_first: dict[str, tuple] = {}
        self._owner_closes: dict[str, dict[str, tuple]] = {}
        self._owner_first: dict[str, tuple] = {}
        self._clawback_deps: dict[str, set[str]] = {}
        self._months: set[str] = set()  # months with any figure
        self._other_periods: set[str] = set()  # quarters/years named by targets
        # this batch
        self._touched_deals: set[str] = set()
        self._touched_org: dict[str, int] = {}
        self._touched_reps: set[str] = set()
        self._dirty: set[str] = set()
        self._dirty_other: set[str] = set()
        self._stale: set[str] = set()  # months to recompute without making them known
        # closing and corrections
        self._closed: dict[str, dict] = {}
        self._frozen_own: dict[str, dict[str, Decimal]] = {}
        self._frozen_adj: dict[str, dict[str, Decimal]] = {}
        self._plan_override: dict[str, LoadedRuleset] = {}
        self._rejected: list[dict] = []
        self._set_aside: list[dict] = []  # events the fold cannot take, with the reason
        self._pub = Publications(self.cal.tz)  # objections and payouts (projections/publication.py)
        self._pub_doc: dict | None = None  # publication(), until an objection, approval or close
        self._pub_doc_new = False  # computed since publication_update() last gave it
        # caches, invalidated per period
        self._fig_cache: dict[str, Figures] = {}
        self._facts_cache: dict[str, PeriodFacts] = {}
        self._stmt_cache: dict[str, dict] = {}
        self._doc_cache: dict[str, dict] = {}
        self._funnel_cache: dict[str, dict] = {}
        self._cohort_cache: dict[str, FunnelCounts] = {}  # a month's cohort counts
        self._rate_cache: dict[tuple[str, str], Decimal | None] = {}

    # --- applying events --------------------------------------------------------------

    def apply(self, batch: Sequence[tuple[int, ev.Event]]) -> Changes:
        # The cyclic GC is paused for the batch (nothing here makes cycles): with a million
        # live events it would otherwise rescan the whole state every few thousand events.
        paused = gc.isenabled()
        if paused:
            gc.disable()
        known = self._known_periods()
        try:
            changes = self._apply(batch)
            changes.new_periods = self._known_periods() - known
            return changes
        finally:
            if paused:
                gc.enable()

    def _apply(self, batch: Sequence[tuple[int, ev.Event]]) -> Changes:
        changes = Changes(position=self.position)
        deal_codes = _DEAL_CODES
        deal_events = self._deal_events
        touched = self._touched_deals
        created = self._created
        pending = self._pending
        epoch, us = EPOCH, US
        last = self.position
        activity_classes = _ACTIVITY_CLASSES
        month_of_dt = self.cal.month_of_datetime
        fixed, fixed_months = self.cal.fixed_months()
        activities = self._activities
        dirty = self._dirty
        touched_reps = self._touched_reps
        check = self._bounds.reason
        set_aside = self._set_aside.append
        for pos, event in batch:
            if pos <= last:
                continue  # already applied
            last = pos
            try:
                why = check(event)
                if why is not None:
                    set_aside(describe(pos, event, why))
                    continue
                cls = event.__class__
                code = deal_codes.get(cls)
                if code is not None:
                    d = event.data
                    deal_id = d.deal_id
                    t = (event.occurred_at - epoch) // us
                    item = (t, pos, code, payload(code, d, event.id))
                    lst = deal_events.get(deal_id)
                    if lst is None:
                        deal_events[deal_id] = [item]
                    elif lst[-1][0] < t or (lst[-1][0] == t and lst[-1][1] < pos):
                        lst.append(item)
                    else:
                        insort(lst, item)
                    touched.add(deal_id)
                    if code == CREATED:
                        created.add(deal_id)
                    elif deal_id not in created:
                        pending.setdefault(deal_id, []).append((pos, event.id, cls.__struct_config__.tag, t))
                elif cls in activity_classes:
                    d = event.data
                    dt = event.occurred_at
                    month = fixed_months.get((dt.year, dt.month)) if dt.utcoffset() == fixed else None
                    if month is None:
                        month = month_of_dt(dt)
                    by_rep = activities.get(month)
                    if by_rep is None:
                        by_rep = activities[month] = {}
                    lst = by_rep.get(d.rep_id)
                    item = (dt, d.kind, d.activity_id, d.deal_id, pos)
                    if lst is None:
                        by_rep[d.rep_id] = [item]
                    else:
                        lst.append(item)  # order within a month does not change a count
                    dirty.add(month)
                    touched_reps.add(d.rep_id)
                elif cls is ev.TargetSet:
                    self._target(pos, event)
                elif cls in _REP_CODES:
                    self._rep_event(pos, event, _REP_CODES[cls])
                elif cls in _CUSTOMER_CLASSES:
                    self._customers.setdefault(event.data.customer_id, event.data.name)
                elif cls is ev.PeriodClosed:
                    self.position = pos - 1
                    self._flush(changes)
                    self._close(pos, event, changes)
                elif cls is ev.RulesetApplied:
                    self.position = pos - 1
                    self._flush(changes)
                    self._apply_ruleset(pos, event, changes)
                elif cls in PUBLICATION_TYPES:
                    self._publication_event(pos, event, changes)
            except Exception as exc:  # noqa: BLE001 - last resort: one event never stops the fold
                set_aside(describe(pos, event, f"not folded: {type(exc).__name__}: {exc}"))
        self.position = last
        self._flush(changes)
        changes.position = self.position
        return changes

    def _target(self, pos: int, event: ev.TargetSet) -> None:
        d = event.data
        t = (event.occurred_at - EPOCH) // US
        key = (d.scope, d.scope_id, d.period, d.metric)
        cur = self._targets.get(key)
        if cur is not None and (cur[0], cur[1]) > (t, pos):
            return  # an older revision arriving late: the latest by occurred_at wins
        self._targets[key] = (t, pos, d.amount)
        self._targets_by_period.setdefault(d.period, {}).setdefault((d.scope, d.scope_id), {})[d.metric] = d.amount
        if pd.kind_of(d.period) == "month":
            self._dirty.add(d.period)
        else:
            self._dirty_other.add(d.period)
            self._stale.add(pd.last_month(d.period))  # a quarterly plan's statement
        if d.scope == "rep":
            self._touched_reps.add(d.scope_id)

    def _rep_event(self, pos: int, event, code: int) -> None:
        d = event.data
        t = (event.occurred_at - EPOCH) // US
        item = (t, pos, code, d)
        lst = self._rep_events.get(d.rep_id)
        if lst is None:
            self._rep_events[d.rep_id] = [item]
        elif lst[-1][:2] < (t, pos):
            lst.append(item)
        else:
            insort(lst, item)
        prev = self._touched_org.get(d.rep_id)
        self._touched_org[d.rep_id] = t if prev is None else min(prev, t)

    # --- re-folding what a batch touched ----------------------------------------------

    def _flush(self, changes: Changes) -> None:
        """Re-fold the touched entities, then invalidate the periods they feed."""
        dirty = self._dirty
        month_of = self.cal.month_of
        if self._touched_org:
            for rep_id, tmin in self._touched_org.items():
                old = self._reps.get(rep_id)
                new = self._reps[rep_id] = fold_rep(rep_id, self._rep_events[rep_id])
                # the rep's name, and its region before its first org event, show in every month
                timeless = old is None or (old.name, old.known, old.first_t) != (new.name, new.known, new.first_t)
                first = "" if timeless else month_of(tmin)
                dirty.update(m for m in self._months if m >= first)
                # a quarter or year known by its target alone shows the org as well
                self._dirty_other.update(p for p in self._other_periods if pd.last_month(p) >= first)
                self._touched_reps.add(rep_id)
            self._touched_org.clear()
        if self._touched_deals:
            for deal_id in self._touched_deals:
                self._refold_deal(deal_id)
            self._touched_deals.clear()
        if not dirty and not self._dirty_other:
            if self._touched_reps:
                changes.reps |= self._touched_reps
                self._touched_reps.clear()
            return
        self._months |= dirty
        self._months |= self._paying_quarter_ends(dirty)
        self._other_periods |= self._dirty_other
        affected = self._affected(dirty | self._stale)
        self._stale.clear()
        periods = set(self._dirty_other)
        for m in affected:
            periods.add(m)
            periods.add(pd.quarter_of(m))
            periods.add(m[:4])
        for p in list(periods):
            periods.add(pd.next_period(p))
            periods.add(pd.same_period_next_year(p))
        known = self._known_periods()
        self._invalidate(periods)
        changes.periods |= periods & known
        changes.reps |= self._touched_reps
        self._touched_reps.clear()
        dirty.clear()
        self._dirty_other.clear()

    def _paying_quarter_ends(self, months: set[str]) -> set[str]:
        """The last months of these months' quarters where that quarter's statement is paid
        (a quarterly plan) or its rank awards are: they have statements as soon as any month
        of the quarter has a figure, even before anything happens in them."""
        out = set()
        for q_end in {pd.last_month(pd.quarter_of(m)) for m in months}:
            if q_end not in self._months:
                plan = self._plan(q_end).ruleset.incentive
                if plan.period == "quarter" or plan.rank_awards:
                    out.add(q_end)
        return out

    def _refold_deal(self, deal_id: str) -> None:
        new = fold_deal(deal_id, self._deal_events[deal_id], self.definitions)
        if new is None:
            return  # still waiting for its deal.created
        self._pending.pop(deal_id, None)
        old = self._deals.get(deal_id)
        self._deals[deal_id] = new
        if new.issues:
            self._money_issues[deal_id] = new.issues
        else:
            self._money_issues.pop(deal_id, None)
        month_of = self.cal.month_of
        dirty = self._dirty
        old_months = self._deal_months.get(deal_id) or set()
        new_months = new.months(month_of)
        self._deal_months[deal_id] = new_months
        dirty |= old_months
        dirty |= new_months
        md = self._month_deals
        for m in old_months - new_months:
            s = md.get(m)
            if s is not None:
                s.discard(deal_id)
        for m in new_months - old_months:
            s = md.get(m)
            if s is None:
                md[m] = {deal_id}
            else:
                s.add(deal_id)
        new_cohort = month_of(new.created_t)
        if old is not None:
            old_cohort = month_of(old.created_t)
            if old_cohort != new_cohort:
                self._cohort[old_cohort].discard(deal_id)
        self._cohort.setdefault(new_cohort, set()).add(deal_id)
        # first closes: of a customer (new customers) and of a rep as owner (mentor)
        old_key = (old.closed_t, old.closed_pos, deal_id) if old is not None and old.closed_t is not None else None
        new_key = (new.closed_t, new.closed_pos, deal_id) if new.closed_t is not None else None
        if old_key != new_key or (old is not None and (old.customer_id != new.customer_id
                                                       or old.close_owner != new.close_owner)):
            if old_key is not None:
                self._first_remove(self._cust_closes, self._cust_first, old.customer_id, deal_id)
                self._first_remove(self._owner_closes, self._owner_first, old.close_owner, deal_id)
            if new_key is not None:
                self._first_add(self._cust_closes, self._cust_first, new.customer_id, deal_id, new_key)
                self._first_add(self._owner_closes, self._owner_first, new.close_owner, deal_id, new_key)
        if new.closed_t is not None:
            close_month = month_of(new.closed_t)
            for p in new.payments:
                if p.after_close:
                    self._clawback_deps.setdefault(close_month, set()).add(month_of(p.t))
        self._touched_reps |= new.reps()
        if old is not None:
            self._touched_reps |= old.reps()

    def _first_remove(self, closes: dict, firsts: dict, key: str, deal_id: str) -> None:
        mine = closes.get(key)
        if not mine or deal_id not in mine:
            return
        del mine[deal_id]
        first = firsts.get(key)
        if first is not None and first[2] == deal_id:
            self._dirty.add(self.cal.month_of(first[0]))
            if mine:
                new_first = min(mine.values())
                firsts[key] = new_first
                self._dirty.add(self.cal.month_of(new_first[0]))
            else:
                del firsts[key]

    def _first_add(self, closes: dict, firsts: dict, key: str, deal_id: str, close_key: tuple) -> None:
        closes.setdefault(key, {})[deal_id] = close_key
        first = firsts.get(key)
        if first is None or close_key < first:
            if first is not None:
                self._dirty.add(self.cal.month_of(first[0]))
            firsts[key] = close_key
            self._dirty.add(self.cal.month_of(close_key[0]))

    def _affected(self, dirty: set[str]) -> set[str]:
        """Months whose statements may change with the dirty months: clawbacks on their
        closes, the quarter's rank awards, and adjustments for closed months."""
        out = set(dirty)
        for m in dirty:
            out |= self._clawback_deps.get(m, set())
            q_end = pd.last_month(pd.quarter_of(m))
            if q_end in self._months or q_end in self._closed:
                out.add(q_end)
        for m in list(out):
            if m in self._closed:
                out.add(self._adjustment_month(m))
        return out

    def _invalidate(self, periods: set[str]) -> None:
        for p in periods:
            self._fig_cache.pop(p, None)
            self._facts_cache.pop(p, None)
            self._stmt_cache.pop(p, None)
            self._stmt_cache.pop("own:" + p, None)
            self._doc_cache.pop(p, None)
            self._funnel_cache.pop(p, None)
            self._cohort_cache.pop(p, None)
        if self._rate_cache:
            self._rate_cache = {k: v for k, v in self._rate_cache.items() if k[1] not in periods}

    # --- closing periods and applied corrections --------------------------------------

    def _close(self, pos: int, event: ev.PeriodClosed, changes: Changes) -> None:
        period = event.data.period
        self.position = pos
        if period in self._closed:
            return  # closed once; a second close changes nothing
        self._months.add(period)
        stmt = self._statement(period)
        plan = self._plan(period)
        reps: dict[str, dict] = {}
        own_totals: dict[str, Decimal] = {}
        for rep_id, (own, adjustments) in sorted(stmt.items()):
            own_total = sum((x.amount for x in own), ZERO)
            own_totals[rep_id] = own_total
            for adj in adjustments:
                if adj.__class__ is Correction:
                    continue  # paid once, recorded by self._pub.freeze below
                by_rep = self._frozen_adj.setdefault(adj.for_period, {})
                by_rep[rep_id] = by_rep.get(rep_id, ZERO) + adj.amount
            lines = [line_doc(x) for x in own] + [line_doc(x) for x in adjustments]
            reps[rep_id] = {"statement": lines, "total": money(own_total + sum((a.amount for a in adjustments), ZERO))}
        declared = event.data.ruleset
        self._pub.freeze(period, [x for _own, adjs in stmt.values() for x in adjs if x.__class__ is Correction])
        published_honours = self._honours(period)
        self._closed[period] = {
            "period": period,
            "ruleset": dict(plan.ref),
            "declared_ruleset": {"id": declared.id, "hash": declared.hash} if declared else None,
            "position": pos,
            "closed_at": event.occurred_at.isoformat(),
            "reps": reps,
            "honours": published_honours,
        }
        self._pub.invalidate()
        self._pub_doc = None
        self._frozen_own[period] = own_totals
        affected = {period, self._adjustment_month(period)}
        for p in list(self._closed):
            affected.add(self._adjustment_month(p))
        self._months |= {period}
        periods = set()
        for m in affected:
            periods |= {m, pd.quarter_of(m), m[:4]}
        self._invalidate(periods)
        changes.periods |= periods & self._known_periods()
        changes.reps |= reps.keys()

    def _apply_ruleset(self, pos: int, event: ev.RulesetApplied, changes: Changes) -> None:
        self.position = pos
        d = event.data
        try:
            loaded = load_ruleset(d.toml)
        except Exception as exc:  # a bad correction is listed, never fatal to the fold
            self._rejected.append({"id": event.id, "type": "ruleset.applied", "position": pos, "error": str(exc)})
            return
        if loaded.hash != d.ruleset.hash:  # the gateway and import refuse these; NATS could still carry one
            self._rejected.append({"id": event.id, "type": "ruleset.applied", "position": pos,
                                   "error": f"data.ruleset.hash {d.ruleset.hash} is not the hash of data.toml "
                                            f"({loaded.hash})"})
            return
        self._plan_override[d.period] = loaded
        self._months.add(d.period)
        self._dirty.add(d.period)
        self._flush(changes)

    # --- publication: objections, payouts and honours ----------------------------------

    def _publication_event(self, pos: int, event, changes: Changes) -> None:
        """An objection, a resolution or an approval: its period's publication state and the
        month that pays its corrections (the first not closed after it) change."""
        self.position = pos
        self._pub_doc = None
        months = set()
        for p in self._pub.add(pos, event):
            months.add(p)
            if p in self._closed:
                months.add(self._adjustment_month(p))
        if event.__class__ is not ev.ObjectionRaised:  # a correction after the approval needs a month
            for o in self._pub.corrections_after_approval(self._pub_states()):
                self._months.add(self._pub.paid_in(o.id) or self._adjustment_month(o.period))
        periods = set()
        for m in months:
            periods |= {m, pd.quarter_of(m), m[:4]}
        self._invalidate(periods)
        changes.periods |= periods & self._known_periods()

    def _published_times(self) -> dict[str, int]:
        return {p: instant_us(datetime.fromisoformat(c["closed_at"])) for p, c in self._closed.items()}

    def _pub_states(self):
        return self._pub.states(self._published_times, lambda p: self._plan(p).ruleset.publication)[0]

    def _corrections_paid_in(self, month: str) -> list[Correction]:
        """Upheld objections resolved after their period's approval, paid in `month`'s statement:
        the month that published them, else the first month after their period not closed."""
        if not self._pub.has_events():
            return []
        out = []
        for o in self._pub.corrections_after_approval(self._pub_states()):
            paid = self._pub.paid_in(o.id) or self._adjustment_month(o.period)
            if paid == month and o.amount.quantize(CENT, ROUND_HALF_EVEN, WIDE) != 0:
                out.append(Correction(o))
        return out

    def _attainments(self, period: str) -> dict[str, Decimal | None]:
        """The basis attainment of each rep active at the period's end (the honours' figures)."""
        fig = self._figures(period)
        basis = self._plan(period).ruleset.incentive.basis
        last = self.cal.last_instant(period)
        out = {}
        for rep_id in self._period_reps(period, fig):
            tl = self._reps.get(rep_id)
            if tl is not None and tl.known and tl.active_at(last):
                acc = fig.rep.get(rep_id) or Acc()
                out[rep_id] = ratio(acc.value(basis), self._targets_of("rep", rep_id, period).get(basis))
        return out

    def _honours(self, period: str) -> dict[str, list[str]]:
        """Rep -> honours of a month (the star, and the quarter's top N in its last month) or of
        a quarter (the top N); a published month keeps its published list."""
        kind = pd.kind_of(period)
        if kind == "year":
            return {}
        q_end = pd.last_month(period) if kind == "quarter" else period
        frozen = self._closed.get(q_end)
        if frozen is not None:
            published = frozen.get("honours", {})
            if kind == "month":
                return published
            return {r: [h for h in hs if h.startswith("top_n")] for r, hs in published.items()
                    if any(h.startswith("top_n") for h in hs)}
        rules = self._plan(period).ruleset.honours
        if not (rules.star_of_month or rules.top_n):
            return {}
        month = self._attainments(period) if kind == "month" else None
        quarter = None
        if rules.top_n and (kind == "quarter" or pd.is_quarter_end(period)):
            quarter = self._attainments(pd.quarter_of(period) if kind == "month" else period)
        return honours(rules, month, quarter)

    @_gc_paused
    def publication(self) -> dict:
        """Every published month's publication state, objections (newest first) and payout,
        and the rejected inputs: the `publication` document (`objections`, `payout export`)."""
        if self._pub_doc is not None:
            return {**self._pub_doc, "position": self.position}
        states, rejected = self._pub.states(self._published_times, lambda p: self._plan(p).ruleset.publication)
        periods = {}
        for period, s in sorted(states.items()):
            if s.published_t is None:
                continue
            objections = [self._pub.objection_doc(o, s, self._pub.paid_in(o.id) or self._adjustment_month(period))
                          for o in sorted(s.objections, key=lambda o: o.raised, reverse=True)]
            periods[period] = {**self._pub.summary(s), "objections": objections,
                               "reps": self._pub.payout(s, self._closed[period]["reps"])}
        self._pub_doc = {"periods": periods, "rejected": rejected}
        self._pub_doc_new = True
        return {**self._pub_doc, "position": self.position}

    def publication_update(self) -> dict | None:
        """`publication()` when it changed since the last call, else None (the projector
        writes the document only then: it is rebuilt on an objection, approval or close)."""
        doc = self.publication()
        if not self._pub_doc_new:
            return None
        self._pub_doc_new = False
        return doc

    def _adjustment_month(self, period: str) -> str:
        """The first month after `period` that is not closed."""
        m = pd.shift_month(period, 1)
        while m in self._closed:
            m = pd.shift_month(m, 1)
        return m

    # --- plans, facts and statements --------------------------------------------------

    def _plan(self, period: str) -> LoadedRuleset:
        month = pd.last_month(period)
        override = self._plan_override.get(month)
        return override if override is not None else self.rulesets.plan_for(month)

    def plan_period_of(self, t: int) -> str:
        """The plan period (month, or quarter under a quarterly plan) an instant falls in."""
        month = self.cal.month_of(t)
        if self._plan(month).ruleset.incentive.period == "quarter":
            return pd.quarter_of(month)
        return month

    def _targets_of(self, scope: str, scope_id: str, period: str) -> dict[str, Decimal]:
        return self._targets_by_period.get(period, {}).get((scope, scope_id), {})

    def _scope_targets(self, scope: str, period: str, metric: str) -> dict[str, Decimal]:
        out = {}
        for (s, sid), metrics in self._targets_by_period.get(period, {}).items():
            if s == scope and metric in metrics:
                out[sid] = metrics[metric]
        return out

    def _figures(self, period: str) -> Figures:
        fig = self._fig_cache.get(period)
        if fig is not None:
            return fig
        if pd.kind_of(period) == "month":
            start, end = self.cal.bounds(period)
            deals = self._deals
            ids = self._month_deals.get(period, ())
            fig = build_month(period, start, end, (deals[i] for i in sorted(ids)),
                              self._activities.get(period, {}), self)
        else:
            fig = merge_figures(period, (self._figures(m) for m in pd.months_of(period) if m in self._months))
        self._fig_cache[period] = fig
        return fig

    # FoldContext for metrics.build_month
    def is_known(self, rep: str) -> bool:
        tl = self._reps.get(rep)
        return tl is not None and tl.known

    def region_at(self, rep: str, t: int) -> str | None:
        tl = self._reps.get(rep)
        return tl.region_at(t) if tl is not None else None

    def team_at(self, rep: str, t: int) -> str | None:
        tl = self._reps.get(rep)
        return tl.team_at(t) if tl is not None else None

    def changes_in(self, rep: str, start: int, end: int) -> bool:
        tl = self._reps.get(rep)
        return tl is not None and tl.changes_in(start, end)

    def is_first_customer_close(self, deal: DealState) -> bool:
        first = self._cust_first.get(deal.customer_id)
        return first is not None and first[2] == deal.deal_id

    def mentee_close(self, deal: DealState) -> MenteeClose | None:
        first = self._owner_first.get(deal.close_owner)
        if first is None or first[2] != deal.deal_id:
            return None
        tl = self._reps.get(deal.close_owner)
        if tl is None or not tl.mentor_id:
            return None
        hired = tl.hired_on or (self.cal.local_date(tl.onboarded_t) if tl.onboarded_t is not None else None)
        if hired is None:
            return None
        return MenteeClose(mentor_id=tl.mentor_id, mentee_id=deal.close_owner, deal_id=deal.deal_id,
                           closed_on=self.cal.local_date(deal.closed_t), hired_on=hired)

    def _period_reps(self, period: str, fig: Figures) -> list[str]:
        """Reps shown for a period: active at any instant of it, or with any figure or target
        in it. Only onboarded reps: an unknown rep id's figures are `unassigned`."""
        start, end = self.cal.bounds(period)
        reps = {r for r, tl in self._reps.items() if tl.known and tl.active_during(start, end)}
        reps |= fig.rep.keys()
        reps |= {sid for (s, sid) in self._targets_by_period.get(period, {}) if s == "rep" and self.is_known(sid)}
        return sorted(reps)

    def _facts(self, period: str) -> PeriodFacts:
        """PeriodFacts of a plan period (a month, or a quarter under a quarterly plan)."""
        facts = self._facts_cache.get(period)
        if facts is not None:
            return facts
        fig = self._figures(period)
        last = self.cal.last_instant(period)
        facts = PeriodFacts(period=period)
        for rep_id in self._period_reps(period, fig):
            tl = self._reps.get(rep_id)
            acc = fig.rep.get(rep_id) or Acc()
            facts.reps[rep_id] = RepFacts(
                rep_id=rep_id,
                name=tl.name if tl else rep_id,
                team=(tl.team_at(last) if tl else None) or "",
                region=(tl.region_at(last) if tl else None) or "",
                active=bool(tl and tl.known and tl.active_at(last)),
                bookings=acc.bookings,
                collections=acc.collections,
                bookings_by_product_line=dict(fig.rep_product_line.get(rep_id, {})),
                renewal_bookings=fig.rep_renewal.get(rep_id, ZERO),
                renewal_collections=fig.rep_renewal_collections.get(rep_id, ZERO),
                referral_closes=fig.rep_referral.get(rep_id, 0),
                targets=dict(self._targets_of("rep", rep_id, period)),
                refunds=list(fig.rep_refunds.get(rep_id, [])),
            )
        for metric in ("bookings", "collections"):
            facts.region_actual[metric] = {r: getattr(a, metric) for r, a in fig.region.items()}
            facts.region_targets[metric] = self._scope_targets("region", period, metric)
            facts.team_actual[metric] = {t: getattr(a, metric) for t, a in fig.team.items()}
            facts.team_targets[metric] = self._scope_targets("team", period, metric)
        regions: dict[str, list[str]] = {}
        teams: dict[str, list[str]] = {}
        for rep_id, tl in self._reps.items():
            if tl.known and tl.active_at(last):
                region, team = tl.region_at(last), tl.team_at(last)
                if region is not None:
                    regions.setdefault(region, []).append(rep_id)
                if team is not None:
                    teams.setdefault(team, []).append(rep_id)
        facts.region_members = {r: sorted(m) for r, m in regions.items()}
        facts.team_members = {t: sorted(m) for t, m in teams.items()}
        quarter = period if pd.kind_of(period) == "quarter" else (
            pd.quarter_of(period) if pd.is_quarter_end(period) else None)
        if quarter is not None:
            facts.quarter = quarter
            qfig = self._figures(quarter) if quarter != period else fig
            qlast = self.cal.last_instant(quarter)
            for metric in ("bookings", "collections"):
                values = {}
                for rep_id, acc in qfig.rep.items():
                    tl = self._reps.get(rep_id)
                    if tl is not None and tl.known and tl.active_at(qlast):
                        values[rep_id] = getattr(acc, metric)
                facts.quarter_actual[metric] = values
        facts.mentee_closes = list(fig.mentee_closes)
        self._facts_cache[period] = facts
        return facts

    def rate_of(self, rep_id: str, period: str) -> Decimal | None:
        """The rep's effective rate in a plan period (for clawback)."""
        key = (rep_id, period)
        if key in self._rate_cache:
            return self._rate_cache[key]
        from projections.incentives import effective_rate

        rep = self._facts(period).reps.get(rep_id)
        rate = effective_rate(self._plan(period).ruleset.incentive, rep) if rep is not None else None
        self._rate_cache[key] = rate
        return rate

    def _own_lines(self, month: str) -> dict[str, list]:
        """The plan's own lines for the statement paid in `month` (adjustments excluded)."""
        from projections.incentives import statement_lines

        plan = self._plan(month).ruleset.incentive
        if plan.period == "quarter":
            if not pd.is_quarter_end(month):
                return {}
            facts = self._facts(pd.quarter_of(month))
        else:
            facts = self._facts(month)
        return statement_lines(plan, facts, self.rate_of)

    def _statement(self, month: str) -> dict[str, tuple[list, list[Adjustment]]]:
        """Per rep: (own lines, adjustment lines) of the statement paid in `month`."""
        cached = self._stmt_cache.get(month)
        if cached is not None:
            return cached
        own = self._own_lines(month)
        out: dict[str, tuple[list, list[Adjustment]]] = {r: (lines, []) for r, lines in own.items()}
        for closed in sorted(self._closed):
            if closed >= month or self._adjustment_month(closed) != month:
                continue
            recomputed = self._own_lines_cached(closed)
            frozen = self._frozen_own.get(closed, {})
            already = self._frozen_adj.get(closed, {})
            for rep_id in sorted(set(recomputed) | set(frozen)):
                now = sum((x.amount for x in recomputed.get(rep_id, ())), ZERO)
                was = frozen.get(rep_id, ZERO)
                delta = now - was - already.get(rep_id, ZERO)
                if delta.quantize(CENT, ROUND_HALF_EVEN, WIDE) == 0:
                    continue
                text = (f"adjustment for {closed}: recomputed {now:,.2f} against {was:,.2f} published"
                        + (f" and {already[rep_id]:,.2f} already adjusted" if already.get(rep_id) else ""))
                entry = out.setdefault(rep_id, ([], []))
                entry[1].append(Adjustment(closed, delta.quantize(CENT, ROUND_HALF_EVEN, WIDE), text))
        for line in self._corrections_paid_in(month):
            out.setdefault(line.rep_id, ([], []))[1].append(line)
        self._stmt_cache[month] = out
        return out

    def _own_lines_cached(self, month: str) -> dict[str, list]:
        """Own lines of a closed month as recomputed now (not the frozen ones)."""
        key = "own:" + month
        cached = self._stmt_cache.get(key)
        if cached is None:
            cached = self._stmt_cache[key] = {"lines": self._own_lines(month)}
        return cached["lines"]

    # --- documents --------------------------------------------------------------------

    def _known_periods(self) -> set[str]:
        out = set(self._months) | self._other_periods
        for m in self._months:
            out.add(pd.quarter_of(m))
            out.add(m[:4])
        return out

    def periods(self) -> list[str]:
        """Every month, quarter and year with any figure, sorted."""
        return sorted(self._known_periods())

    def _rep_statement(self, rep_id: str, period: str) -> tuple[list[dict], Decimal]:
        months = [m for m in pd.months_of(period) if m in self._months or m in self._closed]
        multi = len(pd.months_of(period)) > 1
        lines: list[dict] = []
        total = ZERO
        for m in months:
            frozen = self._closed.get(m)
            if frozen is not None:
                entry = frozen["reps"].get(rep_id)
                if entry is None:
                    continue
                for line in entry["statement"]:
                    lines.append({**line, "period": m, "explanation": f"{m}: {line['explanation']}"} if multi else line)
                total += Decimal(entry["total"])
                continue
            own, adjustments = self._statement(m).get(rep_id, ([], []))
            for x in list(own) + list(adjustments):
                lines.append(line_doc(x, m if multi else None))
                total += x.amount
        return lines, total

    @_gc_paused
    def standings(self, period: str) -> dict:
        """cli.md's `standings --json` for a month, quarter or year."""
        doc = self._doc_cache.get(period)
        if doc is None:
            doc = self._standings(period)
            self._doc_cache[period] = doc
        return {**doc, "position": self.position}

    def _standings(self, period: str) -> dict:
        pd.kind_of(period)
        fig = self._figures(period)
        prev_p = pd.previous_period(period)
        ly_p = pd.same_period_last_year(period)
        known = self._known_periods()
        prev = self._figures(prev_p) if prev_p in known else None
        ly = self._figures(ly_p) if ly_p in known else None
        plan = self._plan(period)
        basis = plan.ruleset.incentive.basis
        red, green = self.definitions.red_below, self.definitions.green_from
        last = self.cal.last_instant(period)

        def entries(scope: str, ids: set[str]) -> dict:
            table = fig.scope(scope)
            ptable = prev.scope(scope) if prev else {}
            ltable = ly.scope(scope) if ly else {}
            return {i: scope_entry(table.get(i), self._targets_of(scope, i, period), basis, red, green,
                                   ptable.get(i), ltable.get(i)) for i in sorted(ids)}

        rep_ids = self._period_reps(period, fig)
        teams = set(fig.team) | {sid for (s, sid) in self._targets_by_period.get(period, {}) if s == "team"}
        regions = set(fig.region) | {sid for (s, sid) in self._targets_by_period.get(period, {}) if s == "region"}
        lines_ = set(fig.product_line) | {sid for (s, sid) in self._targets_by_period.get(period, {})
                                          if s == "product_line"}
        for rep_id in rep_ids:
            tl = self._reps.get(rep_id)
            if tl is not None and tl.known:
                if tl.team_at(last):
                    teams.add(tl.team_at(last))
                if tl.region_at(last) and tl.active_at(last):
                    regions.add(tl.region_at(last))
        reps = {}
        rep_entries = entries("rep", set(rep_ids))
        rep_honours = self._honours(period)
        for rep_id in rep_ids:
            tl = self._reps.get(rep_id)
            lines, total = self._rep_statement(rep_id, period)
            reps[rep_id] = {
                "name": tl.name if tl else rep_id,
                "region": tl.region_at(last) if tl else None,
                "team": tl.team_at(last) if tl else None,
                "active": bool(tl and tl.known and tl.active_at(last)),
                **rep_entries[rep_id],
                "statement": lines,
                "total": money(total),
                "honours": rep_honours.get(rep_id, []),
            }
        months = pd.months_of(period)
        doc = {
            "period": period,
            "kind": pd.kind_of(period),
            "ruleset": dict(plan.ref),
            "closed": all(m in self._closed for m in months),
            "closed_months": [m for m in months if m in self._closed],
            "team": entries("team", teams),
            "regions": entries("region", regions),
            "product_lines": entries("product_line", lines_),
            "reps": reps,
            "unassigned": unassigned_doc(fig, prev, ly, basis, red, green),
        }
        if period in self._closed:
            doc["publication"] = self._pub.summary(self._pub_states()[period])
        return doc

    @_gc_paused
    def funnel(self, period: str) -> dict:
        """cli.md's `funnel --json`: the cohort of deals created in the period."""
        doc = self._funnel_cache.get(period)
        if doc is None:
            months = pd.months_of(period)
            if len(months) == 1:
                counts = self._cohort_counts(period)
            else:  # cohorts of different months are disjoint: add the months' counts
                counts = FunnelCounts()
                for m in months:
                    counts.add(self._cohort_counts(m))
            doc = funnel_doc(period, counts)
            doc["ruleset"] = dict(self._plan(period).ref)
            self._funnel_cache[period] = doc
        return {**doc, "position": self.position}

    @_gc_paused
    def statement(self, rep_id: str, period: str) -> dict:
        """The rep's standings entry plus the deals and activities behind it."""
        standings = self.standings(period)
        entry = standings["reps"].get(rep_id)
        if entry is None:
            entry = {"name": rep_id, "region": None, "team": None, "active": False,
                     **scope_entry(None, {}, self._plan(period).ruleset.incentive.basis,
                                   self.definitions.red_below, self.definitions.green_from, None, None),
                     "statement": [], "total": "0.00", "honours": []}
        return statement_doc(self.statement_parts(rep_id, period), standings, entry)

    @_gc_paused
    def statement_parts(self, rep_id: str, period: str) -> dict:
        """The statement's own lists: the deals behind the rep's figures, the latest
        activities and the weekly bookings (what the store keeps per rep and period)."""
        fig = self._figures(period)
        start, end = self.cal.bounds(period)
        deals = []
        append = deals.append
        weekly: dict[str, Decimal] = {}
        all_deals, customers, iso_week, fmt = self._deals, self._customers, self.cal.iso_week, money
        for deal_id, figs in sorted(fig.deals_of(rep_id).items()):
            credited = figs[0]
            if len(figs) == 3:
                # formatted once per entry: a month's entries are shared by its quarter's and
                # year's statements when the deal is in no other month of them
                collected, share = figs[1], figs[2]
                figs.append("0.00" if credited is FIG_ZERO else fmt(credited))
                figs.append("0.00" if collected is FIG_ZERO else fmt(collected))
                figs.append(str(share) if share is not None else None)
            d = all_deals[deal_id]
            ct = d.closed_t
            closed_here = ct is not None and start <= ct < end
            if closed_here and credited:
                week = iso_week(ct)
                weekly[week] = weekly.get(week, ZERO) + credited
            static = d.doc
            if static is None:
                static = d.doc = self._deal_doc(d)
            row = static.copy()
            row["customer_name"] = customers.get(d.customer_id)
            row["closed_in_period"] = closed_here
            row["share"] = figs[5]
            row["credited"] = figs[3]  # an entry never added to holds metrics.ZERO itself: "0.00"
            row["collections"] = figs[4]
            append(row)
        activities = []
        if pd.kind_of(period) == "month":  # quarters and years show the counts only
            items = self._activities.get(period, {}).get(rep_id, ())
            # the latest by (occurred_at, position), newest first; (t, pos) is unique, so
            # this is exactly heapq.nlargest's order (items arrive nearly sorted: timsort)
            latest = sorted(items, key=_TIME_POS)[-RECENT_ACTIVITIES:]
            latest.reverse()
            iso = self.cal.iso
            for item in latest:
                activities.append({"id": item[2], "kind": item[1], "occurred_at": iso(pd.instant_us(item[0])),
                                   "deal_id": item[3]})
        return {
            "period": period,
            "rep_id": rep_id,
            "deals": deals,
            "activities": activities,
            "weekly_bookings": [{"week": w, "bookings": money(weekly.get(w, ZERO))} for w in self.cal.weeks_of(period)],
        }

    @_gc_paused
    def scorecard(self, period: str) -> dict | None:
        """`scorecard --json` (projections/assessment.py): None when the period's ruleset
        has no `[assessment]` or the period is not of the assessment's kind."""
        from projections.assessment import RepRow, scorecard_doc

        plan = self._plan(period)
        assessment = plan.ruleset.assessment
        if assessment is None or pd.kind_of(period) != assessment.period:
            return None
        standings = self.standings(period)
        fig = self._figures(period)
        rows = [RepRow(rep_id, e["name"], e["region"], e["team"], e["active"], fig.rep.get(rep_id) or Acc(),
                       self._assessed_targets(rep_id, period)) for rep_id, e in standings["reps"].items()]
        return {**scorecard_doc(period, assessment, plan.ref, rows), "position": self.position}

    @_gc_paused
    def diagnosis(self, period: str) -> dict:
        """`diagnose --json` (projections/diagnosis.py): the drivers behind each rep below green."""
        from projections import diagnosis as dg

        standings = self.standings(period)
        fig = self._figures(period)
        last = self.cal.last_instant(period)
        first = pd.months_of(period)[0]
        months = [pd.shift_month(first, -i) for i in range(dg.COHORT_MONTHS - 1, 0, -1)] + pd.months_of(period)
        window = f"{months[0]} to {months[-1]}"

        def team_of(rep_id: str) -> str | None:
            tl = self._reps.get(rep_id)
            return tl.team_at(last) if tl is not None and tl.known else None

        deals = self._deals
        by_rep, by_team = dg.cohorts((deals[i] for m in months for i in sorted(self._cohort.get(m, ()))), team_of)
        members: dict[str, list[Acc]] = {}
        for r, tl in self._reps.items():
            if tl.known and tl.active_at(last) and tl.team_at(last):
                members.setdefault(tl.team_at(last), []).append(fig.rep.get(r) or Acc())
        team_vals = {team: dg.team_values(fig.team.get(team) or Acc(), by_team.get(team), accs)
                     for team, accs in members.items()}
        reps = {}
        for rep_id, entry in standings["reps"].items():
            team = entry["team"]
            if entry["rag"] not in ("red", "yellow") or team not in team_vals:
                continue
            mine = dg.values(fig.rep.get(rep_id) or Acc(), by_rep.get(rep_id))
            reps[rep_id] = {"name": entry["name"], "region": entry["region"], "team": team,
                            "attainment": entry["attainment"], "rag": entry["rag"], "headline": dg.headline(entry),
                            "drivers": dg.drivers(mine, team_vals[team], by_rep.get(rep_id), window)}
        return {"period": period, "ruleset": standings["ruleset"], "position": self.position,
                "cohort": {"from": months[0], "to": months[-1]}, "reps": reps}

    @_gc_paused
    def weekly(self, period: str) -> dict:
        """`weekly --json` (projections/trend.py): bookings per ISO week with 环比 and the
        pro-rated target, for the team, each region and each rep."""
        from projections.metrics import UNASSIGNED
        from projections.trend import WeeklyBookings, weekly_doc

        cal = self.cal
        weeks = cal.weeks_of(period)
        prior = cal.previous_week(weeks[0])
        lo, hi = cal.week_bounds(prior)[0], cal.week_bounds(weeks[-1])[1]
        acc = WeeklyBookings(weeks)
        standings = self.standings(period)
        # a year's reps' 53 weeks each would outweigh its standings: years show team and regions
        ids = {"team": set(standings["team"]), "region": set(standings["regions"]),
               "rep": set(standings["reps"]) if pd.kind_of(period) != "year" else set()}
        months, m = [], cal.month_of(lo)
        while m <= cal.month_of(hi - 1):
            months.append(m)
            m = pd.shift_month(m, 1)
        deal_ids = set().union(*(self._month_deals.get(m, ()) for m in months))
        for deal_id in sorted(deal_ids):
            d = self._deals[deal_id]
            ct = d.closed_t
            if ct is None or not lo <= ct < hi:
                continue
            week = cal.iso_week(ct)
            for rep_id, share in d.close_credit:
                credited = d.closed_amount * share
                if ids["rep"] and self.is_known(rep_id):
                    acc.add("rep", rep_id, week, credited)
                acc.add("region", (self.region_at(rep_id, ct) if self.is_known(rep_id) else None) or UNASSIGNED,
                        week, credited)
                acc.add("team", (self.team_at(rep_id, ct) if self.is_known(rep_id) else None) or UNASSIGNED,
                        week, credited)
        start, end = cal.bounds(period)
        shares = {}
        for week in weeks:
            ws, we = cal.week_bounds(week)
            shares[week] = Decimal(max(0, min(we, end) - max(ws, start))) / Decimal(end - start)
        targets = {scope: self._scope_targets(scope, period, "bookings") for scope in ("team", "region", "rep")}
        return {**weekly_doc(period, prior, acc, ids, targets, shares), "position": self.position}

    def trend_periods(self, periods: set[str]) -> set[str]:
        """The known periods whose weekly trend may change with these: a period's first and
        last weeks reach into the months before and after it."""
        out = set(periods)
        for p in periods:
            if pd.kind_of(p) == "month":
                for m in (pd.shift_month(p, -1), pd.shift_month(p, 1)):
                    out |= {m, pd.quarter_of(m), m[:4]}
        return out & self._known_periods()

    def diagnosis_periods(self, periods: set[str]) -> set[str]:
        """The known periods whose diagnosis may change with these: its cohort spans the
        period and the two months before, so a month's deals also feed the next two."""
        out = set(periods)
        for p in periods:
            if pd.kind_of(p) == "month":
                for k in (1, 2):
                    m = pd.shift_month(p, k)
                    out |= {m, pd.quarter_of(m), m[:4]}
        return out & self._known_periods()

    def _assessed_targets(self, rep_id: str, period: str) -> dict[str, Decimal]:
        """The rep's targets for an assessed period: a quarter without its own target for a
        metric takes the sum of its months' when every month has one."""
        out = dict(self._targets_of("rep", rep_id, period))
        months = pd.months_of(period)
        if len(months) > 1:
            monthly = [self._targets_of("rep", rep_id, m) for m in months]
            for metric in set().union(*monthly) - out.keys():
                if all(metric in t for t in monthly):
                    out[metric] = sum((t[metric] for t in monthly), ZERO)
        return out

    def _cohort_counts(self, month: str) -> FunnelCounts:
        counts = self._cohort_cache.get(month)
        if counts is None:
            deals = self._deals
            counts = self._cohort_cache[month] = count_cohort(
                deals[i] for i in sorted(self._cohort.get(month, ())))
        return counts

    def _deal_doc(self, d: DealState) -> dict:
        return {
            "id": d.deal_id,
            "customer": d.customer_id,
            "product_line": d.product_line,
            "kind": d.kind,
            "source_channel": d.source_channel,
            "owner": d.close_owner or d.owner,
            "amount": money(d.closed_amount if d.closed_t is not None else d.amount),
            "status": d.status,
            "created_at": self.cal.iso(d.created_t),
            "closed_at": self.cal.iso(d.closed_t) if d.closed_t is not None else None,
        }

    @_gc_paused
    def unmatched(self) -> dict:
        """Events still waiting for what they refer to (a deal never created); receipts and
        refunds that count less than they say (`payments`, see `views.money_issue_doc`); and
        the events set aside: outside what the fold computes, with the reason (bounds.py)."""
        deals = {}
        count = 0
        for deal_id in sorted(self._pending):
            items = sorted(self._pending[deal_id])
            deals[deal_id] = [{"id": eid, "type": kind, "position": pos,
                               "occurred_at": self.cal.iso(t)} for pos, eid, kind, t in items]
            count += len(items)
        payments = sorted((money_issue_doc(deal_id, issue, self.cal.iso(issue.t))
                           for deal_id, issues in self._money_issues.items() for issue in issues),
                          key=itemgetter("position"))
        count += len(payments)
        return {"position": self.position, "count": count, "deals": deals, "payments": payments,
                "rejected": list(self._rejected) + self._pub_rejected(), "set_aside": list(self._set_aside)}

    def _pub_rejected(self) -> list[dict]:
        """Objections, resolutions and approvals that changed nothing, with the reason."""
        if not self._pub.has_events():
            return []
        return list(self._pub.states(self._published_times, lambda p: self._plan(p).ruleset.publication)[1])

    def frozen(self, period: str) -> dict | None:
        """The statements frozen by `period.closed` (what was published), with ruleset id/hash."""
        return self._closed.get(period)
