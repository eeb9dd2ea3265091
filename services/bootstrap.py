"""The composition root: the one place the `quotaboard` command is put together.

Every command module is imported here, explicitly, and registers its commands; the roles
of the service are defined once in services/runtime/roles.py and used by `up`, `run-role`
and the single-role commands alike; settings are loaded once per command
(services.cli.app.settings_from) and handed down. Nothing imports this module.
"""

from __future__ import annotations

import os
import sys

import typer

from services.cli import (
    assessment,
    audit,
    backfill,
    figures,
    ingest,
    ops,
    publication,
    service,
    tui,
    wall,
)
from services.cli.app import CliError
from services.config import ConfigError
from services.runtime.broker import BrokerStartError, BrokerUnavailable

COMMAND_GROUPS = (service, ingest, backfill, ops, figures, assessment, audit, publication, tui, wall)  # `--help` order


def build_cli() -> typer.Typer:
    app = typer.Typer(add_completion=False, no_args_is_help=True,
                      help="quotaboard: sales events -> JetStream -> hash-chained log -> read models.")
    for group in COMMAND_GROUPS:
        group.register(app)
    return app


def main() -> None:
    os.umask(0o077)  # everything any command or role writes (log, read models, broker store) is the owner's
    try:
        code = build_cli()(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except (ConfigError, BrokerStartError, BrokerUnavailable, CliError) as exc:
        typer.echo(f"quotaboard: {exc}", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors of typer's bundled click: one line, exit 2
        rulesets = sys.modules.get("projections.rulesets")  # imported by whatever raised it
        if rulesets is not None and isinstance(exc, rulesets.RulesetError):
            typer.echo(f"quotaboard: {exc}", err=True)
            sys.exit(1)
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        raise

