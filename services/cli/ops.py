"""`quotaboard status` and `verify`: what the service holds and whether the log is intact."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import typer

from events.log import log_path
from services.cli.app import ConfigOpt, DataOpt, JsonOpt, NatsOpt, fail, settings_from
from services.config import Settings
from services.runtime.broker import BrokerUnavailable

NOT_STARTED = {"state": "not started", "error": None, "file": None, "line": None, "key": None}


def read_models(data_dir: Path) -> tuple[int, dict, int]:
    """(checkpoint, the projector's recorded state, events the fold set aside), from one
    look at the live read store. No store yet, or one whose tables a first projector is
    still creating: not started. A store that cannot be read is said, never taken for an
    empty one."""
    from services.project.readstore import ReadStore, current_path
    from services.project.state import read_state

    try:
        store = ReadStore.open_current(data_dir)
        if store is None:
            return 0, NOT_STARTED, 0
        with store:
            unmatched = store.unmatched()
            aside = len(unmatched.set_aside) if unmatched is not None else 0
            return store.position(), read_state(store) or NOT_STARTED, aside
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0, NOT_STARTED, 0
        broken = exc
    except sqlite3.DatabaseError as exc:
        broken = exc
    return 0, {**NOT_STARTED, "state": "unreadable",
               "error": f"read store {current_path(data_dir)}: {broken}; run `quotaboard rebuild`"}, 0


async def _broker_state(settings: Settings) -> dict:
    import nats.errors
    import nats.js.errors

    from services.record.recorder import DURABLE
    from services.runtime.broker import DAY, STREAM, broker_target, connect

    state = {"url": None, "embedded": settings.embedded, "connected": False}
    stream = {"name": STREAM, "messages": None, "max_age_days": None, "unrecorded": None}
    try:
        servers, _, _, embedded = broker_target(settings)
        state.update(url=",".join(servers), embedded=embedded)
        nc = await connect(settings, name="quotaboard-status")
    except BrokerUnavailable:
        return {"broker": state, "stream": stream}
    # What cannot be read is reported as null: no stream yet, no recorder (consumer) yet,
    # or the broker went away meanwhile. Anything else is a bug and is raised.
    unreadable = (nats.errors.Error, nats.js.errors.Error, OSError, TimeoutError)
    try:
        state["connected"] = nc.is_connected
        js = nc.jetstream()
        try:
            info = await js.stream_info(STREAM)
            stream["messages"] = info.state.messages
            stream["max_age_days"] = (info.config.max_age or 0) / DAY  # 0: kept forever
        except unreadable:
            pass
        try:
            consumer = await js.consumer_info(STREAM, DURABLE)
            # not yet stored in the log: never delivered, or delivered and not yet acked
            stream["unrecorded"] = consumer.num_pending + consumer.num_ack_pending
        except unreadable:
            pass
    finally:
        await nc.close()
    return {"broker": state, "stream": stream}


def status(data: DataOpt = None, nats: NatsOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Sizes, positions, lag, quarantine, events set aside by the fold, broker state, and what
    the stream holds that the log does not yet."""
    settings = settings_from(data, config, nats)
    events = last = quarantined = conflicts = 0
    path = log_path(settings.data_dir)
    if path.exists():
        from events.log import EventLog

        with EventLog(path, readonly=True) as event_log:
            events, last, quarantined = event_log.count(), event_log.last_position(), event_log.quarantine_count()
            conflicts = event_log.conflict_count()
    proj, state, set_aside = read_models(settings.data_dir)
    # The real distance whatever the projector's state: one stuck at 0 shows the whole log.
    out = {"events": events, "last_position": last, "quarantined": quarantined, "conflicts": conflicts,
           "projector_position": proj, "lag": last - proj, "projector": state,
           "set_aside": set_aside}
    out.update(asyncio.run(_broker_state(settings)))
    if as_json:
        typer.echo(json.dumps(out))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"quotaboard {settings.data_dir}", show_header=False)
    for key in ("events", "last_position", "quarantined", "conflicts", "projector_position", "lag", "set_aside"):
        table.add_row(key, str(out[key]))
    running = state["state"] == "running"
    shown = state["state"] + (f": {state['error']}" if state["error"] else "")
    table.add_row("projector", Text(shown, style="" if running else "bold red"))  # Text: no markup in errors
    b = out["broker"]
    table.add_row("broker", f"{b['url'] or '-'} ({'embedded' if b['embedded'] else 'external'}, "
                  f"{'connected' if b['connected'] else 'not reachable'})")
    stream = out["stream"]
    kept = {None: "", 0: ", kept forever"}.get(stream["max_age_days"], f", kept {stream['max_age_days']:g} days")
    unrecorded = "" if stream["unrecorded"] is None else f", {stream['unrecorded']} not yet in the log"
    table.add_row("stream", f"{stream['name']}: {stream['messages']} messages{kept}{unrecorded}")
    Console().print(table)


def verify(data: DataOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Check every column of the log and that it still holds what was seen of it; exit 1 naming the first bad position."""
    settings = settings_from(data, config)
    path = log_path(settings.data_dir)
    if not path.exists():
        raise fail(f"no event log at {path}; check --data")
    from services.audit.integrity import verify_data

    result = verify_data(settings.data_dir, path)
    if as_json:
        typer.echo(json.dumps({"ok": result.ok, "checked": result.checked,
                               "first_bad_position": result.first_bad_position, "reason": result.reason,
                               "head": {"position": result.checked, "hash": result.head.hex()}}))
        if not result.ok:
            raise typer.Exit(1)
        return
    if not result.ok:
        where = f" at position {result.first_bad_position}" if result.first_bad_position else ""
        raise fail(f"log {path} is broken{where}: {result.reason}; restore the log from a backup")
    typer.echo(f"ok: {result.checked} events, hash chain intact")


def register(app: typer.Typer) -> None:
    app.command()(status)
    app.command()(verify)
