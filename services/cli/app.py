"""What every `quotaboard` command shares: the options, one-line failures, settings.

Every command takes `--data DIR` (default ./var, or QUOTABOARD_DATA) and finds the running
service's broker from `<data>/run/broker.json`. Errors: one line on stderr, exit 1
(../shared/contracts/cli.md). Settings are loaded once per command, here
(`settings_from`), and passed down.

Command modules import their stage inside the command: `quotaboard status` should not
pay for Textual, uvicorn and FastStream (the whole set costs ~0.7 s of start-up on this
machine; docs/decisions.md).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from services.config import Settings, load_settings

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


def settings_from(data: Path | None, config: Path | None = None, nats: str | None = None,
                  http: str | None = None) -> Settings:
    """The command's settings: the config file, `QUOTABOARD_*` and the options, once."""
    return load_settings(data, config=config, nats=nats, http=http)


def setup_logging(role: str) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s {role} %(levelname)s %(message)s")
