"""`quotaboard rebuild`: the projector's rebuild beside the live store, with a progress bar."""

from __future__ import annotations

import time
from pathlib import Path

from events.log import EventLog, log_path


def rebuild_with_progress(data_dir: Path | str, *, show: bool = True) -> dict:
    """Rebuild the read models from position 1 and swap them in; `show` draws a bar."""
    from services.project.projector import rebuild

    started = time.perf_counter()
    if show:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        with EventLog(log_path(data_dir), readonly=True) as event_log:
            head = event_log.last_position()
        columns = (
            TextColumn("rebuild"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("rebuild", total=max(head, 1), rate="")

            def progress(position: int, head: int) -> None:
                elapsed = time.perf_counter() - started
                rate = f"{position / elapsed:,.0f} events/s" if elapsed > 0 else ""
                bar.update(task, completed=position, total=max(head, 1), rate=rate)

            path, position = rebuild(data_dir, progress=progress)
    else:
        path, position = rebuild(data_dir)
    seconds = time.perf_counter() - started
    return {
        "store": str(path),
        "position": position,
        "seconds": round(seconds, 3),
        "events_per_second": round(position / seconds) if seconds > 0 else None,
    }
