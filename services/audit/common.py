"""What close, replay and apply share: the error a person reads, months and instants,
the log and the read models opened for reading, the governing plan, and publishing.

Kept in one small module so that each command's module holds only its own steps.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from events.log import EventLog, log_path
from projections.periods import bounds


class AuditError(Exception):
    """One line for a person: what was wrong and what to do."""


def check_month(period: str) -> tuple[int, int]:
    """(year, month) of `period` (`2026-08`), or AuditError saying how to write one."""
    try:
        year, month = period.split("-")
        y, m = int(year), int(month)
        if len(year) != 4 or len(month) != 2 or not 1 <= m <= 12:
            raise ValueError
    except ValueError:
        raise AuditError(f"period {period!r} is not a month; use e.g. --period 2026-08") from None
    return y, m


def period_bounds(period: str, tz: ZoneInfo | str) -> tuple[datetime, datetime]:
    """[start, end) of a month in the business timezone, as UTC instants."""
    check_month(period)
    start, end = bounds(period, ZoneInfo(tz) if isinstance(tz, str) else tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def parse_instant(text: str | datetime | None) -> datetime | None:
    """RFC 3339 (with an offset; a bare date or time without offset is taken as UTC)."""
    if text is None or isinstance(text, datetime):
        return text if text is None or text.tzinfo else text.replace(tzinfo=UTC)
    raw = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise AuditError(
            f"--as-of {text!r} is not a time; use RFC 3339, e.g. 2026-09-03T12:00:00+08:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def open_log(data_dir: Path) -> EventLog:
    """The data folder's event log, read-only; AuditError when there is none yet."""
    path = log_path(data_dir)
    if not path.exists():
        raise AuditError(
            f"no event log at {path}: start `quotaboard up --data {data_dir}` and import events first"
        )
    return EventLog(path, readonly=True)


def read_store(data_dir: Path):
    """The current read-model store (None while no projector has built one)."""
    from services.project.readstore import ReadStore

    return ReadStore.open_current(data_dir)


def plan_ref(data_dir: Path | str, period: str) -> dict[str, str]:
    """`{"id", "hash"}` of the ruleset whose plan governs `period` in the live read models."""
    from services.project.projector import current_rulesets

    return dict(current_rulesets(data_dir).plan_for(period).ref)


async def publish(data_dir: Path, events: list, settings=None) -> Any:
    """Publish canonical events the way every event enters: NATS JetStream, then the recorder."""
    from services.ingest.publish import publish_events
    from services.runtime.broker import connect

    if settings is None:
        from services.config import load_settings

        settings = load_settings(data_dir)
    nc = await connect(settings, name="quotaboard-audit", wait=2.0)
    try:
        return await publish_events(nc.jetstream(), events)
    finally:
        await nc.close()


def run(coro):
    """Run the async variant of a command from synchronous code."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    raise AuditError("internal: call the async variant (aclose/aapply) from inside an event loop")
