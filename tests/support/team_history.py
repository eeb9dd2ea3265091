"""A team history for the assessment tests: the seed's 小李 at 75% of target with
new-customer conversion 15% against the team's 25% (deals created in July, closed in
August), and a ruleset section that assesses it."""

from __future__ import annotations

from fold_helpers import SIGNED, ev

MONTHLY_ASSESSMENT = """
[assessment]
period = "month"
grades = [
  { from = "90", grade = "S" },
  { from = "80", grade = "A" },
  { from = "60", grade = "B" },
  { from = "0", grade = "C" },
]

[[assessment.indicators]]
metric = "bookings"
weight = "60"
cap = "1.20"

[[assessment.indicators]]
metric = "new_customers"
weight = "40"
goal = "6"
"""


def assessed_ruleset(cap: str = "1.20") -> str:
    """The seed's plan with a monthly assessment (bookings 60 capped at `cap`, 6 new customers 40)."""
    return SIGNED.read_text() + MONTHLY_ASSESSMENT.replace('cap = "1.20"', f'cap = "{cap}"')


def org() -> list[dict]:
    items = []
    for rep, name, region, target in (
        ("zhang", "小张", "East", "800000"),
        ("li", "小李", "South", "600000"),
        ("wang", "小王", "North", "300000"),
    ):
        items.append(
            ev(
                "rep.onboarded",
                "2026-06-01T09:00:00",
                rep_id=rep,
                name=name,
                team="sales",
                region=region,
            )
        )
        items.append(
            ev(
                "target.set",
                "2026-07-25T09:00:00",
                scope="rep",
                scope_id=rep,
                period="2026-08",
                metric="bookings",
                amount=target,
            )
        )
    return items


def deals(
    rep: str, prefix: str, won: int, amount: str, stages: list[str], kind: str = "new"
) -> list[dict]:
    """`won` deals closed on 10 August, then one deal per entry of `stages` left at that stage
    ("lead": never moved); all created on 3 July."""
    items = []
    for i in range(won + len(stages)):
        deal_id = f"{prefix}{i}"
        items.append(
            ev(
                "deal.created",
                "2026-07-03T10:00:00",
                deal_id=deal_id,
                rep_id=rep,
                customer_id=f"C-{deal_id}",
                product_line="A",
                amount=amount,
                kind=kind,
            )
        )
        if i < won:
            items.append(ev("deal.won", "2026-08-10T10:00:00", deal_id=deal_id))
        elif stages[i - won] != "lead":
            items.append(
                ev(
                    "deal.stage_changed",
                    "2026-07-20T10:00:00",
                    deal_id=deal_id,
                    stage=stages[i - won],
                )
            )
    return items


def history() -> list[dict]:
    return (
        org()
        + deals("zhang", "Z", 7, "120000", ["negotiation"] * 13)
        + deals("wang", "W", 5, "66000", ["negotiation"] * 15)
        + deals("li", "L", 3, "90000", ["negotiation"] * 7 + ["qualified"] * 5 + ["lead"] * 5)
        + deals("li", "U", 3, "60000", [], kind="upsell")
    )


def build_store(data) -> None:
    """The team history in a real log under the assessed ruleset, then a real rebuild."""
    from fold_helpers import decode

    from events.log import EventLog, log_path
    from services.project.projector import rebuild

    (data / "rulesets").mkdir(parents=True)
    (data / "rulesets" / "assessed.toml").write_text(assessed_ruleset())
    with EventLog(log_path(data)) as log:
        log.append(decode(history()))
    rebuild(data)
