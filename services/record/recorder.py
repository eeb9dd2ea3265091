"""The recorder: the durable pull consumer `recorder` that moves the SALES stream into the
event log (`<data>/log.sqlite`), exactly once.

One cycle: fetch a batch, decode each message with `decode_event`, hand the good events
and the undecodable ones (with the reason) to the log writer process
(services.record.log_writer), which appends and quarantines them in ONE SQLite transaction, then
acknowledge. The log's unique event id
makes a redelivered message a no-op (counted as a duplicate), so "commit, then ack" gives
exactly-once storage: a crash between the two only causes a redelivery.

Acknowledgement: the consumer uses AckPolicy.ALL, so one ack acknowledges a whole run
of messages (one publish per batch instead of one per event). AckAll acknowledges
*everything* below that sequence, so:
- the recorder acks only the highest sequence below which it has committed (or termed)
  every message itself (`AckFloor`, starting from the consumer's ack floor). Messages a
  SIGKILLed predecessor held uncommitted keep the floor down until their redelivery is
  committed; until then newer ones are committed but not acked (a redelivery of them is
  a counted duplicate). `max_ack_pending` alone could not ensure this: a predecessor
  holding k < max_ack_pending messages let the server deliver newer ones at once.
- `max_ack_pending` is WINDOW_BATCHES batches, so the server keeps delivering while
  batches commit. The writer process (intake and writer each have a core) holds up to
  IN_FLIGHT batches and commits them one at a time, in delivery order.
- a transient failure (SQLite busy/locked, disk full, read-only file) is never acked and
  never termed: the batch is kept in memory and the append is retried with back-off,
  while `in_progress` keeps the server from redelivering it meanwhile. At most
  IN_FLIGHT - 1 newer batches commit before it, and nothing is acked past it
  (`AckFloor`). (A nak would let any number of newer messages overtake it.)
Poison messages (not the contract) are quarantined in the same transaction and termed.

Why nats-py `fetch` rather than FastStream's `PullSub(batch=True)` with AckPolicy.MANUAL:
the recorder needs exactly this batch-level control (one commit, then one AckAll of the
highest sequence, `in_progress` while retrying a batch it holds, term for the poison
ones) and nothing of FastStream's routing or serialisation; the plain client is a
shorter path with fewer hidden defaults (FastStream's default REJECT_ON_ERROR would term
a batch on a SQLite error, i.e. lose it).

Test hook: QUOTABOARD_TEST_CRASH_AFTER_COMMIT=1 makes the recorder SIGKILL itself right
after its first commit and before acking, so a test can prove exactly-once across that
crash. The supervisor removes the variable when it restarts the recorder, so the hook
fires once per `quotaboard up`. Never set it in production.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import sqlite3
import time
from collections import deque
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.js import api

from events.log import Poison, log_path, raw_row
from schemas.events import ContractError, check_unique_keys, decode_event
from services.config import DEFAULT_ACK_WAIT, Settings, private_dir
from services.record.log_writer import LogWriter
from services.runtime.broker import STREAM, SUBJECT_PREFIX, connect, ensure_stream

log = logging.getLogger("quotaboard.recorder")

DURABLE = "recorder"
BATCH = 5000  # a backlog drains in large commits: fewer fsyncs, more rows per dirtied index page
WINDOW_BATCHES = 4  # max_ack_pending = WINDOW_BATCHES * BATCH: delivered while one commits
IN_FLIGHT = 2  # batches handed to the writer and not yet answered
DRAIN_SECONDS = 10.0
ACK_WAIT = DEFAULT_ACK_WAIT  # seconds: how soon a crashed recorder's batch is redelivered (setting ack_wait)
CRASH_ENV = "QUOTABOARD_TEST_CRASH_AFTER_COMMIT"
TRANSIENT = (sqlite3.OperationalError, sqlite3.DatabaseError, OSError)


def consumer_config(batch: int = BATCH, ack_wait: float = ACK_WAIT) -> api.ConsumerConfig:
    return api.ConsumerConfig(
        durable_name=DURABLE,
        name=DURABLE,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.ALL,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=batch,
        filter_subject=SUBJECT_PREFIX + ">",
        replay_policy=api.ReplayPolicy.INSTANT,
    )


@dataclass
class RecorderStats:
    batches: int = 0
    appended: int = 0
    duplicates: int = 0
    quarantined: int = 0
    conflicts: int = 0
    retries: int = 0


class Puller:
    """Keeps pull requests open on the durable consumer; messages land in a buffer as
    plain `(subject, reply, data)` tuples.

    Intake cost is what bounds JetStream -> log throughput, so the recorder's inbox
    bypasses nats-py's per-message machinery: the connection's `_process_msg` is wrapped
    so that messages for this one subscription id are appended to a list straight from
    the protocol parser. nats-py would otherwise parse every message's headers
    (`Nats-Msg-Id`, `Nats-Expected-Stream`), build a `Msg`, queue it and run a callback
    task: 13.5-15.1 us of CPU a message against 4.3-5.8 here (its `fetch`: 45-57), which
    would leave the recorder no margin over 30,000 events/s (bench/intake_paths.py,
    docs/decisions.md). tests/integration/test_recorder_hook.py says what moved if a nats-py upgrade
    moves the internals used here (`_process_msg`, `Subscription._id`). Status messages (`NATS/1.0 408 ...`, a header-only message with an
    inline status) are recognised from the first header line; ack, term and in-progress
    are the plain publishes nats-py's `Msg` methods send to the reply subject. Every
    other subscription of the connection goes through nats-py unchanged.

    Flow: requests of `batch` messages are kept outstanding until `window` messages are
    requested or buffered, so the server keeps delivering while a batch commits;
    `max_ack_pending` (= window) bounds what is delivered and not yet acknowledged. A
    request ends when its batch is delivered or with a status message (408 expired,
    409); the status carries `Nats-Pending-Messages`, what it no longer owes. Requests
    lost to a reconnect are forgotten once they must have expired.
    """

    EXPIRES = 2.0

    def __init__(self, nc, batch: int, window: int) -> None:
        self.nc = nc
        self.batch = batch
        self.window = window
        self.buffer: list[tuple[bytes, bytes, bytes]] = []
        self.arrived = asyncio.Event()
        self.inbox = nc.new_inbox()
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{DURABLE}"
        self.body = json.dumps({"batch": batch, "expires": int(self.EXPIRES * 1e9)}).encode()
        self.owed = 0
        self.sent_at = 0.0
        self.sub = None
        self.sid = None
        self._process_msg = None

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(self.inbox, pending_msgs_limit=-1, pending_bytes_limit=-1)
        self.sid = self.sub._id
        self._process_msg = self.nc._process_msg
        self.nc._process_msg = self._intercept
        await self.replenish()

    async def stop(self) -> None:
        if self._process_msg is not None:
            self.nc._process_msg = self._process_msg
        if self.sub is not None:
            await self.sub.unsubscribe()

    async def _intercept(self, sid, subject, reply, data, headers) -> None:
        if sid != self.sid:
            await self._process_msg(sid, subject, reply, data, headers)
            return
        if headers and not data and headers[8:9] == b" ":  # b"NATS/1.0 408 Request Timeout..."
            if headers[9:12] != b"100":  # not a heartbeat: a request is over
                left = _PENDING_RE.search(headers)
                self.owed = max(0, self.owed - int(left.group(1))) if left else 0
                self.arrived.set()
            return
        self.buffer.append((subject, reply, data))
        self.owed -= 1
        self.arrived.set()

    async def replenish(self) -> None:
        now = time.monotonic()
        if self.owed > 0 and now - self.sent_at > self.EXPIRES + 1:
            self.owed = 0  # every request has expired by now; its status was lost
        while self.owed + len(self.buffer) < self.window and self.nc.is_connected:
            await self.nc.publish(self.subject, self.body, reply=self.inbox)
            self.owed += self.batch
            self.sent_at = now

    async def take(self, timeout: float) -> list:
        """What has arrived (at most one batch), waiting up to `timeout` for the first."""
        await self.replenish()
        if not self.buffer:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout)
            except TimeoutError:
                pass
        if len(self.buffer) <= self.batch:
            msgs, self.buffer = self.buffer, []
        else:
            msgs, self.buffer = self.buffer[: self.batch], self.buffer[self.batch :]
        await self.replenish()
        return msgs


_PENDING_RE = re.compile(rb"Nats-Pending-Messages:\s*(\d+)")


def _seqs(reply: bytes) -> tuple[int, int]:
    """(stream sequence, delivery sequence) from a JetStream ack subject
    (`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>...`, or with domain and
    account hash after `$JS.ACK`)."""
    tokens = reply.split(b".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[6])
    return int(tokens[7]), int(tokens[8])


def _seq(reply: bytes) -> int:
    return _seqs(reply)[0]


class AckFloor:
    """Acknowledges only a gap-free prefix of the stream.

    AckPolicy.ALL acknowledges *everything* up to the acked sequence, including messages
    delivered to a recorder that was SIGKILLed before committing them (they are only
    redelivered once `ack_wait` expires, and meanwhile newer ones are delivered to its
    successor). So the recorder never acks past a sequence it has not itself committed
    (or termed): `floor` is the highest stream sequence below which every message is
    committed, starting from the consumer's ack floor. Messages a dead predecessor held
    keep it down until their redelivery commits; newer ones wait, committed but unacked
    (a redelivery of them is a counted duplicate). The stream allows no deletes and the
    consumer takes every subject of it, so its sequences are contiguous; should one ever
    be missing anyway, the recorder asks the stream and moves past it (`raise_to`).

    Which ack to send: the server ignores an AckAll whose *delivery* sequence is not
    above the last one acked (its delivered floor). After redeliveries, the delivery
    that commits the floor message may be older than one already acked, so the ack
    sent is the committed delivery at or below the floor with the highest delivery
    sequence; what it does not cover is redelivered, committed as a duplicate and then
    covered.
    """

    def __init__(self, floor: int, delivered_floor: int) -> None:
        self.floor = floor  # committed prefix
        self.acked = floor  # what the server has been told
        self.delivered_floor = delivered_floor
        self.done: dict[int, tuple[int, bytes]] = {}  # seq -> (delivery seq, reply) above `acked`
        self.moved_at = time.monotonic()

    def add(self, reply: bytes) -> None:
        seq, dseq = _seqs(reply)
        if seq > self.acked:
            self.done[seq] = (dseq, reply)

    def advance(self) -> bytes | None:
        """The reply subject to AckAll, if there is one to send."""
        done, floor = self.done, self.floor
        while floor + 1 in done:
            floor += 1
        if floor == self.floor and self.acked == floor:
            return None
        self.floor = floor
        best_seq, best = 0, (self.delivered_floor, b"")
        for seq, entry in done.items():
            if seq <= floor and entry[0] > best[0]:
                best_seq, best = seq, entry
        if not best_seq:
            return None
        self.acked, self.delivered_floor = best_seq, best[0]
        self.done = {s: e for s, e in done.items() if s > best_seq}
        self.moved_at = time.monotonic()
        return best[1]

    def raise_to(self, floor: int) -> None:
        """The server's ack floor (or a sequence known to be gone) is at least `floor`."""
        if floor > self.acked:
            self.floor = max(self.floor, floor)
            self.acked = floor
            self.done = {s: e for s, e in self.done.items() if s > floor}
            self.moved_at = time.monotonic()


class Recorder:
    """Moves batches from the SALES stream to the event log. `run()` until `stop()`.

    The writer commits one batch while the intake receives and decodes the next two;
    each batch is acked only after its commit, and never past an uncommitted one.
    """

    STALL_ACK_WAITS = 3  # a gap below the ack floor older than this many ack_waits is looked into

    def __init__(self, settings: Settings, *, batch: int = BATCH) -> None:
        self.settings = settings
        self.batch = batch
        self.window = WINDOW_BATCHES * batch
        self.ack_wait = settings.ack_wait
        self.stall = self.STALL_ACK_WAITS * settings.ack_wait
        self.stats = RecorderStats()
        self._stopping = asyncio.Event()
        self._crash_after_commit = os.environ.get(CRASH_ENV) == "1"
        self._writer = None
        self._nc = None
        self._acks: AckFloor | None = None
        self._puller: Puller | None = None

    def stop(self) -> None:
        self._stopping.set()

    async def _ensure_consumer(self, js) -> None:
        wanted = consumer_config(self.window, self.ack_wait)
        try:
            info = await js.consumer_info(STREAM, DURABLE)
            have = info.config
            if have.max_ack_pending != wanted.max_ack_pending or have.ack_wait != wanted.ack_wait:
                await js.add_consumer(STREAM, config=wanted)  # updates a durable's mutable fields
        except nats.js.errors.NotFoundError:
            await js.add_consumer(STREAM, config=wanted)
        info = await js.consumer_info(STREAM, DURABLE)
        self._acks = AckFloor(info.ack_floor.stream_seq, info.ack_floor.consumer_seq)

    async def run(self) -> RecorderStats:
        nc = await connect(self.settings, name="quotaboard-recorder", wait=60)
        self._nc = nc
        try:
            js = nc.jetstream()
            await ensure_stream(js, self.settings.replicas, self.settings.stream_max_age_days)
            await self._ensure_consumer(js)
            puller = self._puller = Puller(nc, self.batch, self.window)
            await puller.start()
            private_dir(self.settings.data_dir)
            self._writer = await LogWriter.start(log_path(self.settings.data_dir))
            log.info("recorder following %s into %s", STREAM, log_path(self.settings.data_dir))
            drain_until = None
            inflight: deque[asyncio.Task] = deque()  # batches handed to the writer, oldest first
            try:
                while True:
                    # On stop, drain: keep recording until the stream has nothing more
                    # for us (or DRAIN_SECONDS pass), so a clean stop leaves no backlog.
                    if self._stopping.is_set() and drain_until is None:
                        drain_until = time.monotonic() + DRAIN_SECONDS
                    if drain_until is not None and time.monotonic() > drain_until:
                        break
                    msgs = await puller.take(0.3 if drain_until else 1.0)
                    if msgs:
                        batch = self._prepare(msgs)
                        while len(inflight) >= IN_FLIGHT:
                            await inflight.popleft()
                        inflight.append(asyncio.ensure_future(self._commit(msgs, batch)))
                        await asyncio.sleep(0)  # let it hand the batch to the writer now
                    else:
                        while inflight:
                            await inflight.popleft()
                        if drain_until is not None:
                            break
                        if self._acks.done and time.monotonic() - self._acks.moved_at > self.stall:
                            await self._unstick(js)
            finally:
                outcomes = await asyncio.gather(*inflight, return_exceptions=True)
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        raise outcome
            await puller.stop()
            await nc.flush(timeout=2)
        finally:
            if self._writer is not None:
                await self._writer.close()
            await nc.close()
        return self.stats

    @staticmethod
    def _prepare(msgs: list) -> tuple[list, list, list]:
        """Decode a batch: (rows for the log, poison for the quarantine, their replies).

        The payload stored is `encode_event` of the decoded event, i.e. canonical even if
        someone published non-canonical JSON straight to the stream (1.3 us an event).
        Only such a payload needs the duplicate-key check (canonical bytes repeat no key).

        Whatever one message raises, it is quarantined with the reason and termed: before,
        anything but a ContractError (a time the log cannot write, say) stopped the
        recorder, which took the same message again on restart, for ever (issue 12)."""
        rows, quarantined, poison = [], [], []
        for subject, reply, data in msgs:
            try:
                row = raw_row(decode_event(data, check_keys=False))
                if row[5] != data:
                    check_unique_keys(data)
                rows.append(row)
                continue
            except ContractError as exc:
                reason = _poison_reason(subject, data, exc)
            except Exception as exc:  # noqa: BLE001 - one message must never stop the recorder
                reason = f"cannot be recorded: {type(exc).__name__}: {exc}"
            quarantined.append(Poison(subject=subject.decode(errors="replace"), reason=reason, raw=data))
            poison.append(reply)
        return rows, quarantined, poison

    async def _commit(self, msgs: list, batch: tuple[list, list, list]) -> None:
        rows, quarantined, poison = batch
        nc = self._nc
        delay = 0.1
        while True:
            try:
                result = await self._writer.append(rows, quarantined)
                break
            except TRANSIENT as exc:
                # Not acked, not termed: keep the batch, tell the server we are still on it.
                self.stats.retries += 1
                log.error("cannot append %d events to the log (%s); retrying in %.1fs",
                          len(msgs), exc, delay)
                for _subject, reply, _data in msgs + self._puller.buffer:
                    try:
                        await nc.publish(reply.decode(), b"+WPI")
                    except Exception:  # noqa: BLE001 - redelivery is harmless, the log dedups
                        pass
                await asyncio.sleep(delay)
                # +WPI again well before the broker gives up on us (half its ack_wait)
                delay = min(delay * 2, 5.0, self.ack_wait / 2)
        if self._crash_after_commit:
            log.warning("%s=1: killing the recorder after its first commit, before the ack", CRASH_ENV)
            os.kill(os.getpid(), signal.SIGKILL)
        for reply in poison:
            log.warning("quarantined poison message seq %d", _seq(reply))
            await nc.publish(reply.decode(), b"+TERM")
        acks = self._acks
        for _subject, reply, _data in msgs:
            acks.add(reply)
        reply = acks.advance()
        if reply is not None:
            await nc.publish(reply.decode(), b"")  # AckAll up to the gap-free floor
        self.stats.batches += 1
        self.stats.appended += result.appended
        self.stats.duplicates += result.duplicates
        self.stats.quarantined += len(quarantined) + result.quarantined
        self.stats.conflicts += result.conflicts

    async def _unstick(self, js) -> None:
        """The floor has not moved for `stall` seconds with committed messages above it."""
        acks = self._acks
        acks.moved_at = time.monotonic()
        try:
            info = await js.consumer_info(STREAM, DURABLE)
            acks.raise_to(info.ack_floor.stream_seq)
            acks.delivered_floor = max(acks.delivered_floor, info.ack_floor.consumer_seq)
            missing = acks.floor + 1
            if not any(seq > missing for seq in acks.done):
                return  # no gap: what is not acked yet is redelivered, then covered
            try:
                await js.get_msg(STREAM, missing)
                log.warning("waiting for stream sequence %d to be redelivered", missing)
                return
            except nats.js.errors.NotFoundError:
                log.warning("stream sequence %d is gone from the stream; acking past it", missing)
                acks.raise_to(missing)
        except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
            log.warning("cannot check the ack floor: %s", exc)
            return
        reply = acks.advance()
        if reply is not None:
            await self._nc.publish(reply.decode(), b"")


async def run_recorder(settings: Settings) -> RecorderStats:
    """Run until SIGTERM/SIGINT; the batch in hand is committed and acked before exiting."""
    recorder = Recorder(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, recorder.stop)
    started = time.monotonic()
    stats = await recorder.run()
    log.info("recorder stopped after %.0fs: %s", time.monotonic() - started, stats)
    return stats


QUARANTINE_PREFIX = b"sales.events.quarantine."  # services.adapters.routes.QUARANTINE_SUBJECT


def _poison_reason(subject: bytes, data: bytes, exc: ContractError) -> str:
    """Why a message is quarantined. An adapter's quarantine record (services.adapters.routes)
    carries the vendor payload's own problem: that is the reason, not the record's envelope
    failing the event contract (`Object missing required field type at $.type` said nothing)."""
    if subject.startswith(QUARANTINE_PREFIX):
        try:
            reason = json.loads(data)["quarantine"]["reason"]
        except (ValueError, KeyError, TypeError):
            reason = None
        if isinstance(reason, str) and reason:
            return reason
    return f"{exc.reason} at {exc.path}"

