"""The terminal UI (`quotaboard tui`) and the demo (`quotaboard demo`).

services/cli.py loads this module as an extension and calls `register_cli(app)`; the
commands import Textual and the demo only when they run, so other commands stay fast.
"""


from pathlib import Path
from typing import Annotated, Optional


def register_cli(app) -> None:
    import typer

    @app.command("tui")
    def tui_command(
        period: Annotated[Optional[str], typer.Option("--period", help="2026-08, 2026-Q3 or 2026 (default: this month)")] = None,  # noqa: UP045
        data: Annotated[Optional[Path], typer.Option("--data", help="data directory (default ./var)")] = None,  # noqa: UP045
        nats: Annotated[Optional[str], typer.Option("--nats", help="NATS URL, when not the embedded broker")] = None,  # noqa: UP045
    ) -> None:
        """The live leaderboard, on a running service."""
        from tui.app import run_tui

        run_tui(_data_dir(data), period, nats)

    @app.command("demo")
    def demo_command(
        seed: Annotated[int, typer.Option("--seed", help="repeat the same organisation and CRM activity")] = 7,
        speed: Annotated[float, typer.Option("--speed", help="accelerate the simulated CRM (2 = twice as fast)")] = 1.0,
        headless: Annotated[bool, typer.Option("--headless", help="no TUI; run until Ctrl-C or --duration")] = False,
        duration: Annotated[Optional[float], typer.Option("--duration", help="stop after S seconds")] = None,  # noqa: UP045
        data: Annotated[Optional[Path], typer.Option("--data", help="data directory (default: a new temp dir)")] = None,  # noqa: UP045
        now: Annotated[Optional[str], typer.Option("--now", help="build the company as of this RFC 3339 instant (default: the clock)")] = None,  # noqa: UP045
    ) -> None:
        """`up`, a demo organisation, a simulated CRM posting signed webhooks, and the TUI."""
        from services.demo import parse_now, run_demo

        try:
            instant = parse_now(now) if now is not None else None
        except ValueError as exc:
            typer.echo(f"quotaboard: {exc}", err=True)
            raise typer.Exit(1) from None
        raise typer.Exit(run_demo(seed=seed, speed=speed, headless=headless, duration=duration, data=data,
                                  now=instant))


def _data_dir(data: Path | None) -> Path:
    from services.config import load_settings

    return load_settings(data).data_dir
