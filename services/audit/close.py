"""`quotaboard close`: publish `period.closed`, so the projector freezes the month.

`close(data_dir, P)` publishes one `period.closed` event through NATS, exactly like every
other event (the recorder stores it, the projector freezes P's statements as they stand).
The event names the ruleset whose plan governs P (id and content hash) so the frozen
statement says under which rules it was computed. Its id is derived from the period
(`close-2026-08`): a double close is at worst a duplicate that the broker's window and the
log's unique id both drop. Closing a period that the log already holds a `period.closed`
for is refused before anything is published.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.read_models import Frozen
from services.audit.common import (
    AuditError,
    check_month,
    open_log,
    plan_ref,
    publish,
    read_store,
    run,
)


def close_event_id(period: str) -> str:
    return f"close-{period}"


def closed_in_log(data_dir: Path | str, period: str) -> int | None:
    """Position of a stored `period.closed` for `period`, or None (the log's stream index:
    a close is stored under the entity `period:<month>`)."""
    with open_log(Path(data_dir)) as log:
        for record in log.read_stream(f"period:{period}"):
            if record.type == "period.closed":
                return record.position
    return None


def _close_event(data_dir: Path, period: str):
    from schemas.events import PeriodClosed, PeriodClosedData, RulesetRef

    check_month(period)
    position = closed_in_log(data_dir, period)
    if position is not None:
        raise AuditError(
            f"period {period} is already closed (period.closed at log position {position}); "
            f"its statements are frozen — correct it with `quotaboard replay --period {period} "
            "--ruleset FILE --apply`"
        )
    ref = plan_ref(data_dir, period)
    return PeriodClosed(
        id=close_event_id(period),
        occurred_at=datetime.now(UTC).replace(microsecond=0),
        source="quotaboard-close",
        data=PeriodClosedData(period=period, ruleset=RulesetRef(**ref)),
    )


def _frozen_doc(data_dir: Path, period: str) -> Frozen | None:
    store = read_store(data_dir)
    if store is None:
        return None
    with store:
        return store.frozen(period)


async def _await_for(predicate: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(step)


async def aclose(data_dir: Path | str, period: str, *, settings=None, wait: float = 10.0) -> dict:
    """Async `close` (for callers already inside an event loop)."""
    data_dir = Path(data_dir)
    event = _close_event(data_dir, period)
    await publish(data_dir, [event], settings)
    frozen = await _await_for(lambda: _frozen_doc(data_dir, period), wait) if wait > 0 else None
    return {
        "period": period,
        "event_id": event.id,
        "ruleset": {"id": event.data.ruleset.id, "hash": event.data.ruleset.hash},
        "frozen": frozen is not None,
    }


def close(data_dir: Path | str, period: str, *, settings=None, wait: float = 10.0) -> dict:
    """Close month `period`: publish `period.closed` with the plan's ruleset ref.

    Refuses (AuditError) when the log already holds a close of that period. Waits up to
    `wait` seconds for the projector to store the frozen statements; the answer says
    whether it did (`frozen`)."""
    return run(aclose(data_dir, period, settings=settings, wait=wait))
