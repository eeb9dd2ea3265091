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

No I/O here: no files, no sqlite, no clock, and no switch of the interpreter's GC (the
shell pauses it around a fold: services/project/projector.gc_paused). The class is the
state; its methods live in the modules of the seams (see `Projection`).

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

from decimal import Decimal

from projections.analyses import Analyses
from projections.bounds import Bounds
from projections.closing import Closing
from projections.deals import DealState, MoneyIssue
from projections.diagnosis import Cohort
from projections.documents import Documents
from projections.facts import PeriodFacts
from projections.fold import Changes, Fold
from projections.funnel import FunnelCounts
from projections.metrics import Figures
from projections.org import RepTimeline
from projections.periods import Calendar
from projections.publication import Publications
from projections.rulesets import LoadedRuleset, RulesetSet
from projections.statements import Statements

__all__ = ["Changes", "Projection"]


class Projection(Fold, Closing, Statements, Documents, Analyses):
    """All read models, folded from the event log in business order: the state, declared
    here once; the mixins hold the seams (fold.py: apply and re-fold; closing.py: close,
    corrections, publication; statements.py: plans, facts, statements; documents.py and
    analyses.py: what readers see)."""

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
        self._owner_cohorts: dict[str, dict[str, Cohort]] = {}  # a month's, for the diagnosis
        self._weekly_closes: dict[str, dict[tuple[str, str, str], Decimal]] = {}  # a month's closes by week
        self._rate_cache: dict[tuple[str, str], Decimal | None] = {}
