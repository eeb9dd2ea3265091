"""`quotaboard import FILE.jsonl`: canonical events through the gateway's publishing path
(services/ingest/publish.py), over NATS with the broker's credentials."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from events.log import log_path
from services.cli.app import ConfigOpt, DataOpt, JsonOpt, NatsOpt, fail, settings_from
from services.config import Settings
from services.runtime.broker import BrokerUnavailable

IMPORT_CHUNK = 500


def import_(file: Annotated[Path, typer.Argument(help="canonical events, one JSON object a line")],
            data: DataOpt = None, nats: NatsOpt = None, config: ConfigOpt = None,
            as_json: JsonOpt = False) -> None:
    """Canonical events through the same path as the gateway (publish_events).

    Over NATS with the broker's credentials (the operator's), so closes and rulesets of a
    history import too; a `ruleset.applied` whose hash is not its TOML's is rejected."""
    from schemas.events import ContractError, decode_event
    from services.ingest.trust import check_ruleset_hashes

    settings = settings_from(data, config, nats)
    try:
        fh = open(file, "rb")
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}; check the path") from None
    good, rejected = [], []
    with fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                decoded = decode_event(line)
                check_ruleset_hashes([decoded], batch=False)
                good.append(decoded)
            except ContractError as exc:
                rejected.append({"line": number, "error": exc.reason, "path": exc.path})
    for r in rejected:
        typer.echo(f"{file}:{r['line']}: rejected: {r['error']} at {r['path']}", err=True)
    try:
        accepted, duplicates, conflicts = asyncio.run(_publish_all(settings, good, show_progress=not as_json))
    except BrokerUnavailable as exc:
        raise fail(f"{exc}") from None
    for event_id in conflicts:
        typer.echo(f"{file}: conflict: {event_id!r} was already sent with other content; the first is kept", err=True)
    summary = {"accepted": accepted, "duplicates": duplicates, "rejected": len(rejected), "conflicts": conflicts}
    if as_json:
        typer.echo(json.dumps({**summary, "rejections": rejected}))
    else:
        typer.echo(f"accepted {accepted}, duplicates {duplicates}, rejected {len(rejected)}")
    if rejected:
        raise typer.Exit(1)


async def _publish_all(settings: Settings, events: list, show_progress: bool) -> tuple[int, int, list[str]]:
    from events.log import EventLog
    from services.ingest.publish import publish_events
    from services.runtime.broker import connect

    nc = await connect(settings, name="quotaboard-import")
    accepted = duplicates = 0
    conflicts: list[str] = []
    progress = None
    path = log_path(settings.data_dir)
    event_log = EventLog(path, readonly=True) if path.exists() else None  # to name conflicts
    try:
        js = nc.jetstream(publish_async_max_pending=IMPORT_CHUNK * 2)
        if show_progress and sys.stderr.isatty() and len(events) > IMPORT_CHUNK:
            from rich.progress import Progress

            progress = Progress(transient=True)
            progress.start()
            task = progress.add_task("publishing", total=len(events))
        for i in range(0, len(events), IMPORT_CHUNK):
            result = await publish_events(js, events[i : i + IMPORT_CHUNK], log=event_log)
            accepted += result.accepted
            duplicates += result.duplicates
            conflicts += result.conflicts
            if progress is not None:
                progress.advance(task, len(events[i : i + IMPORT_CHUNK]))
    finally:
        if progress is not None:
            progress.stop()
        if event_log is not None:
            event_log.close()
        await nc.close()
    return accepted, duplicates, conflicts


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
