"""Who may send what: the webhook secret admits facts, the operator's credential admits plans.

The webhook secret is shared with CRMs and finance systems; it admits what they report
(deals, payments, activities, the organisation, targets). What decides or freezes how
people are paid is the operator's alone: `ruleset.applied` (a commission plan for a
month), `period.closed` (freeze a month), and the types to come for payouts and
objections. Over HTTP these need the operator secret (`operator_secret`, a second
`whsec_` secret kept in `<data>/secrets.toml`, same signature scheme); signed with the
webhook secret they are refused (403) and nothing of the request is stored. The CLI
(`close`, `replay --apply`, `import`) publishes over NATS with the broker's credentials,
which only the operator holds, so a history with its closes and rulesets still imports.

A `ruleset.applied` must also be what it says: the `hash` it names is the hash of the
TOML it carries (`content_hash`, as `load_ruleset` computes it), else a plan could be
applied under the name of another.
"""

from __future__ import annotations

from projections.rulesets import content_hash
from schemas.events import ContractError, Event, RulesetApplied, event_type

PRIVILEGED = frozenset(
    {"ruleset.applied", "period.closed", "objection.resolved", "payout.approved"}
)


def first_privileged(events: list[Event]) -> int | None:
    """Index of the first event whose type needs the operator's credential, or None."""
    for i, e in enumerate(events):
        if event_type(e) in PRIVILEGED:
            return i
    return None


def privileged_refusal(events: list[Event]) -> str | None:
    """Why these events cannot be taken on the webhook secret alone, or None."""
    if first_privileged(events) is None:
        return None
    kinds = sorted({event_type(e) for e in events} & PRIVILEGED)
    return (
        f"{', '.join(kinds)} needs the operator's credential: sign the request with the operator "
        "secret (operator_secret in <data>/secrets.toml); the webhook secret admits only facts. "
        "Nothing of this request was stored"
    )


def event_path(index: int, batch: bool) -> str:
    return f"$[{index}]" if batch else "$"


def check_ruleset_hashes(events: list[Event], *, batch: bool = True) -> None:
    """Raise ContractError at `…data.ruleset.hash` for a `ruleset.applied` whose hash is
    not the hash of its TOML."""
    for i, e in enumerate(events):
        if isinstance(e, RulesetApplied):
            actual = content_hash(e.data.toml.encode("utf-8"))
            if e.data.ruleset.hash != actual:
                raise ContractError(
                    f"is not the hash of data.toml ({actual})",
                    event_path(i, batch) + ".data.ruleset.hash",
                )
