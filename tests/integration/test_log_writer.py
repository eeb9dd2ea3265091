"""The recorder's log writer process (services.record.log_writer): what it stores, and that it
never outlives or silently survives the intake that feeds it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from natsutil import pid_alive

from events.log import EventLog, Poison, raw_row
from schemas.events import decode_event
from services.record.log_writer import LogWriter, WriterGone

ROOT = Path(__file__).resolve().parents[2]


def _event(i: int):
    return decode_event(json.dumps({
        "id": f"w-{i}", "type": "deal.created", "occurred_at": "2026-08-01T10:00:00+08:00", "source": "t",
        "data": {"deal_id": f"D{i}", "rep_id": "zhang", "customer_id": "C1", "product_line": "A",
                 "amount": "1000.00"}}))


def test_appends_dedups_and_quarantines_in_the_child(tmp_path):
    path = tmp_path / "log.sqlite"

    async def go():
        writer = await LogWriter.start(path)
        try:
            rows = [raw_row(_event(i)) for i in range(3)]
            first = await writer.append(rows, [Poison("sales.events.x", "bad at $", b"{")])
            again = await writer.append(rows[1:] + [raw_row(_event(3))], [])
            return first, again
        finally:
            await writer.close()

    first, again = asyncio.run(go())
    assert (first.appended, first.duplicates, first.first_position, first.last_position) == (3, 0, 1, 3)
    assert (again.appended, again.duplicates, again.first_position) == (1, 2, 4)
    with EventLog(path, readonly=True) as log:
        assert [r.id for r in log.read(1)] == ["w-0", "w-1", "w-2", "w-3"]
        assert [q.reason for q in log.quarantined()] == ["bad at $"]
        assert log.verify().ok


def test_a_killed_writer_is_reported_not_ignored(tmp_path):
    async def go():
        writer = await LogWriter.start(tmp_path / "log.sqlite")
        writer._proc.kill()
        await writer._proc.wait()
        with pytest.raises(WriterGone):
            await writer.append([raw_row(_event(0))], [])

    asyncio.run(go())
    with EventLog(tmp_path / "log.sqlite", readonly=True) as log:
        assert log.last_position() == 0


def test_the_writer_dies_with_its_intake(tmp_path):
    """SIGKILL the intake: its writer must not linger holding the log (PR_SET_PDEATHSIG,
    or the end of its stdin)."""
    script = textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(ROOT)!r})
        from services.record.log_writer import LogWriter
        async def main():
            writer = await LogWriter.start({str(tmp_path / "log.sqlite")!r})
            print(writer._proc.pid, flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
    """)
    intake = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        writer_pid = int(intake.stdout.readline())
        assert pid_alive(writer_pid)
        intake.send_signal(signal.SIGKILL)
        intake.wait(5)
        deadline = time.monotonic() + 5
        while pid_alive(writer_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(writer_pid)
    finally:
        if intake.poll() is None:
            intake.kill()
