"""`quotaboard wall`: the performance wall's address with the viewer token, to open once
on the wall's screen or a phone (the page then keeps an HttpOnly cookie and drops the
token from its address). Generates the viewer token into <data>/secrets.toml (0600) if
there is none yet, as `up` does. The address goes to stdout only, never to a log."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.app import ConfigOpt, DataOpt, JsonOpt, settings_from

PeriodOpt = Annotated[
    str | None, typer.Option("--period", help="a period to open on (default: this month)")
]


def wall(
    data: DataOpt = None, config: ConfigOpt = None, period: PeriodOpt = None, json: JsonOpt = False
) -> None:
    """Print the wall's URL with the viewer token (the page shows pay: share it with care)."""
    import json as _json
    from urllib.parse import urlencode

    from services.config import ensure_secrets

    settings, generated, written = ensure_secrets(settings_from(data, config))
    if written:
        names = " and ".join(name.replace("_", " ") for name in generated)
        typer.echo(
            f"quotaboard: no {names} configured; generated into {written} (mode 0600)", err=True
        )
    host = settings.wall_host
    shown = f"[{host}]" if ":" in host else host
    query = {"token": settings.viewer_token.value, **({"period": period} if period else {})}
    url = f"http://{shown}:{settings.wall_port}/wall?{urlencode(query)}"
    if json:
        typer.echo(_json.dumps({"url": url, "hide_money": settings.wall_hide_money}))
    else:
        typer.echo(url)
        if host not in ("127.0.0.1", "localhost", "::1"):
            typer.echo(
                f"quotaboard: the wall listens on {host}: anyone with this address sees pay",
                err=True,
            )


def register(app: typer.Typer) -> None:
    app.command()(wall)
