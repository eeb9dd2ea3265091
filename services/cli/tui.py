"""`quotaboard tui` and `quotaboard demo`: the live leaderboard on a running service, and
the demo company posting to one. Here the TUI meets the service: the read store and the
change notices (services/project/readers.py) are handed to tui.app.run_tui.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from services.cli.app import DataOpt, NatsOpt, fail, settings_from


def open_tui(data_dir: Path, period: str | None = None, nats_url: str | None = None,
             clock: Callable[[], datetime] | None = None) -> None:
    """The leaderboard on the service of `data_dir`, until the user quits."""
    from services.project.projector import current_rulesets
    from services.project.readers import NatsFeed, StoreSource
    from tui.app import run_tui

    source = StoreSource(data_dir)
    try:
        run_tui(source, NatsFeed(data_dir, nats_url=nats_url), period=period, clock=clock,
                business_tz=current_rulesets(data_dir).timezone,
                tz_source=lambda: current_rulesets(data_dir).timezone)
    finally:
        source.close()


def register(app: typer.Typer) -> None:
    @app.command("tui")
    def tui_command(
        period: Annotated[str | None, typer.Option("--period", help="2026-08, 2026-Q3 or 2026 (default: this month)")] = None,
        data: DataOpt = None,
        nats: NatsOpt = None,
    ) -> None:
        """The live leaderboard, on a running service."""
        open_tui(settings_from(data).data_dir, period, nats)

    @app.command("demo")
    def demo_command(
        seed: Annotated[int, typer.Option("--seed", help="repeat the same organisation and CRM activity")] = 7,
        speed: Annotated[float, typer.Option("--speed", help="accelerate the simulated CRM (2 = twice as fast)")] = 1.0,
        headless: Annotated[bool, typer.Option("--headless", help="no TUI; run until Ctrl-C or --duration")] = False,
        duration: Annotated[float | None, typer.Option("--duration", help="stop after S seconds")] = None,
        data: Annotated[Path | None, typer.Option("--data", help="data directory (default: a new temp dir)")] = None,
        now: Annotated[str | None, typer.Option("--now", help="build the company as of this RFC 3339 instant (default: the clock)")] = None,
    ) -> None:
        """`up`, a demo organisation, a simulated CRM posting signed webhooks, and the TUI."""
        from services.demo.runner import parse_now, run_demo

        try:
            instant = parse_now(now) if now is not None else None
        except ValueError as exc:
            raise fail(str(exc)) from None
        show = None if headless else (lambda data_dir, clock: open_tui(data_dir, clock=clock))
        raise typer.Exit(run_demo(seed=seed, speed=speed, show=show, duration=duration, data=data, now=instant))
