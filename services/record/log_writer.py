"""The recorder's log writer: a child process that owns the log and appends each batch.

Why a process of its own: JetStream -> log was bound by the recorder's CPU, not by SQLite
or the disk. One process did all of it (NATS protocol parsing, flow control and acks,
the contract decode, canonical encoding, hash chain and SQLite insert of every event) at
about 46 us an event, and the GIL kept it on one core while the other sat nearly idle
(nats-server needs ~15% of it). So the recorder is two processes of about equal work:
- the intake (services.record.recorder, asyncio): pulls from the consumer, decodes and
  validates each message into a log row (or a quarantine entry), hands the batch here,
  and acks once it is committed;
- this writer: hash-chains and appends the batch in ONE SQLite transaction
  (`EventLog.append_raw`). It is the log's only writer.

The two talk over the child's stdin/stdout: one length-prefixed msgpack frame per batch
and one per answer, written and read by the intake's event loop itself. (A
`ProcessPoolExecutor` was measured first: its feeder and result threads compete with
the event loop for the GIL, and its round trip cost ~30 us an event against the
writer's ~20 us of work.)

Failure semantics: an append that fails is answered with the error's kind, and the
intake raises it as before: a transient one (SQLite busy, disk full, read-only file) is
retried and never acked. A writer that dies ends its stdout; the intake raises
`WriterGone` and stops, for the supervisor to restart the recorder. Nothing uncommitted
is ever acked. The writer dies with the intake (PR_SET_PDEATHSIG, or at the end of its
stdin) and ignores SIGINT/SIGTERM: the intake decides when to stop, after its last commit.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import sqlite3
import struct
import sys
from pathlib import Path

import msgspec

from events.log import AppendResult, EventLog, Poison, RawRow, is_transient
from services.runtime.processes import die_with_parent

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
PIPE_BYTES = 1 << 20  # the default /proc/sys/fs/pipe-max-size
_LENGTH = struct.Struct(">I")
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.decode


class WriterGone(RuntimeError):
    """The writer process ended (killed, or crashed): the recorder must restart."""


class AppendFailed(RuntimeError):
    """An append the writer could not do for a reason that retrying will not fix."""


# Raised on the intake's side for what the writer reports as transient: the recorder
# retries these (with back-off, never acking) exactly as it did in-process.
TransientAppendError = sqlite3.OperationalError


class LogWriter:
    """The intake's handle on the writer process.

    Several batches may be handed over before the first is answered, so the writer goes
    from one commit straight to the next; it takes and answers them in order, and each
    call reads its own answer after the previous call has read its own.
    """

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._last_read: asyncio.Future | None = None  # done once the latest call has read

    @classmethod
    async def start(cls, path: Path | str) -> LogWriter:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.record.log_writer", str(path), str(os.getpid()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        _widen(proc.stdin.transport.get_extra_info("pipe").fileno())
        writer = cls(proc)
        await writer._call(b"")  # an empty frame: answered once the log is open
        return writer

    async def append(self, rows: list[RawRow], quarantined: list[Poison]) -> AppendResult:
        answer = await self._call(_encode([rows, [tuple(p) for p in quarantined]]))
        if answer[0] == "ok":
            return AppendResult(*answer[1])
        kind, message = answer[1], answer[2]
        if kind == "transient":
            raise TransientAppendError(message)
        raise AppendFailed(message)

    async def _call(self, frame: bytes) -> list:
        proc = self._proc
        previous, mine = self._last_read, asyncio.get_running_loop().create_future()
        self._last_read = mine
        try:
            proc.stdin.write(_LENGTH.pack(len(frame)) + frame)
            await proc.stdin.drain()
            if previous is not None:
                await previous
            (size,) = _LENGTH.unpack(await proc.stdout.readexactly(_LENGTH.size))
            return _decode(await proc.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, BrokenPipeError, ConnectionResetError) as exc:
            raise WriterGone(f"the log writer process ended (exit code {proc.returncode})") from exc
        finally:
            mine.set_result(None)

    async def close(self) -> None:
        """End the writer after its last answer (it exits at the end of its stdin)."""
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()
        await self._proc.wait()


def _widen(fd: int) -> None:
    """Let a whole batch fit in the pipe: the write then completes at once, instead of a
    64 KiB piece per turn of the event loop, which is busy decoding the next batch in
    between while the writer waits for the rest of the frame (measured ~9 ms a batch)."""
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass  # not Linux, or above /proc/sys/fs/pipe-max-size: slower, still correct


# --- the writer process ---------------------------------------------------------------


def serve(path: str, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent(signal.SIGKILL)  # elsewhere than Linux, the end of stdin ends it
    if os.getppid() != parent:  # the intake died before the line above took effect
        return
    # The answers get a private copy of stdout; anything else printed goes to stderr.
    stdin, stdout = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    with EventLog(path) as log:
        while header := stdin.read(_LENGTH.size):
            frame = stdin.read(_LENGTH.unpack(header)[0])
            answer = _answer(log, frame) if frame else ["ok", None]
            out = _encode(answer)
            stdout.write(_LENGTH.pack(len(out)) + out)
            stdout.flush()


def _answer(log: EventLog, frame: bytes) -> list:
    """Append a batch; one the log refuses as a whole for what its rows hold is appended
    row by row, quarantining the rows refused (`EventLog.append_each`): a bad row must
    not stop the recorder, which would take the same batch again on restart, for ever."""
    rows, quarantined = _decode(frame)
    poison = [Poison(*p) for p in quarantined]
    try:
        try:
            return ["ok", list(log.append_raw(rows, quarantined=poison))]
        except Exception as exc:
            if is_transient(exc):
                raise
            return ["ok", list(log.append_each(rows, quarantined=poison))]
    except Exception as exc:  # noqa: BLE001 - reported to the intake
        kind = "transient" if is_transient(exc) else "fatal"  # the intake retries, or stops
        return ["error", kind, f"{type(exc).__name__}: {exc}"]


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
