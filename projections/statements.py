"""Plans, facts and statements: what a period pays each rep, computed lazily and cached.

A period's figures (projections/metrics.py) and facts feed the plan's statement lines
(projections/incentives.py); a month's statement adds the adjustments for closed months
it pays and the corrections paid in it. This mixin also answers metrics.FoldContext
(who a rep is at an instant, first closes). A mixin of `projection.Projection`; no I/O.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from projections import periods as pd
from projections.bounds import WIDE
from projections.deals import (
    DealState,
)
from projections.facts import MenteeClose, PeriodFacts, RepFacts
from projections.metrics import Acc, Figures, build_month, merge_figures
from projections.rulesets import LoadedRuleset
from projections.views import (
    line_doc,
)

ZERO = Decimal(0)
CENT = Decimal("0.01")


class Adjustment:
    __slots__ = ("component", "amount", "explanation", "basis", "rate", "for_period")

    def __init__(self, for_period: str, amount: Decimal, explanation: str) -> None:
        self.component = "adjustment"
        self.amount = amount
        self.explanation = explanation
        self.basis = None
        self.rate = None
        self.for_period = for_period


class Statements:
    """Plans, figures, facts and statements (a mixin of Projection)."""

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
