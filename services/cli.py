"""The `quotaboard` command (../shared/contracts/cli.md).

Every command takes `--data DIR` (default ./var, or QUOTABOARD_DATA) and finds the running
service's broker from `<data>/run/broker.json`. Errors: one line on stderr, exit 1.

Extending: other modules add commands without editing this file by defining
`register_cli(app: typer.Typer)`; list the module in `EXTENSIONS`. Roles for `up` are
registered in services.supervisor.ROLES.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from services.broker import BrokerStartError, BrokerUnavailable
from services.config import ConfigError, Settings, ensure_webhook_secret, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="quotaboard: sales events -> JetStream -> hash-chained log -> read models.")

# Modules that may add commands through `register_cli(app)`; missing ones are skipped.
EXTENSIONS = ("services.figures", "services.audit", "services.projector", "tui", "services.adapters.backfill")

DataOpt = Annotated[Path | None, typer.Option("--data", help="data directory (default ./var)")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML config file (default <data>/config.toml)")]
NatsOpt = Annotated[str | None, typer.Option("--nats", help="NATS URL(s) of an existing server/cluster")]
HttpOpt = Annotated[str | None, typer.Option("--http", help="HOST:PORT for the gateway")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print only JSON on stdout")]


class CliError(Exception):
    """One line for stderr: what was wrong and what to do."""


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"quotaboard: {message}", err=True)
    return typer.Exit(code)


def _settings(data, config=None, nats=None, http=None) -> Settings:
    return load_settings(data, config=config, nats=nats, http=http)


def _setup_logging(role: str) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s {role} %(levelname)s %(message)s")


# --- running -------------------------------------------------------------------------


@app.command()
def up(data: DataOpt = None, http: HttpOpt = None, nats: NatsOpt = None, config: ConfigOpt = None) -> None:
    """The service: embedded nats-server (unless --nats), gateway, recorder, projector."""
    from services.supervisor import Supervisor

    _setup_logging("up")
    settings = _settings(data, config, nats, http)
    from services.adapters.mapping import MappingError

    try:  # the adapters' mapping file (QUOTABOARD_MAPPING_FILE) is checked before anything starts
        import services.adapters.routes  # noqa: F401
    except MappingError as exc:
        raise fail(str(exc)) from None
    settings, written = ensure_webhook_secret(settings)
    if written:
        typer.echo(f"quotaboard: no webhook secret configured; generated one into {written} (mode 0600)", err=True)
    sup = Supervisor(settings)
    code = sup.run()
    raise typer.Exit(code)


@app.command("run-role", hidden=True)
def run_role(name: str, data: DataOpt = None, nats: NatsOpt = None, http: HttpOpt = None,
             config: ConfigOpt = None) -> None:
    """Run one role in this process (what `up` starts as a child)."""
    from services.supervisor import ROLES

    if name not in ROLES:
        raise fail(f"unknown role {name!r}; one of {', '.join(ROLES)}")
    _setup_logging(name)
    ROLES[name].run(_settings(data, config, nats, http))


@app.command()
def gateway(data: DataOpt = None, nats: NatsOpt = None, http: HttpOpt = None, config: ConfigOpt = None) -> None:
    """Only the HTTP gateway (for docker-compose); needs QUOTABOARD_WEBHOOK_SECRET."""
    settings = _settings(data, config, nats, http)
    if settings.webhook_secret is None:
        raise fail("no webhook secret: set QUOTABOARD_WEBHOOK_SECRET=whsec_... or webhook_secret in the config file")
    _setup_logging("gateway")
    from services.gateway import serve

    serve(settings)


@app.command()
def recorder(data: DataOpt = None, nats: NatsOpt = None, config: ConfigOpt = None) -> None:
    """Only the recorder (for docker-compose)."""
    _setup_logging("recorder")
    from services.recorder import run_recorder

    asyncio.run(run_recorder(_settings(data, config, nats)))


@app.command()
def projector(data: DataOpt = None, nats: NatsOpt = None, config: ConfigOpt = None) -> None:
    """Only the projector (for docker-compose): log -> read models, change notices on NATS."""
    _setup_logging("projector")
    from services.supervisor import ROLES

    ROLES["projector"].run(_settings(data, config, nats))


# --- import --------------------------------------------------------------------------

IMPORT_CHUNK = 500


@app.command("import")
def import_(file: Annotated[Path, typer.Argument(help="canonical events, one JSON object a line")],
            data: DataOpt = None, nats: NatsOpt = None, config: ConfigOpt = None,
            as_json: JsonOpt = False) -> None:
    """Canonical events through the same path as the gateway (publish_events)."""
    from schemas.events import ContractError, decode_event

    settings = _settings(data, config, nats)
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
                good.append(decode_event(line))
            except ContractError as exc:
                rejected.append({"line": number, "error": exc.reason, "path": exc.path})
    for r in rejected:
        typer.echo(f"{file}:{r['line']}: rejected: {r['error']} at {r['path']}", err=True)
    try:
        accepted, duplicates = asyncio.run(_publish_all(settings, good, show_progress=not as_json))
    except BrokerUnavailable as exc:
        raise fail(f"{exc}") from None
    summary = {"accepted": accepted, "duplicates": duplicates, "rejected": len(rejected)}
    if as_json:
        typer.echo(json.dumps({**summary, "rejections": rejected}))
    else:
        typer.echo(f"accepted {accepted}, duplicates {duplicates}, rejected {len(rejected)}")
    if rejected:
        raise typer.Exit(1)


async def _publish_all(settings: Settings, events: list, show_progress: bool) -> tuple[int, int]:
    from services.broker import connect
    from services.publish import publish_events

    nc = await connect(settings, name="quotaboard-import")
    accepted = duplicates = 0
    progress = None
    try:
        js = nc.jetstream(publish_async_max_pending=IMPORT_CHUNK * 2)
        if show_progress and sys.stderr.isatty() and len(events) > IMPORT_CHUNK:
            from rich.progress import Progress

            progress = Progress(transient=True)
            progress.start()
            task = progress.add_task("publishing", total=len(events))
        for i in range(0, len(events), IMPORT_CHUNK):
            result = await publish_events(js, events[i : i + IMPORT_CHUNK])
            accepted += result.accepted
            duplicates += result.duplicates
            if progress is not None:
                progress.advance(task, len(events[i : i + IMPORT_CHUNK]))
    finally:
        if progress is not None:
            progress.stop()
        await nc.close()
    return accepted, duplicates


# --- status / verify -------------------------------------------------------------------


def log_file(settings: Settings) -> Path:
    from services.recorder import log_path

    return log_path(settings.data_dir)


def projector_position(data_dir: Path) -> int | None:
    """The read models' checkpoint, or None while no projector has written any."""
    from services.readstore import ReadStore

    try:
        store = ReadStore.open_current(data_dir)
    except Exception:  # noqa: BLE001 - no store yet
        return None
    if store is None:
        return None
    with store:
        return store.position()


async def _broker_state(settings: Settings) -> dict:
    import nats.errors
    import nats.js.errors

    from services.broker import DAY, STREAM, broker_target, connect
    from services.recorder import DURABLE

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


@app.command()
def status(data: DataOpt = None, nats: NatsOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Sizes, positions, lag, quarantine, broker state, and what the stream holds that the log does not yet."""
    settings = _settings(data, config, nats)
    events = last = quarantined = 0
    path = log_file(settings)
    if path.exists():
        from events.log import EventLog

        with EventLog(path, readonly=True) as event_log:
            events, last, quarantined = event_log.count(), event_log.last_position(), event_log.quarantine_count()
    proj = projector_position(settings.data_dir)
    out = {"events": events, "last_position": last, "quarantined": quarantined,
           "projector_position": proj or 0, "lag": last - proj if proj is not None else 0}
    out.update(asyncio.run(_broker_state(settings)))
    if as_json:
        typer.echo(json.dumps(out))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"quotaboard {settings.data_dir}", show_header=False)
    for key in ("events", "last_position", "quarantined", "projector_position", "lag"):
        table.add_row(key, str(out[key]))
    b = out["broker"]
    table.add_row("broker", f"{b['url'] or '-'} ({'embedded' if b['embedded'] else 'external'}, "
                  f"{'connected' if b['connected'] else 'not reachable'})")
    stream = out["stream"]
    kept = {None: "", 0: ", kept forever"}.get(stream["max_age_days"], f", kept {stream['max_age_days']:g} days")
    unrecorded = "" if stream["unrecorded"] is None else f", {stream['unrecorded']} not yet in the log"
    table.add_row("stream", f"{stream['name']}: {stream['messages']} messages{kept}{unrecorded}")
    Console().print(table)


@app.command()
def verify(data: DataOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Check the log's hash chain; exit 1 naming the first bad position."""
    settings = _settings(data, config)
    path = log_file(settings)
    if not path.exists():
        raise fail(f"no event log at {path}; check --data")
    from events.log import EventLog

    with EventLog(path, readonly=True) as event_log:
        result = event_log.verify()
    if as_json:
        typer.echo(json.dumps({"ok": result.ok, "checked": result.checked,
                               "first_bad_position": result.first_bad_position, "reason": result.reason}))
        if not result.ok:
            raise typer.Exit(1)
        return
    if not result.ok:
        raise fail(f"log {path} is broken at position {result.first_bad_position}: {result.reason}; "
                   "restore the log from a backup")
    typer.echo(f"ok: {result.checked} events, hash chain intact")


# --- extensions ------------------------------------------------------------------------


def _load_extensions() -> None:
    for name in EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            typer.echo(f"quotaboard: commands of {name} unavailable: {exc}", err=True)
            continue
        except Exception as exc:  # noqa: BLE001 - one broken extension must not break the CLI
            typer.echo(f"quotaboard: commands of {name} unavailable: {exc}", err=True)
            continue
        register = getattr(module, "register_cli", None)
        if register is None:
            continue
        commands, groups = list(app.registered_commands), list(app.registered_groups)
        try:
            register(app)
            typer.main.get_command(app)  # resolves every annotation: a broken one fails here
        except Exception as exc:  # noqa: BLE001 - drop that module's commands, keep the rest
            app.registered_commands[:], app.registered_groups[:] = commands, groups
            typer.echo(f"quotaboard: commands of {name} unavailable: {type(exc).__name__}: {exc}", err=True)


def main() -> None:
    if sys.argv[1:2] != ["run-role"]:  # role children need none of the extra commands
        _load_extensions()
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except (ConfigError, BrokerStartError, BrokerUnavailable, CliError) as exc:
        typer.echo(f"quotaboard: {exc}", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors of typer's bundled click: one line, exit 2
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
