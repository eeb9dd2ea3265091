"""The auditors' and ops' commands: `close`, `replay`, `rebuild`, `report`
(services/audit/: close.py, replay.py, apply.py, rebuild.py and report.py do the work)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from services.audit.apply import apply
from services.audit.close import close
from services.audit.common import AuditError
from services.audit.outputs import print_replay, replay_json, write_replay_csv
from services.audit.rebuild import rebuild_with_progress
from services.audit.replay import replay
from services.audit.report import ReportError
from services.cli.app import settings_from
from services.config import ConfigError
from services.runtime.broker import BrokerUnavailable

# Module-level because `from __future__ import annotations` resolves them from globals.
_DataOpt = Annotated[Path | None, typer.Option("--data", help="data directory (default ./var)")]
_NatsOpt = Annotated[str | None, typer.Option("--nats", help="NATS URL(s) of an existing server/cluster")]
_JsonOpt = Annotated[bool, typer.Option("--json", help="print only JSON on stdout")]
_PeriodOpt = Annotated[str, typer.Option("--period", help="a month, e.g. 2026-08")]


def register(app: typer.Typer) -> None:
    """Adds `close`, `replay`, `rebuild` and `report` to the `quotaboard` command."""

    def settings_for(data: Path | None, nats: str | None):
        return settings_from(data, nats=nats)

    def guarded(fn):
        try:
            return fn()
        except (AuditError, ReportError, BrokerUnavailable, ConfigError) as exc:
            typer.echo(f"quotaboard: {exc}", err=True)
            raise typer.Exit(1) from None

    @app.command("close")
    def close_cmd(
        period: _PeriodOpt,
        data: _DataOpt = None,
        nats: _NatsOpt = None,
        as_json: _JsonOpt = False,
    ) -> None:
        """Publish `period.closed`: P's statements freeze (公示)."""
        settings = settings_for(data, nats)
        result = guarded(lambda: close(settings.data_dir, period, settings=settings))
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False, sort_keys=True))
        else:
            state = "statements frozen" if result["frozen"] else "published; the projector freezes it shortly"
            typer.echo(f"closed {period} under {result['ruleset']['id']} ({result['ruleset']['hash'][:19]}…): {state}")

    @app.command("replay")
    def replay_cmd(
        period: _PeriodOpt,
        ruleset: Annotated[Path, typer.Option("--ruleset", help="the ruleset TOML to recompute under")],
        as_of: Annotated[str | None, typer.Option("--as-of", help="only events recorded at or before T (RFC 3339)")] = None,
        as_json: _JsonOpt = False,
        csv_file: Annotated[Path | None, typer.Option("--csv", help="write one row per rep and line")] = None,
        do_apply: Annotated[bool, typer.Option("--apply", help="record the correction (ruleset.applied)")] = False,
        data: _DataOpt = None,
        nats: _NatsOpt = None,
    ) -> None:
        """Recompute P under FILE beside what was published; changes nothing unless --apply."""
        settings = settings_for(data, nats)
        result = guarded(lambda: replay(settings.data_dir, period, ruleset, as_of))
        if do_apply:
            result["applied"] = guarded(lambda: apply(settings.data_dir, period, ruleset, settings=settings))
        if csv_file is not None:
            write_replay_csv(result, csv_file)
        if as_json:
            typer.echo(replay_json(result))
        elif csv_file is None or do_apply:
            print_replay(result)
        if do_apply and not as_json:
            typer.echo(f"applied: {result['applied']['event_id']}; deltas are paid as adjustments in the first "
                       f"open month after {period}")
        elif csv_file is not None and not as_json:
            typer.echo(f"wrote {csv_file}")

    @app.command("rebuild")
    def rebuild_cmd(
        projection: Annotated[str | None, typer.Option(
            "--projection", help="standings, funnel, statements or all: the read models are built together, "
                                 "so every name rebuilds all")] = None,
        data: _DataOpt = None,
        as_json: _JsonOpt = False,
    ) -> None:
        """Rebuild the read models from position 1 beside the live ones, then swap."""
        if projection not in (None, "all", "standings", "funnel", "statements", "statement", "unmatched", "frozen"):
            typer.echo(f"quotaboard: unknown projection {projection!r}; use standings, funnel, statements or all",
                       err=True)
            raise typer.Exit(1)
        settings = settings_for(data, None)
        result = rebuild_with_progress(settings.data_dir, show=not as_json)
        if as_json:
            typer.echo(json.dumps(result, sort_keys=True))
        else:
            typer.echo(f"rebuilt to position {result['position']:,} in {result['seconds']:.2f} s "
                       f"({result['events_per_second'] or 0:,} events/s); readers now use {Path(result['store']).name}")

    @app.command("report")
    def report_cmd(
        period: _PeriodOpt,
        out: Annotated[Path | None, typer.Option("--out", help="the .xlsx to write (default report-P.xlsx)")] = None,
        csv_dir: Annotated[Path | None, typer.Option("--csv", help="also write the three tables as CSV here")] = None,
        data: _DataOpt = None,
    ) -> None:
        """The users' three tables (表1 表2 表3) as an Excel workbook."""
        from services.audit.report import report

        settings = settings_for(data, None)
        written = guarded(lambda: report(settings.data_dir, period, out_xlsx=out, csv_dir=csv_dir))
        for key in ("xlsx", "csv"):
            if key in written:
                value = written[key]
                typer.echo(f"wrote {', '.join(value) if isinstance(value, list) else value}")
