"""The recorder: the durable pull consumer `recorder` that moves the SALES stream into the
event log (`<data>/log.sqlite`), exactly once.

One cycle: fetch a batch, decode each message with `decode_event`, append the good events
and quarantine the undecodable ones (with the reason) in ONE SQLite transaction
(`EventLog.append(events, quarantined=...)`), then acknowledge. The log's unique event id
makes a redelivered message a no-op (counted as a duplicate), so "commit, then ack" gives
exactly-once storage: a crash between the two only causes a redelivery.

Acknowledgement: the consumer uses AckPolicy.ALL, so one ack of the batch's highest
stream sequence acknowledges the whole batch (one message per batch instead of one per
event). AckAll acknowledges *everything* below that sequence, so two rules keep it safe:
- `max_ack_pending` equals the batch size: while a batch (ours, or one a crashed recorder
  left unacknowledged) is outstanding the server delivers nothing newer, so an ack can
  never cover a message that was not committed. After a crash the outstanding batch is
  redelivered once `ack_wait` expires, before anything newer.
- a transient failure (SQLite busy/locked, disk full, read-only file) is never acked and
  never termed: the batch is kept in memory and the append is retried with back-off,
  while `in_progress` keeps the server from redelivering it meanwhile. Nothing newer is
  fetched until it commits. (A nak would let newer messages overtake it, and their AckAll
  would then cover it.)
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
import signal
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import nats.errors
import nats.js.errors
from nats.js import api
from nats.js.client import JetStreamContext

from schemas.events import ContractError, decode_event
from services.broker import STREAM, SUBJECT_PREFIX, connect, ensure_stream
from services.config import Settings

log = logging.getLogger("quotaboard.recorder")

DURABLE = "recorder"
BATCH = 1000
DRAIN_SECONDS = 10.0
ACK_WAIT = 5.0  # seconds: how soon a crashed recorder's batch is redelivered
CRASH_ENV = "QUOTABOARD_TEST_CRASH_AFTER_COMMIT"
TRANSIENT = (sqlite3.OperationalError, sqlite3.DatabaseError, OSError)


def log_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / "log.sqlite"


def consumer_config(batch: int = BATCH) -> api.ConsumerConfig:
    return api.ConsumerConfig(
        durable_name=DURABLE,
        name=DURABLE,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.ALL,
        ack_wait=ACK_WAIT,
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
    retries: int = 0


class Puller:
    """Keeps one pull request open on the durable consumer; messages land in a buffer
    through a subscription callback.

    Why not `PullSubscription.fetch`: it awaits `next_msg` per message, which creates two
    tasks and a wait_for each (measured about 5,000 msgs/s here); a callback appending to a
    list is an order of magnitude cheaper, and an always-open request delivers a message
    the moment it is stored (low latency) while `max_ack_pending` still bounds what is
    outstanding. A request ends when its batch is delivered or with a status message
    (408 expired, 409, 404); then the next one is sent. A request lost to a reconnect is
    re-sent once it should have expired.
    """

    EXPIRES = 2.0

    def __init__(self, nc, batch: int) -> None:
        self.nc = nc
        self.batch = batch
        self.buffer: list = []
        self.arrived = asyncio.Event()
        self.inbox = nc.new_inbox()
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{DURABLE}"
        self.owed = 0
        self.sent_at = 0.0
        self.sub = None

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(self.inbox, cb=self._on_msg, pending_msgs_limit=-1,
                                           pending_bytes_limit=-1)
        await self._request()

    async def stop(self) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()

    async def _request(self) -> None:
        self.owed = self.batch
        self.sent_at = time.monotonic()
        body = json.dumps({"batch": self.batch, "expires": int(self.EXPIRES * 1e9)}).encode()
        await self.nc.publish(self.subject, body, reply=self.inbox)

    async def _on_msg(self, msg) -> None:
        status = JetStreamContext.is_status_msg(msg)
        if status:
            if status != "100":  # not a heartbeat: the request is over
                self.owed = 0
                self.arrived.set()
            return
        self.buffer.append(msg)
        self.owed -= 1
        self.arrived.set()

    async def take(self, timeout: float) -> list:
        """What has arrived (at most one batch), waiting up to `timeout` for the first."""
        if not self.buffer:
            self.arrived.clear()
            if self.owed <= 0 or time.monotonic() - self.sent_at > self.EXPIRES + 1:
                await self._request()
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout)
            except TimeoutError:
                pass
        msgs, self.buffer = self.buffer[: self.batch], self.buffer[self.batch :]
        if self.owed <= 0 and self.nc.is_connected:
            await self._request()
        return msgs


def _seq(msg) -> int:
    return msg.metadata.sequence.stream


class Recorder:
    """Moves batches from the SALES stream to the event log. `run()` until `stop()`."""

    def __init__(self, settings: Settings, *, batch: int = BATCH) -> None:
        self.settings = settings
        self.batch = batch
        self.stats = RecorderStats()
        self._stopping = asyncio.Event()
        self._crash_after_commit = os.environ.get(CRASH_ENV) == "1"

    def stop(self) -> None:
        self._stopping.set()

    async def _ensure_consumer(self, js) -> None:
        wanted = consumer_config(self.batch)
        try:
            info = await js.consumer_info(STREAM, DURABLE)
            have = info.config
            if have.max_ack_pending != wanted.max_ack_pending or have.ack_wait != wanted.ack_wait:
                await js.add_consumer(STREAM, config=wanted)  # updates a durable's mutable fields
        except nats.js.errors.NotFoundError:
            await js.add_consumer(STREAM, config=wanted)

    async def run(self) -> RecorderStats:
        from events.log import EventLog  # the log engineer's module

        nc = await connect(self.settings, name="quotaboard-recorder", wait=60)
        try:
            js = nc.jetstream()
            await ensure_stream(js, self.settings.replicas)
            await self._ensure_consumer(js)
            puller = Puller(nc, self.batch)
            await puller.start()
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            with EventLog(log_path(self.settings.data_dir)) as event_log:
                log.info("recorder following %s into %s", STREAM, log_path(self.settings.data_dir))
                drain_until = None
                while True:
                    # On stop, drain: keep recording until the stream has nothing more
                    # for us (or DRAIN_SECONDS pass), so a clean stop leaves no backlog.
                    if self._stopping.is_set() and drain_until is None:
                        drain_until = time.monotonic() + DRAIN_SECONDS
                    if drain_until is not None and time.monotonic() > drain_until:
                        break
                    msgs = await puller.take(0.3 if drain_until else 1.0)
                    if msgs:
                        await self._record(event_log, msgs)
                    elif drain_until is not None:
                        break
            await puller.stop()
            await nc.flush(timeout=2)
        finally:
            await nc.close()
        return self.stats

    async def _record(self, event_log, msgs: list) -> None:
        from events.log import Poison

        events, quarantined, poison = [], [], []
        for msg in msgs:
            try:
                events.append(decode_event(msg.data))
            except ContractError as exc:
                quarantined.append(Poison(subject=msg.subject, reason=f"{exc.reason} at {exc.path}",
                                          raw=bytes(msg.data)))
                poison.append(msg)
        delay = 0.1
        while True:
            try:
                result = event_log.append(events, quarantined=quarantined)
                break
            except TRANSIENT as exc:
                # Not acked, not termed: keep the batch, tell the server we are still on it.
                self.stats.retries += 1
                log.error("cannot append %d events to the log (%s); retrying in %.1fs",
                          len(msgs), exc, delay)
                for msg in msgs:
                    try:
                        await msg.in_progress()
                    except Exception:  # noqa: BLE001 - redelivery is harmless, the log dedups
                        pass
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        if self._crash_after_commit:
            log.warning("%s=1: killing the recorder after its first commit, before the ack", CRASH_ENV)
            os.kill(os.getpid(), signal.SIGKILL)
        for msg in poison:
            log.warning("quarantined poison message seq %d", _seq(msg))
            await msg.term()
        good = [m for m in msgs if not any(m is p for p in poison)]
        if good:
            await max(good, key=_seq).ack()
        self.stats.batches += 1
        self.stats.appended += result.appended
        self.stats.duplicates += result.duplicates
        self.stats.quarantined += len(quarantined)


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
