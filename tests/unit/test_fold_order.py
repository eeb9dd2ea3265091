"""Business order, not arrival order: the same set of events gives the same read models
whatever order they arrive in and however they are batched."""

from __future__ import annotations

from pathlib import Path

from fold_helpers import COLLECTED, SIGNED, decode, ev, everything, seed_raw, strip_position
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.projection import Projection
from projections.rulesets import RulesetSet
from services.project.rulesets import read_ruleset


def extra() -> list[dict]:
    """Around the seed: splits, reassignments, a transfer, refunds, lost-then-won, a late target."""
    return [
        ev("rep.onboarded", "2026-07-01T09:00:00", rep_id="zhao", name="小赵", team="sales", region="East",
           mentor_id="zhang", hired_on="2026-07-01"),
        ev("deal.created", "2026-08-06T10:00:00", deal_id="D6", rep_id="zhao", customer_id="C1", product_line="A",
           amount="120000", kind="renewal", source_channel="referral"),
        ev("deal.credit_split", "2026-08-07T10:00:00", deal_id="D6",
           splits=[{"rep_id": "zhao", "share": "0.5"}, {"rep_id": "zhang", "share": "0.5"}]),
        ev("deal.stage_changed", "2026-08-08T10:00:00", deal_id="D6", stage="negotiation"),
        ev("payment.received", "2026-08-09T10:00:00", payment_id="P6", deal_id="D6", amount="40000"),
        ev("deal.won", "2026-08-12T10:00:00", deal_id="D6"),
        ev("payment.refunded", "2026-09-12T10:00:00", payment_id="P6", deal_id="D6", amount="10000"),
        ev("rep.transferred", "2026-08-15T00:00:00", rep_id="li", region="North"),
        ev("deal.created", "2026-08-09T10:00:00", deal_id="D7", rep_id="li", customer_id="C7", product_line="B",
           amount="80000", source_channel="ads"),
        ev("deal.lost", "2026-08-18T10:00:00", deal_id="D7"),
        ev("deal.reassigned", "2026-08-19T10:00:00", deal_id="D7", rep_id="wang"),
        ev("deal.won", "2026-09-03T10:00:00", deal_id="D7", amount="85000"),
        ev("payment.received", "2026-09-04T10:00:00", payment_id="P7", deal_id="D7", amount="30000"),
        ev("target.set", "2026-08-20T09:00:00", scope="rep", scope_id="zhao", period="2026-08", metric="bookings",
           amount="50000"),
        ev("target.set", "2026-08-29T09:00:00", scope="region", scope_id="North", period="2026-09",
           metric="bookings", amount="50000"),
        ev("activity.logged", "2026-09-01T10:00:00", activity_id="A9", rep_id="li", kind="demo"),
    ]


EVENTS = decode(seed_raw() + extra())
QUARTERLY = Path(__file__).parents[1] / "rulesets" / "quarterly.toml"
RULESETS = {"signed": RulesetSet([read_ruleset(SIGNED)]), "collected": RulesetSet([read_ruleset(COLLECTED)]),
            "quarterly": RulesetSet([read_ruleset(QUARTERLY)])}


def fold(order: list[int], cuts: list[int], which: str) -> Projection:
    p = Projection(RULESETS[which])
    batch = [(pos, EVENTS[i]) for pos, i in enumerate(order, 1)]
    bounds = [0] + sorted(set(c for c in cuts if 0 < c < len(batch))) + [len(batch)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        p.apply(batch[a:b])
    return p


REFERENCE = {w: everything(fold(list(range(len(EVENTS))), [], w)) for w in RULESETS}


def test_reference_has_the_interesting_parts():
    ref = REFERENCE["signed"]
    aug = ref[("standings", "2026-08")]
    assert aug["reps"]["zhao"]["bookings"] == "60000.00"
    assert aug["reps"]["zhang"]["bookings"] == "900000.00"
    assert aug["reps"]["wang"]["deals_lost"] == 0 and aug["reps"]["li"]["deals_lost"] == 2
    sep = ref[("standings", "2026-09")]
    assert sep["reps"]["wang"]["bookings"] == "85000.00"
    assert any(x["component"] == "clawback" for x in sep["reps"]["zhang"]["statement"])
    quarterly = REFERENCE["quarterly"]  # Q3 is paid in September only, on the quarter's ranking
    assert quarterly[("standings", "2026-08")]["reps"]["zhang"]["statement"] == []
    assert quarterly[("standings", "2026-09")]["reps"]["zhang"]["total"] == "5000.00"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(list(range(len(EVENTS)))), which=st.sampled_from(sorted(RULESETS)))
def test_arrival_order_does_not_matter(order, which):
    assert everything(fold(order, [], which)) == REFERENCE[which]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=1, max_value=len(EVENTS) - 1), max_size=12),
       which=st.sampled_from(sorted(RULESETS)))
def test_batching_does_not_matter(cuts, which):
    assert everything(fold(list(range(len(EVENTS))), cuts, which)) == REFERENCE[which]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(list(range(len(EVENTS)))),
       cuts=st.lists(st.integers(min_value=1, max_value=len(EVENTS) - 1), max_size=8))
def test_shuffled_and_batched(order, cuts):
    assert everything(fold(order, cuts, "signed")) == REFERENCE["signed"]


def test_replaying_an_applied_batch_changes_nothing():
    p = fold(list(range(len(EVENTS))), [], "signed")
    before = everything(p)
    changes = p.apply([(pos, EVENTS[pos - 1]) for pos in range(1, 10)])
    assert changes.periods == set() and everything(p) == before


def _store_from_changes(order: list[int], cuts: list[int]) -> tuple[dict, Projection]:
    """What a projector writing only each batch's Changes would hold at the end."""
    p = Projection(RULESETS["signed"])
    batch = [(pos, EVENTS[i]) for pos, i in enumerate(order, 1)]
    bounds = [0] + sorted(set(c for c in cuts if 0 < c < len(batch))) + [len(batch)]
    store: dict = {}
    for a, b in zip(bounds, bounds[1:], strict=False):
        changes = p.apply(batch[a:b])
        for period in changes.periods:
            standings = p.standings(period)
            store[("standings", period)] = strip_position(standings)
            store[("funnel", period)] = strip_position(p.funnel(period))
            for rep in changes.reps & standings["reps"].keys():
                store[("statement", period, rep)] = _own_parts(p.statement(rep, period))
    return store, p


def _own_parts(statement: dict) -> dict:
    """What a statement adds to the rep's standings entry (the figures are read from standings)."""
    return {k: statement[k] for k in ("deals", "activities", "weekly_bookings")}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(list(range(len(EVENTS)))),
       cuts=st.lists(st.integers(min_value=1, max_value=len(EVENTS) - 1), max_size=10))
def test_changes_name_every_document_that_changed(order, cuts):
    store, p = _store_from_changes(order, cuts)
    full = everything(p)
    for key, doc in full.items():
        if key[0] == "statement":
            full[key] = _own_parts(doc)
    assert store == full
