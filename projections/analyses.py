"""The analyses beside the standings: scorecard, diagnosis and the weekly trend (issue 17).

Each reads the period's figures and standings and hands them to its own pure module
(projections/assessment.py, diagnosis.py, trend.py); `trend_periods` and
`diagnosis_periods` say which periods a change reaches. A mixin of
`projection.Projection`; no I/O.
"""

from __future__ import annotations

from decimal import Decimal

from projections import diagnosis as dg
from projections import periods as pd
from projections.assessment import RepRow, scorecard_doc
from projections.diagnosis import Cohort
from projections.metrics import UNASSIGNED, Acc
from projections.statements import ZERO
from projections.trend import WeeklyBookings, weekly_doc


class Analyses:
    """Scorecard, diagnosis, weekly trend (a mixin of Projection)."""

    def scorecard(self, period: str) -> dict | None:
        """`scorecard --json` (projections/assessment.py): None when the period's ruleset
        has no `[assessment]` or the period is not of the assessment's kind."""
        plan = self._plan(period)
        assessment = plan.ruleset.assessment
        if assessment is None or pd.kind_of(period) != assessment.period:
            return None
        standings = self.standings(period)
        fig = self._figures(period)
        rows = [RepRow(rep_id, e["name"], e["region"], e["team"], e["active"], fig.rep.get(rep_id) or Acc(),
                       self._assessed_targets(rep_id, period)) for rep_id, e in standings["reps"].items()]
        return {**scorecard_doc(period, assessment, plan.ref, rows), "position": self.position}

    def diagnosis(self, period: str) -> dict:
        """`diagnose --json` (projections/diagnosis.py): the drivers behind each rep below green."""
        standings = self.standings(period)
        fig = self._figures(period)
        last = self.cal.last_instant(period)
        first = pd.months_of(period)[0]
        months = [pd.shift_month(first, -i) for i in range(dg.COHORT_MONTHS - 1, 0, -1)] + pd.months_of(period)
        window = f"{months[0]} to {months[-1]}"

        def team_of(rep_id: str) -> str | None:
            tl = self._reps.get(rep_id)
            return tl.team_at(last) if tl is not None and tl.known else None

        by_rep, by_team = dg.cohorts((self._owner_cohorts_of(m) for m in months), team_of)
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

    def _owner_cohorts_of(self, month: str) -> dict[str, Cohort]:
        """The month's diagnosis cohorts by owner, cached until a deal created in it changes."""
        by_owner = self._owner_cohorts.get(month)
        if by_owner is None:
            deals = self._deals
            by_owner = self._owner_cohorts[month] = dg.owner_cohorts(
                deals[i] for i in self._cohort.get(month, ())
            )
        return by_owner

    def weekly(self, period: str) -> dict:
        """`weekly --json` (projections/trend.py): bookings per ISO week with 环比 and the
        pro-rated target, for the team, each region and each rep."""
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
        wanted = {prior, *weeks}
        add = acc.add
        for m in months:
            for (scope, scope_id, week), credited in self._weekly_closes_of(m).items():
                if week in wanted and (scope != "rep" or ids["rep"]):
                    add(scope, scope_id, week, credited)
        start, end = cal.bounds(period)
        shares = {}
        for week in weeks:
            ws, we = cal.week_bounds(week)
            shares[week] = Decimal(max(0, min(we, end) - max(ws, start))) / Decimal(end - start)
        targets = {scope: self._scope_targets(scope, period, "bookings") for scope in ("team", "region", "rep")}
        return {**weekly_doc(period, prior, acc, ids, targets, shares), "position": self.position}

    def _weekly_closes_of(self, month: str) -> dict[tuple[str, str, str], Decimal]:
        """The credited closes of the deals closed in `month`, summed by (scope, id, ISO
        week): a week's bookings for every period whose trend shows that week, cached until
        a deal or the org changes the month (weeks straddle months: a period adds up the
        months its weeks touch and keeps its own weeks)."""
        sums = self._weekly_closes.get(month)
        if sums is not None:
            return sums
        sums = self._weekly_closes[month] = {}
        cal, deals = self.cal, self._deals
        for deal_id in sorted(self._month_deals.get(month, ())):
            d = deals[deal_id]
            ct = d.closed_t
            if ct is None or cal.month_of(ct) != month:
                continue
            week = cal.iso_week(ct)
            for rep_id, share in d.close_credit:
                credited = d.closed_amount * share
                known = self.is_known(rep_id)
                keys = [
                    ("region", (self.region_at(rep_id, ct) if known else None) or UNASSIGNED),
                    ("team", (self.team_at(rep_id, ct) if known else None) or UNASSIGNED),
                ]
                if known:
                    keys.append(("rep", rep_id))
                for scope, scope_id in keys:
                    key = (scope, scope_id, week)
                    sums[key] = sums.get(key, ZERO) + credited
        return sums

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
