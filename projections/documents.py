"""The documents a reader sees: standings, funnel, statements and what was not matched.

Each is built from the cached figures and statements and cached per period until a
later batch dirties it; the `position` is added on the way out. A mixin of
`projection.Projection`; no I/O.
"""

from __future__ import annotations

from decimal import Decimal
from operator import itemgetter

from projections import periods as pd
from projections.deals import (
    DealState,
)
from projections.funnel import FunnelCounts, count_cohort
from projections.metrics import ZERO as FIG_ZERO
from projections.statements import ZERO
from projections.views import (
    funnel_doc,
    money,
    money_issue_doc,
    scope_entry,
    statement_doc,
    unassigned_doc,
)

RECENT_ACTIVITIES = 20  # a statement lists the rep's latest activities (all are counted)
_TIME_POS = itemgetter(0, 4)  # an activity item's (occurred_at, position)


class Documents:
    """Standings, funnel, statement parts, unmatched (a mixin of Projection)."""

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
