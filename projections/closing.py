"""Closing periods, applied corrections and publication: the position-ordered steps.

`period.closed` freezes a month's statements as they stand (what was published), and
later changes to it are paid as "adjustment for P" lines in the first month after P not
closed; `ruleset.applied` replaces a period's plan; objections, resolutions and approvals
change a published month's state and may pay corrections (projections/publication.py).
Honours are frozen with the month. A mixin of `projection.Projection`; no I/O.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from projections import periods as pd
from projections.bounds import WIDE
from projections.fold import Changes
from projections.honours import honours
from projections.metrics import Acc, ratio
from projections.periods import instant_us
from projections.publication import Correction
from projections.rulesets import load_ruleset
from projections.statements import CENT, ZERO
from projections.views import (
    line_doc,
    money,
)
from schemas import events as ev


class Closing:
    """Close, apply a ruleset, publish (a mixin of Projection)."""

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

    def _pub_rejected(self) -> list[dict]:
        """Objections, resolutions and approvals that changed nothing, with the reason."""
        if not self._pub.has_events():
            return []
        return list(self._pub.states(self._published_times, lambda p: self._plan(p).ruleset.publication)[1])

    def frozen(self, period: str) -> dict | None:
        """The statements frozen by `period.closed` (what was published), with ruleset id/hash."""
        return self._closed.get(period)
