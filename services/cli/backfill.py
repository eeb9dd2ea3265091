"""`quotaboard backfill hubspot|pipedrive|stripe|dingtalk [--since DATE]`: what the CRM and the
payment provider already hold, through their APIs, with the same ids as their webhooks
(services/ingest/adapters/backfill.py)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer

from services.cli.app import ConfigOpt, DataOpt, JsonOpt, NatsOpt, fail, settings_from
from services.config import ConfigError
from services.runtime.broker import BrokerUnavailable


def backfill(
    vendor: Annotated[str, typer.Argument(help="hubspot, pipedrive, stripe or dingtalk")],
    since: Annotated[
        str | None,
        typer.Option("--since", help="only what changed (or, Stripe: was created) since DATE"),
    ] = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
    nats: NatsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Existing deals, activities, payments and refunds (DingTalk: customer tracks) through the vendor's API, with the webhooks' ids."""
    from services.ingest.adapters.backfill import BackfillError, run
    from services.ingest.adapters.hubspot_api import UpstreamUnavailable

    try:
        settings = settings_from(data, config, nats)
        totals = asyncio.run(
            run(vendor, settings, since, show_progress=not as_json and sys.stderr.isatty())
        )
    except UpstreamUnavailable as exc:
        raise fail(f"{exc}; run the same command again to resume") from None
    except (BackfillError, ConfigError, BrokerUnavailable) as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps(totals) if as_json else ", ".join(f"{k} {v}" for k, v in totals.items()))


def register(app: typer.Typer) -> None:
    app.command("backfill")(backfill)
