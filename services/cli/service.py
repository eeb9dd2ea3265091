"""Running the service: `up` (everything, supervised), `run-role` (one child of `up`) and
the single roles `gateway`, `recorder`, `projector` (as docker-compose runs them), all
from the one role table (services/runtime/roles.py)."""

from __future__ import annotations

import typer

from services.cli.app import (
    ConfigOpt,
    DataOpt,
    HttpOpt,
    NatsOpt,
    fail,
    settings_from,
    setup_logging,
)
from services.config import Settings, ensure_secrets
from services.runtime.roles import ROLES


def up(data: DataOpt = None, http: HttpOpt = None, nats: NatsOpt = None, config: ConfigOpt = None) -> None:
    """The service: embedded nats-server (unless --nats), gateway, recorder, projector."""
    from projections.rulesets import RulesetError
    from services.ingest.adapters.mapping import MappingError
    from services.ingest.adapters.routes import check_mapping_at_start
    from services.project.rulesets import load_live_rulesets
    from services.runtime.supervisor import Supervisor

    setup_logging("up")
    settings = settings_from(data, config, nats, http)
    try:
        load_live_rulesets(settings.data_dir)
    except RulesetError as exc:
        raise fail(f"{exc}; fix the ruleset and start again (nothing was started)") from None
    try:  # the adapters' mapping file (QUOTABOARD_MAPPING_FILE), before anything starts
        check_mapping_at_start()
    except MappingError as exc:
        raise fail(str(exc)) from None
    settings, generated, written = ensure_secrets(settings)
    if written:
        names = " and ".join(name.replace("_", " ") for name in generated)
        typer.echo(f"quotaboard: no {names} configured; generated into {written} (mode 0600)", err=True)
    raise typer.Exit(Supervisor(settings).run())


def run_role(name: str, data: DataOpt = None, nats: NatsOpt = None, http: HttpOpt = None,
             config: ConfigOpt = None) -> None:
    """Run one role in this process (what `up` starts as a child)."""
    if name not in ROLES:
        raise fail(f"unknown role {name!r}; one of {', '.join(ROLES)}")
    _run(name, settings_from(data, config, nats, http))


def gateway(data: DataOpt = None, nats: NatsOpt = None, http: HttpOpt = None, config: ConfigOpt = None) -> None:
    """Only the HTTP gateway (for docker-compose); needs QUOTABOARD_WEBHOOK_SECRET."""
    settings = settings_from(data, config, nats, http)
    if settings.webhook_secret is None:
        raise fail("no webhook secret: set QUOTABOARD_WEBHOOK_SECRET=whsec_... or webhook_secret in the config file")
    _run("gateway", settings)


def recorder(data: DataOpt = None, nats: NatsOpt = None, config: ConfigOpt = None) -> None:
    """Only the recorder (for docker-compose)."""
    _run("recorder", settings_from(data, config, nats))


def projector(data: DataOpt = None, nats: NatsOpt = None, config: ConfigOpt = None) -> None:
    """Only the projector (for docker-compose): log -> read models, change notices on NATS."""
    _run("projector", settings_from(data, config, nats))


def _run(role: str, settings: Settings) -> None:
    setup_logging(role)
    ROLES[role].run(settings)


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command("run-role", hidden=True)(run_role)
    app.command()(gateway)
    app.command()(recorder)
    app.command()(projector)
