"""The read-model documents as msgspec Structs: what the projector stores and every reader
(the CLI, the TUI, the wall, the Excel report, the review) reads.

Why Structs: the fold (projections/) builds each document as plain dicts and lists; the
projector converts it to its Struct before storing it (`msgspec.convert`), so a document
whose shape drifts from this module fails there, in every test that folds, instead of in
a reader months later. Readers decode the stored bytes straight into these types
(`msgspec.json.decode(raw, type=...)`) and read attributes, not `.get()` with a guess.

The JSON is cli.md's (../shared/contracts/cli.md): fields are declared in the order the
documents have always been written, so `--json` output keeps its bytes; a field only
present sometimes (a closed month's `publication`, a multi-month statement line's
`period`) is `UNSET` and left out. Money is a decimal string with 2 decimals, a ratio one
with 4 (half-up, never a float; `schemas.documents.as_decimal` reads them back); `null`
where a value does not exist. What each figure means: ../shared/DOMAIN.md.

The published JSON Schema is schemas/read-models.schema.json (`make schemas`).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

Money = Annotated[
    str,
    Meta(
        description="An amount: a decimal string, 2 decimals, half-up (never a float).",
        extra_json_schema={"pattern": r"^-?[0-9]+\.[0-9]{2}$"},
    ),
]
Ratio = Annotated[
    str,
    Meta(
        description="A ratio or an average: a decimal string, 4 decimals, half-up (1.0000 is 100%).",
        extra_json_schema={"pattern": r"^-?[0-9]+\.[0-9]{4}$"},
    ),
]
Amount = Annotated[
    str | int,
    Meta(
        description="A metric's value: money (a decimal string) for bookings and collections, "
        "a count (an integer) for deals_won and new_customers."
    ),
]
Instant = Annotated[str, Meta(description="An RFC 3339 instant in the business timezone.")]
Rag = Literal["green", "yellow", "red", "none"]
T = TypeVar("T")


class Doc(msgspec.Struct, forbid_unknown_fields=True):
    """Every document and part: a field the Struct does not declare is refused."""


class RulesetRef(Doc):
    """The ruleset a document was computed with: its id and "sha256:" content hash."""

    id: str
    hash: str


# --- a scope's figures: team, region, product line, rep --------------------------------


class MetricTarget(Doc):
    """One metric with a target of its own: the actual, the target, attainment = actual ÷
    target, gap = actual − target, and the RAG of the attainment."""

    actual: Amount
    target: Amount
    attainment: Ratio | None
    gap: Amount
    rag: Rag


class Change(Doc):
    """A metric's change: 环比 (`mom`, against the previous period) and 同比 (`yoy`, against
    the same period a year before), as ratios; null where either side does not exist."""

    mom: Ratio | None
    yoy: Ratio | None


class ScopeEntry(Doc):
    """The metric fields every scope carries (team, region, product line, rep).

    bookings: credited closed-won amounts; collections: credited payments received less
    refunds; deals_won / deals_lost / new_customers: counts; basis: the metric the plan
    measures attainment on (bookings unless the ruleset says otherwise); target, gap and
    attainment of that basis (达成率 = actual ÷ target), and its RAG (red below the
    ruleset's red_below, green from green_from, "none" without a target); win_rate = won ÷
    (won + lost); avg_deal_size = bookings ÷ deals won; collection_rate = collections ÷
    bookings; cycle_days: mean days from creation to close of the deals won; activities:
    their count, by kind in activities_by_kind; mom / yoy: the changes of bookings;
    targets: every metric with its own target; changes: mom / yoy of every metric.
    """

    bookings: Money
    collections: Money
    deals_won: int
    deals_lost: int
    new_customers: int
    basis: str
    target: Amount | None
    attainment: Ratio | None
    gap: Amount | None
    rag: Rag
    win_rate: Ratio | None
    avg_deal_size: Ratio | None
    collection_rate: Ratio | None
    cycle_days: Ratio | None
    activities: int
    activities_by_kind: dict[str, int]
    mom: Ratio | None
    yoy: Ratio | None
    targets: dict[str, MetricTarget]
    changes: dict[str, Change]


class UnassignedMoney(Doc):
    """What was credited to one rep id no `rep.onboarded` names."""

    bookings: Money
    collections: Money


class UnassignedEntry(ScopeEntry):
    """Standings' `unassigned`: the scope figures of what was credited to unknown rep ids,
    and each such id's money under `reps`."""

    reps: dict[str, UnassignedMoney]


class StatementLine(Doc):
    """One line of a rep's incentive statement (激励): the component that pays it, the
    amount, why, and the basis and rate it was computed from where it has them. `period`
    only in a quarter's or year's statement (the month the line belongs to)."""

    component: str
    amount: Money
    explanation: str
    basis: Money | None
    rate: str | None
    period: str | UnsetType = UNSET


_REP_HEAD = [("name", str), ("region", str | None), ("team", str | None), ("active", bool)]
_REP_TAIL = [("statement", list[StatementLine]), ("total", Money), ("honours", list[str])]


def _scope_fields(**replace: object) -> list[tuple[str, object]]:
    """ScopeEntry's fields in order, some with another type (a statement's activities)."""
    return [(f.name, replace.get(f.name, f.type)) for f in msgspec.structs.fields(ScopeEntry)]


RepEntry = msgspec.defstruct(
    "RepEntry",
    [*_REP_HEAD, *_scope_fields(), *_REP_TAIL],
    bases=(Doc,),
    module=__name__,
    namespace={
        "__doc__": "A rep in the standings: name, region and team at the period's end, "
        "active then or not, the scope figures (ScopeEntry), the statement's lines "
        "and total (the incentive earned) and the honours (star_of_month, top_n:K)."
    },
)


# --- the standings ------------------------------------------------------------------------


class PublicationSummary(Doc):
    """A published (closed) month's publication state: when it was published, when its
    objection window closes (or why that is unknown), objections open / late / in all, and
    the payout ("pending" or "approved", with when and by whom)."""

    published_at: Instant
    window_closes: Instant | None
    window_error: str | None
    calendar: str
    objections_open: int
    objections_late: int
    objections: int
    payout: Literal["pending", "approved"]
    approved_at: Instant | None
    approved_by: str | None


class Standings(Doc, kw_only=True):
    """`standings --json` for a month, quarter or year: every scope's figures, each rep's
    statement; `publication` only for a published month. `position` is the last log
    position the figures include (the store's checkpoint when read)."""

    period: str
    kind: Literal["month", "quarter", "year"]
    ruleset: RulesetRef
    closed: bool
    closed_months: list[str]
    team: dict[str, ScopeEntry]
    regions: dict[str, ScopeEntry]
    product_lines: dict[str, ScopeEntry]
    reps: dict[str, RepEntry]
    unassigned: UnassignedEntry
    publication: PublicationSummary | UnsetType = UNSET
    position: int


# --- the funnel ---------------------------------------------------------------------------


class FunnelStages(Doc):
    """Deals of the cohort (created in the period) that reached each stage."""

    lead: int
    qualified: int
    negotiation: int
    won: int


class SourceFunnel(Doc):
    """The cohort's deals of one source channel by stage reached; win_rate = won ÷ created."""

    created: int
    qualified: int
    negotiation: int
    won: int
    win_rate: Ratio | None


class Funnel(Doc):
    """`funnel --json`: the cohort of deals created in the period, the stages they reached,
    the conversion between stages (`lead_to_qualified`...), by source, how many were
    repurchases (renewal or upsell closed) and how many were lost."""

    period: str
    stages: FunnelStages
    conversion: dict[str, Ratio | None]
    by_source: dict[str, SourceFunnel]
    repurchase: int
    lost: int
    ruleset: RulesetRef
    position: int


# --- a rep's statement --------------------------------------------------------------------


class DealRow(Doc):
    """A deal behind a rep's figures: its amount (the closed amount once closed), status,
    whether it closed in this period, the rep's credit `share` and what it credited the rep
    (bookings) and collected (collections) in the period."""

    id: str
    customer: str | None
    product_line: str | None
    kind: str | None
    source_channel: str | None
    owner: str | None
    amount: Money | None
    status: str
    created_at: Instant | None
    closed_at: Instant | None
    customer_name: str | None
    closed_in_period: bool
    share: str | None
    credited: Money
    collections: Money


class ActivityRow(Doc):
    """One of the rep's latest activities (a month's statement lists 20, newest first)."""

    id: str
    kind: str
    occurred_at: Instant
    deal_id: str | None


class WeekBookings(Doc):
    """Credited bookings closed in one ISO week (YYYY-Www, business timezone)."""

    week: str
    bookings: Money


class StatementParts(Doc):
    """What the store keeps per rep and period beside the standings: the deals behind the
    rep's figures, the latest activities and the weekly bookings. A reader gets the
    `Statement` (ReadStore.statement), never this alone."""

    period: str
    rep_id: str
    deals: list[DealRow]
    activities: list[ActivityRow]
    weekly_bookings: list[WeekBookings]


Statement = msgspec.defstruct(
    "Statement",
    [
        ("period", str),
        ("ruleset", RulesetRef),
        ("position", int),
        ("rep_id", str),
        *_REP_HEAD,
        *_scope_fields(activities=list[ActivityRow]),
        *_REP_TAIL,
        ("deals", list[DealRow]),
        ("weekly_bookings", list[WeekBookings]),
    ],
    bases=(Doc,),
    module=__name__,
    namespace={
        "__doc__": "`statement --json`: the rep's standings entry (RepEntry) with the deals "
        "behind it, the latest activities (in place of their count) and the weekly "
        "bookings."
    },
)


def given(value: T | UnsetType) -> T | None:
    """A sometimes-present field (`UNSET` when the document leaves it out) as its value or
    None: `given(standings.publication)` is the publication of a published month, else None."""
    return None if value is UNSET else value


def statement_of(parts: StatementParts, standings: Standings, entry: RepEntry) -> Statement:
    """The statement a reader sees: the rep's current standings `entry` with the stored
    `parts` (see projections.views.statement_doc, the fold's side of the same)."""
    fields = msgspec.structs.asdict(entry)
    fields.update(
        period=parts.period,
        ruleset=standings.ruleset,
        position=standings.position,
        rep_id=parts.rep_id,
        activities=parts.activities,
        deals=parts.deals,
        weekly_bookings=parts.weekly_bookings,
    )
    return Statement(**fields)


# --- what is not matched ------------------------------------------------------------------


class PendingEvent(Doc):
    """An event waiting for the deal it names (never created yet)."""

    id: str
    type: str
    position: int
    occurred_at: Instant


class PaymentIssue(Doc):
    """A receipt or refund that counts less than it says: a duplicate payment, a refund over
    what the payment still holds, or a refund of a payment not (yet) received; `counted`
    is what the figures include, `excess` the rest."""

    id: str
    type: Literal["payment.received", "payment.refunded"]
    position: int
    occurred_at: Instant
    deal_id: str
    payment_id: str
    amount: Money
    counted: Money
    excess: Money
    reason: str
    explanation: str


class Rejected(Doc, kw_only=True):
    """An input that changed nothing: a `ruleset.applied` that does not load (`error`), or an
    objection, resolution or approval refused (`occurred_at`, `reason`)."""

    id: str
    type: str
    position: int
    occurred_at: Instant | UnsetType = UNSET
    error: str | UnsetType = UNSET
    reason: str | UnsetType = UNSET


class SetAside(Doc):
    """An event outside what the fold computes (projections/bounds.py), with the reason;
    `occurred_at` null when the event could not be read at all."""

    id: str
    type: str
    position: int
    occurred_at: Instant | None
    reason: str


class Unmatched(Doc):
    """`unmatched --json`: events waiting for their deal (by deal), payments that count
    less than they say, rejected inputs and set-aside events; `count` = waiting + payments."""

    position: int
    count: int
    deals: dict[str, list[PendingEvent]]
    payments: list[PaymentIssue]
    rejected: list[Rejected]
    set_aside: list[SetAside]


# --- closing and publication --------------------------------------------------------------


class FrozenRep(Doc):
    """A rep's statement lines and total as published."""

    statement: list[StatementLine]
    total: Money


class Frozen(Doc):
    """A closed month's statements as `period.closed` froze them (what was published), with
    the ruleset computed with and the one the close declared, and the honours published."""

    period: str
    ruleset: RulesetRef
    declared_ruleset: RulesetRef | None
    position: int
    closed_at: Instant
    reps: dict[str, FrozenRep]
    honours: dict[str, list[str]]


class ObjectionDoc(Doc):
    """A rep's objection to a published month: what is claimed, its state (open, late,
    upheld, rejected), the amount upheld, and the statement that pays it (`paid_in`:
    "payout" when paid with the month's payout, else the month whose statement pays it)."""

    id: str
    period: str
    rep: str
    component: str | None
    reason: str
    claimed: Money | None
    state: str
    amount: Money | None
    note: str | None
    raised_at: Instant
    resolved_at: Instant | None
    late: bool
    event_id: str
    paid_in: str | None


class PayoutCorrection(Doc):
    """An upheld objection resolved before the approval, paid with the payout."""

    objection: str
    amount: Money
    explanation: str


class Payout(Doc):
    """A rep's payout of a published month: the published total plus the corrections."""

    published_total: Money
    corrections: list[PayoutCorrection]
    payout: Money


class PublishedMonth(PublicationSummary):
    """A published month in the `publication` document: its state, objections (newest
    first) and each rep's payout."""

    objections: list[ObjectionDoc]  # type: ignore[assignment]  # the count is the summary's
    reps: dict[str, Payout]


class Publication(Doc):
    """Every published month's publication state, objections and payout, and the rejected
    inputs (`objections`, `payout export`)."""

    periods: dict[str, PublishedMonth]
    rejected: list[Rejected]
    position: int


# --- the analyses: scorecard, diagnosis, weekly -------------------------------------------


class Grade(Doc):
    """A grade reached from a score of `from` (inclusive)."""

    from_: str = msgspec.field(name="from")
    grade: str


class IndicatorPlan(Doc):
    """An indicator of the assessment: its weight, cap on achievement and goal (used when
    the rep has no target for the metric)."""

    metric: str
    weight: str
    cap: str
    goal: str | None


class AssessmentPlan(Doc):
    """The ruleset's `[assessment]`: the period kind it scores, the grades, the indicators."""

    period: str
    grades: list[Grade]
    indicators: list[IndicatorPlan]


class IndicatorScore(Doc):
    """One indicator of a rep: achievement = actual ÷ target (or goal; goal ÷ actual where
    lower is better), points = weight × min(achievement, cap); `flag` says why it scores 0."""

    metric: str
    weight: str
    actual: str | int | None
    target: str | int | None
    goal: str | None
    against: Literal["target", "goal"] | None
    achievement: Ratio | None
    cap: str
    capped: bool
    points: Money
    flag: str | None


class RepScore(Doc):
    """A rep's scorecard (考核): score = Σ points (2 decimals), the grade it reaches, and the
    metrics flagged for missing data."""

    name: str
    region: str | None
    team: str | None
    active: bool
    score: str
    grade: str | None
    flagged: list[str]
    indicators: list[IndicatorScore]


class Scorecard(Doc):
    """`scorecard --json`: every rep's weighted indicators, score and grade."""

    period: str
    ruleset: RulesetRef
    assessment: AssessmentPlan
    reps: dict[str, RepScore]
    position: int


class Driver(Doc):
    """Where a rep is weaker than the team: both values, the relative shortfall, and the
    coaching it suggests."""

    driver: str
    label: str
    rep: str | None
    team: str | None
    shortfall: Ratio | None
    coaching: str
    explanation: str


class RepDiagnosis(Doc):
    """A red or yellow rep (问题定位): the headline and the drivers, worst first."""

    name: str
    region: str | None
    team: str | None
    attainment: Ratio | None
    rag: Rag
    headline: str
    drivers: list[Driver]


class CohortWindow(Doc):
    """The months whose created deals the diagnosis' conversion rates read."""

    from_: str = msgspec.field(name="from")
    to: str


class Diagnosis(Doc):
    """`diagnose --json`: the drivers behind each rep below green."""

    period: str
    ruleset: RulesetRef
    position: int
    cohort: CohortWindow
    reps: dict[str, RepDiagnosis]


class WeekRow(Doc):
    """A week of a trend: bookings, 环比 against the week before, the running total, and
    the period's target pro-rated to the week (and its running total) where there is one."""

    week: str
    bookings: Money
    mom: Ratio | None
    cumulative: Money
    target: Money | None
    cumulative_target: Money | None


class WeeklySeries(Doc):
    """One scope's weeks, with the period's target and the week before the first."""

    target: Money | None
    previous_week: WeekBookings
    weeks: list[WeekRow]


class Weekly(Doc, kw_only=True):
    """`weekly --json`: bookings per ISO week for the team, each region and each rep (a
    year: team and regions only), with each week's share of the period's time."""

    period: str
    weeks: list[str]
    share_of_period: dict[str, Ratio | None]
    team: dict[str, WeeklySeries]
    regions: dict[str, WeeklySeries]
    reps: dict[str, WeeklySeries]
    position: int


KINDS: dict[str, type] = {
    "standings": Standings,
    "funnel": Funnel,
    "statement": StatementParts,
    "frozen": Frozen,
    "scorecard": Scorecard,
    "diagnosis": Diagnosis,
    "weekly": Weekly,
    "unmatched": Unmatched,
    "publication": Publication,
}
"""The Struct of each kind of stored document (services/project/readstore.py)."""


def as_document(kind: str, doc: object):
    """The fold's document of `kind` as its Struct; msgspec.ValidationError names the field
    of a document that does not fit."""
    return msgspec.convert(doc, KINDS[kind])
