"""`quotaboard replay --apply`: record a correction as a `ruleset.applied` event.

`apply(data_dir, P, FILE)` publishes `ruleset.applied` (period, the ruleset's id and hash,
its TOML text) through NATS, and keeps a copy of the file as
`<data>/rulesets/applied/<id>-<hash12>.toml` (outside the live folder, so it never becomes
a live ruleset). The projector pays the per-rep deltas as adjustment lines in the first
open period after P.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from services.audit.common import AuditError, check_month, publish, run


def applied_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / "rulesets" / "applied"


def apply_event_id(period: str, ruleset_hash: str) -> str:
    return f"apply-{period}-{ruleset_hash.split(':', 1)[-1][:16]}"


def _apply_event(period: str, ruleset_file: Path):
    from projections.rulesets import RulesetError
    from schemas.events import RulesetApplied, RulesetAppliedData, RulesetRef
    from services.project.rulesets import read_ruleset

    check_month(period)
    try:
        loaded = read_ruleset(ruleset_file)
    except RulesetError as exc:
        raise AuditError(str(exc)) from None
    event = RulesetApplied(
        id=apply_event_id(period, loaded.hash),
        occurred_at=datetime.now(UTC).replace(microsecond=0),
        source="quotaboard-replay",
        data=RulesetAppliedData(
            period=period, ruleset=RulesetRef(id=loaded.id, hash=loaded.hash), toml=loaded.text
        ),
    )
    return event, loaded


async def aapply(
    data_dir: Path | str, period: str, ruleset_file: Path | str, *, settings=None
) -> dict:
    data_dir = Path(data_dir)
    event, loaded = _apply_event(period, Path(ruleset_file))
    folder = applied_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{loaded.id}-{loaded.hash.split(':', 1)[-1][:12]}.toml"
    if not copy.exists():
        tmp = copy.with_suffix(".tmp")
        shutil.copyfile(ruleset_file, tmp)
        tmp.replace(copy)
    await publish(data_dir, [event], settings)
    return {"period": period, "event_id": event.id, "ruleset": dict(loaded.ref), "copy": str(copy)}


def apply(data_dir: Path | str, period: str, ruleset_file: Path | str, *, settings=None) -> dict:
    """`replay --apply`: publish `ruleset.applied` and keep a copy of the file by hash."""
    return run(aapply(data_dir, period, ruleset_file, settings=settings))
