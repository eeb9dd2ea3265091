"""Applying events and re-folding what a batch touched: the first half of the pure fold.

`apply` keeps each entity's events (a deal with its payments, a rep's org events, a
target key) sorted by (occurred_at, position), re-folds only the entities a batch touches
and marks dirty only the periods those entities feed; `period.closed`, `ruleset.applied`
and the publication events are handed to projections/closing.py in position order, after
the state has caught up on everything before them. A mixin of `projection.Projection`,
which declares the state; no I/O, and no switch of the interpreter's GC (the shell pauses
it around large folds: services/project/projector.gc_paused).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Sequence
from dataclasses import dataclass, field

from projections import periods as pd
from projections.bounds import describe
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
    fold_deal,
    payload,
)
from projections.org import OFFBOARDED, ONBOARDED, TRANSFERRED, fold_rep
from projections.periods import EPOCH, US
from projections.publication import TYPES as PUBLICATION_TYPES
from schemas import events as ev
from schemas import fast
from schemas.fast import PUBLIC

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


class Fold:
    """Apply and re-fold (a mixin of Projection)."""

    def apply(self, batch: Sequence[tuple[int, ev.Event]]) -> Changes:
        """Fold (position, event) pairs in ascending position; what they changed."""
        known = self._known_periods()
        changes = self._apply(batch)
        changes.new_periods = self._known_periods() - known
        return changes

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
            self._owner_cohorts.pop(p, None)
            self._weekly_closes.pop(p, None)
        if self._rate_cache:
            self._rate_cache = {k: v for k, v in self._rate_cache.items() if k[1] not in periods}

    def _known_periods(self) -> set[str]:
        out = set(self._months) | self._other_periods
        for m in self._months:
            out.add(pd.quarter_of(m))
            out.add(m[:4])
        return out

    def periods(self) -> list[str]:
        """Every month, quarter and year with any figure, sorted."""
        return sorted(self._known_periods())
