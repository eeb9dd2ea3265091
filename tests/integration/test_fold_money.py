"""Money reconciles: a payment id counts once, a refund never takes more than its payment
still holds, and credit to unknown reps lands in `unassigned`, so that team = Σ regions =
Σ reps + unassigned = Σ product lines (docs/decisions.md, "Money").

Each case is figured by hand and reached through the real path: events appended to the
log, folded by the projector's catch-up, read back from the read store, in arrival
batches that put late events last.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
from fold_helpers import decode, ev

from events.log import EventLog
from services.cli.figures import show_unmatched
from services.project.projector import open_projection
from services.project.readstore import ReadStore


def through_log(data: Path, *batches: list[dict]) -> dict:
    """Append each batch to the log and fold it; the read store's documents at the end."""
    catchup = None
    for batch in batches:
        with EventLog(data / "log.sqlite") as log:
            log.append(decode(batch))
        if catchup is None:
            catchup, _ = open_projection(data)
        catchup.run_until()
    catchup.store.close()
    with ReadStore.open_current(data) as store:
        return {
            "unmatched": msgspec.to_builtins(store.unmatched()),
            **{p: msgspec.to_builtins(store.standings(p)) for p in ("2026-08", "2026-09", "2026-Q3")},
        }


def org() -> list[dict]:
    return [
        ev(
            "rep.onboarded",
            "2026-07-01T09:00:00",
            rep_id="a",
            name="A",
            team="sales",
            region="East",
        ),
        ev(
            "rep.onboarded",
            "2026-07-01T09:00:00",
            rep_id="b",
            name="B",
            team="sales",
            region="South",
        ),
        ev(
            "target.set",
            "2026-07-25T09:00:00",
            scope="rep",
            scope_id="a",
            period="2026-08",
            metric="bookings",
            amount="100000",
        ),
    ]


def won_deal(deal_id: str = "D1", rep: str = "a", amount: str = "100000") -> list[dict]:
    return [
        ev(
            "deal.created",
            "2026-08-01T10:00:00",
            deal_id=deal_id,
            rep_id=rep,
            customer_id=f"C-{deal_id}",
            product_line="A",
            amount=amount,
        ),
        ev("deal.won", "2026-08-05T10:00:00", deal_id=deal_id, amount=amount),
    ]


def paid(at: str, payment_id: str, amount: str, deal_id: str = "D1") -> dict:
    return ev("payment.received", at, payment_id=payment_id, deal_id=deal_id, amount=amount)


def refunded(at: str, payment_id: str, amount: str, deal_id: str = "D1") -> dict:
    return ev("payment.refunded", at, payment_id=payment_id, deal_id=deal_id, amount=amount)


def issues(docs: dict) -> list[tuple]:
    return [
        (x["id"], x["reason"], x["amount"], x["counted"], x["excess"])
        for x in docs["unmatched"]["payments"]
    ]


def clawbacks(doc: dict, rep: str) -> list[str]:
    return [x["amount"] for x in doc["reps"][rep]["statement"] if x["component"] == "clawback"]


def test_the_same_payment_id_twice_counts_once_whichever_arrives_first(tmp_path):
    first = paid("2026-08-06T10:00:00", "P1", "10000")
    again = paid(
        "2026-08-07T10:00:00", "P1", "10000"
    )  # the same payment, resent under another event id
    docs = through_log(tmp_path / "a", org() + won_deal() + [first, again])
    assert docs["2026-08"]["reps"]["a"]["collections"] == "10000.00"  # not 20,000
    assert docs["2026-08"]["team"]["sales"]["collections"] == "10000.00"
    assert issues(docs) == [(again["id"], "duplicate_payment", "10000.00", "0.00", "10000.00")]
    assert first["id"] in docs["unmatched"]["payments"][0]["explanation"]
    assert docs["unmatched"]["count"] == 1
    # the earlier-dated receipt arrives last: it is the one that counts, at its own date
    late = paid("2026-07-30T10:00:00", "P1", "10000")
    docs = through_log(tmp_path / "b", org() + won_deal() + [first], [late])
    assert docs["2026-08"]["reps"]["a"]["collections"] == "0.00"
    assert issues(docs) == [(first["id"], "duplicate_payment", "10000.00", "0.00", "10000.00")]


def test_a_refund_above_what_its_payment_holds_counts_what_it_holds(tmp_path, capsys):
    # a: target 100,000, D1 won at 100,000 in August: 2% + 1,000, r(2026-08) = 2%.
    over = refunded("2026-09-06T10:00:00", "P1", "5000")
    again = refunded("2026-09-07T10:00:00", "P1", "50")  # P1 holds nothing any more
    part = refunded("2026-09-08T10:00:00", "P2", "30")
    rest = refunded("2026-09-09T10:00:00", "P2", "80")  # P2 holds 70
    docs = through_log(
        tmp_path,
        org()
        + won_deal()
        + [
            paid("2026-08-06T10:00:00", "P1", "100"),
            paid("2026-08-07T10:00:00", "P2", "100"),
            over,
            again,
            part,
            rest,
        ],
    )
    aug, sep = docs["2026-08"], docs["2026-09"]
    assert aug["reps"]["a"]["collections"] == "200.00"
    assert aug["reps"]["a"]["total"] == "3000.00"
    # September: -100 (P1, capped) -30 -70 (P2, capped) = -200, never below what was paid
    assert sep["reps"]["a"]["collections"] == "-200.00"
    assert (
        sep["team"]["sales"]["collections"] == sep["product_lines"]["A"]["collections"] == "-200.00"
    )
    # clawback on what counted: 100 × 2% = 2.00, 30 × 2% = 0.60, 70 × 2% = 1.40 (not 5,000 × 2% = 100)
    assert clawbacks(sep, "a") == ["-2.00", "-0.60", "-1.40"]
    assert sep["reps"]["a"]["total"] == "4996.00"  # Q3's first rank award 5,000 - 4.00
    assert issues(docs) == [
        (over["id"], "over_refund", "5000.00", "100.00", "4900.00"),
        (again["id"], "over_refund", "50.00", "0.00", "50.00"),
        (rest["id"], "over_refund", "80.00", "70.00", "10.00"),
    ]
    assert docs["unmatched"]["payments"][0]["explanation"] == (
        "refund of 5,000.00 exceeds the 100.00 payment P1 still holds: 100.00 counted, 4,900.00 not"
    )
    show_unmatched(tmp_path, as_json=False)  # `quotaboard unmatched`, for people
    out = capsys.readouterr().out
    assert "Unmatched events: 3" in out and "over_refund: refund of 5,000.00 exceeds" in out


def test_a_refund_of_an_unknown_payment_waits_for_it_and_then_counts_at_its_own_date(tmp_path):
    refund = refunded("2026-09-06T10:00:00", "P9", "5000")
    base = org() + won_deal() + [paid("2026-08-06T10:00:00", "P1", "20000"), refund]
    docs = through_log(tmp_path / "a", base)
    assert docs["2026-09"]["reps"]["a"]["collections"] == "0.00"  # counts nothing: not -5,000
    assert clawbacks(docs["2026-09"], "a") == []
    assert issues(docs) == [(refund["id"], "unknown_payment", "5000.00", "0.00", "5000.00")]
    # finance reports the payment late (dated before the refund): the refund counts, in September
    docs = through_log(tmp_path / "b", base, [paid("2026-09-01T10:00:00", "P9", "8000")])
    assert docs["2026-09"]["reps"]["a"]["collections"] == "3000.00"  # 8,000 - 5,000
    assert clawbacks(docs["2026-09"], "a") == ["-100.00"]  # 5,000 × 2%
    assert issues(docs) == [] and docs["unmatched"]["count"] == 0
    # a payment dated after the refund held nothing to refund at the refund's date
    docs = through_log(tmp_path / "c", base, [paid("2026-09-10T10:00:00", "P9", "8000")])
    assert docs["2026-09"]["reps"]["a"]["collections"] == "8000.00"
    assert issues(docs) == [(refund["id"], "unknown_payment", "5000.00", "0.00", "5000.00")]
    assert "dated after this refund" in docs["unmatched"]["payments"][0]["explanation"]


def test_unknown_reps_are_credited_to_unassigned_so_every_scope_adds_up(tmp_path):
    # D1 owned by x (never onboarded): 1,000 booked, 400 paid.
    # D2 owned by a, split a 0.6 / y 0.4 (y never onboarded): 2,000 booked, 1,000 paid.
    items = (
        org()
        + won_deal("D1", "x", "1000")
        + won_deal("D2", "a", "2000")
        + [
            ev(
                "deal.credit_split",
                "2026-08-02T10:00:00",
                deal_id="D2",
                splits=[{"rep_id": "a", "share": "0.6"}, {"rep_id": "y", "share": "0.4"}],
            ),
            paid("2026-08-06T10:00:00", "P1", "400", "D1"),
            paid("2026-08-06T10:00:00", "P2", "1000", "D2"),
        ]
    )
    aug = through_log(tmp_path / "a", items)["2026-08"]
    assert sorted(aug["reps"]) == ["a", "b"]  # x and y are not reps
    un = aug["unassigned"]
    assert (un["bookings"], un["collections"], un["deals_won"]) == (
        "1800.00",
        "800.00",
        1,
    )  # 1,000 + 800; 400 + 400
    assert un["reps"] == {
        "x": {"bookings": "1000.00", "collections": "400.00"},
        "y": {"bookings": "800.00", "collections": "400.00"},
    }
    assert aug["reps"]["a"]["bookings"] == "1200.00" and aug["reps"]["a"]["collections"] == "600.00"
    assert {r: e["bookings"] for r, e in aug["regions"].items()} == {
        "East": "1200.00",
        "South": "0.00",
        "unassigned": "1800.00",
    }
    assert {t: e["bookings"] for t, e in aug["team"].items()} == {
        "sales": "1200.00",
        "unassigned": "1800.00",
    }
    assert aug["product_lines"]["A"]["bookings"] == "3000.00"
    assert aug["product_lines"]["A"]["collections"] == "1400.00"
    # x is onboarded later (a late org event): the money moves to x and x's region
    late = [
        ev(
            "rep.onboarded",
            "2026-07-01T09:00:00",
            rep_id="x",
            name="X",
            team="sales",
            region="South",
        )
    ]
    aug = through_log(tmp_path / "b", items, late)["2026-08"]
    assert aug["reps"]["x"]["bookings"] == "1000.00"
    assert aug["unassigned"]["reps"] == {"y": {"bookings": "800.00", "collections": "400.00"}}
    assert {r: e["bookings"] for r, e in aug["regions"].items()} == {
        "East": "1200.00",
        "South": "1000.00",
        "unassigned": "800.00",
    }
