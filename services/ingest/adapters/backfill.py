"""`quotaboard backfill hubspot|pipedrive|stripe|dingtalk [--since DATE]`: the deals, activities,
payments and refunds that exist before the webhooks are switched on, read through the
vendors' APIs (services/ingest/adapters/vendor_pages.py) and published as canonical events with
the ids the webhooks give (so both together store each fact once, in either order).

Tokens come from configuration only (QUOTABOARD_* or the config file; see
AdapterSettings), never argv. The mapping file is the webhooks' one, checked first.
Resumable: after each page is published (JetStream acknowledged it), the next page's
position is written to `<data>/backfill/<vendor>.json`; a run interrupted anywhere
starts again from the last page not published (a page published twice is answered as
duplicates). The file is removed once every stream is done. Unusable records are
quarantined like a webhook's (the log's quarantine table, else `<data>/quarantine/`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.config import Settings, write_private

VENDORS = ("hubspot", "pipedrive", "stripe", "dingtalk")
SOURCES = {
    "hubspot": "hubspot",
    "pipedrive": "pipedrive",
    "stripe": "payments",
    "dingtalk": "dingtalk-crm",
}


class BackfillError(Exception):
    """One line for the user: what failed and what to do."""


def cursor_path(data_dir: Path, vendor: str) -> Path:
    return Path(data_dir) / "backfill" / f"{vendor}.json"


def parse_since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        day = datetime.fromisoformat(text)
    except ValueError:
        raise BackfillError(f"--since {text!r} is not a date like 2026-01-31") from None
    return day if day.tzinfo else day.replace(tzinfo=UTC)


def _read_cursor(path: Path, since: str | None) -> dict:
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return {"since": since, "positions": {}, "done": []}
    except (OSError, ValueError) as exc:
        raise BackfillError(f"cannot read {path}: {exc}; remove it to start over") from None
    if state.get("since") != since:
        raise BackfillError(
            f"{path} is a backfill with --since {state.get('since')}; "
            f"run with that, or remove the file to start over"
        )
    return state


async def run(vendor: str, settings: Settings, since_text: str | None, show_progress: bool) -> dict:
    """The whole backfill of one vendor; returns the counts."""
    from services.ingest.adapters import vendor_pages
    from services.ingest.adapters.mapping import MappingError
    from services.ingest.adapters.routes import adapter_settings, current_mapping, quarantine_sink
    from services.ingest.publish import publish_events
    from services.runtime.broker import connect

    if vendor not in VENDORS:
        raise BackfillError(f"unknown vendor {vendor!r}; one of {', '.join(VENDORS)}")
    since = parse_since(since_text)
    adapter = adapter_settings(settings)
    try:
        mapping = current_mapping(adapter)
    except MappingError as exc:
        raise BackfillError(str(exc)) from None
    streams = vendor_pages.streams(vendor, adapter)
    path = cursor_path(settings.data_dir, vendor)
    state = _read_cursor(path, since_text)
    totals = {"pages": 0, "accepted": 0, "duplicates": 0, "quarantined": 0, "ignored": 0}
    nc = await connect(settings, name=f"quotaboard-backfill-{vendor}")
    progress = _progress(show_progress)
    try:
        js = nc.jetstream()
        quarantine = quarantine_sink(_Sink(js, settings))
        for stream in streams:
            if stream in state["done"]:
                continue
            task = progress.add_task(f"{vendor} {stream}", total=None) if progress else None
            iterator = vendor_pages.pages(
                vendor, stream, adapter, mapping, state["positions"].get(stream), since
            )
            while True:
                page = await asyncio.to_thread(next, iterator, None)
                if page is None:
                    break
                result, position = page
                if result.events:
                    outcome = await publish_events(js, result.events)
                    totals["accepted"] += outcome.accepted
                    totals["duplicates"] += outcome.duplicates
                for bad in result.malformed:
                    raw = json.dumps(bad.raw, ensure_ascii=False, default=str).encode()
                    await quarantine(SOURCES[vendor], bad.reason, raw)
                totals["quarantined"] += len(result.malformed)
                totals["pages"] += 1
                state["positions"][stream] = position
                write_private(path, json.dumps(state))
                if progress:
                    progress.update(
                        task,
                        advance=len(result.events),
                        description=f"{vendor} {stream}: {totals['pages']} pages",
                    )
            state["done"].append(stream)
            write_private(path, json.dumps(state))
    finally:
        if progress:
            progress.stop()
        await nc.close()
    path.unlink(missing_ok=True)
    return totals


class _Sink:
    """What routes.quarantine_sink needs of a request: a JetStream context and the settings."""

    def __init__(self, js: Any, settings: Settings) -> None:
        self.js, self.settings, self.publish = js, settings, None


def _progress(show: bool):
    if not show:
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    progress.start()
    return progress
