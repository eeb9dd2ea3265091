"""Ingest benchmark: real `quotaboard up` (embedded nats-server, real SQLite) in a temp dir.

Prints:
1. HTTP -> log events/s, signed POSTs of 100 events, 16 in flight   (goal >= 10,000/s)
2. JetStream -> log events/s: a pre-filled stream drained by `quotaboard recorder` in its
   own process, with the CPU each process used (goal >= 30,000/s)
3. p50/p99 from POST to stored row at a steady 1,000 events/s for ~10 s (goal p99 <= 20 ms)

The "stored" moment is seen by a thread polling the log's last position every ~0.5 ms:
the recorder stores in stream order, so a request is stored once the position reaches
the cumulative count of events posted up to and including it.

Usage: python bench/ingest.py [--http-events N] [--js-events N] [--seconds S] [--prefill-log LOG]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support")]

from natsutil import free_port, new_secret, signed_headers  # noqa: E402
from procstat import children, cpu_seconds  # noqa: E402


def event(prefix: str, i: int) -> dict:
    return {"id": f"{prefix}-{i}", "type": "deal.created", "occurred_at": "2026-08-01T10:00:00+08:00",
            "source": "bench", "data": {"deal_id": f"D-{prefix}-{i}", "rep_id": "zhang", "customer_id": "C1",
                                        "product_line": "A", "amount": "1000.00"}}


class LogWatch:
    """Polls the last position of <data>/log.sqlite in a thread, every `every` seconds
    (0.5 ms for latencies; a throughput run polls less so as not to steal CPU)."""

    def __init__(self, path: Path, every: float = 0.0005) -> None:
        self.path = path
        self.every = every
        self.position = 0
        self.marks: list[tuple[int, float]] = []  # (position, time first seen)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LogWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self.path.exists() and not self._stop.is_set():
            time.sleep(0.01)
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        while not self._stop.is_set():
            try:
                (pos,) = db.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
            except sqlite3.OperationalError:
                pos = self.position
            if pos != self.position:
                self.position = pos
                self.marks.append((pos, time.perf_counter()))
            time.sleep(self.every)
        db.close()

    def wait(self, n: int, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while self.position < n:
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out: log at {self.position}, expected {n}")
            time.sleep(0.001)
        return time.perf_counter()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def start_service(data: Path, secret: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "QUOTABOARD_WEBHOOK_SECRET": secret}
    out = open(data.parent / "up.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "up", "--data", str(data),
                             "--http", f"127.0.0.1:{port}"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz").json().get("broker_connected"):
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("service did not start; see " + str(data.parent / "up.log"))


class Conn:
    """One keep-alive HTTP/1.1 connection with a hand-written request and a minimal
    response parser. httpx costs ~1 ms of CPU per request; on a 2-core machine that
    shares the CPU with the service, the client itself then becomes the bottleneck and
    its queueing shows up as service latency. This client is ~20x cheaper."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        head = f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        for attempt in (1, 2):  # the server closes keep-alive connections idle for 5 s
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.write(head.encode() + body)
            try:
                raw = await self.reader.readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()
                self.writer = None
                if attempt == 2:
                    raise
        status = int(raw[9:12])
        length = int(re.search(rb"(?i)content-length: *(\d+)", raw).group(1))
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _hostport(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


async def http_throughput(url: str, secret: str, watch: LogWatch, total: int, base: int) -> float:
    bodies = [json.dumps([event("h", i) for i in range(k, k + 100)]).encode() for k in range(0, total, 100)]
    requests = [(b, signed_headers(secret, b)) for b in bodies]  # signing is the client's work: not timed
    requests.reverse()
    conns = [Conn(*_hostport(url)) for _ in range(16)]

    async def worker(conn: Conn):
        while requests:
            body, headers = requests.pop()
            status, text = await conn.post("/v1/events", body, headers)
            assert status == 202, text

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    t1 = watch.wait(base + total)
    for c in conns:
        c.close()
    return total / (t1 - t0)


async def latency(url: str, secret: str, watch: LogWatch, seconds: float, base: int) -> tuple[float, float, int]:
    per_req, interval = 10, 0.01  # 10 events every 10 ms = 1,000 events/s
    count = int(seconds / interval)
    requests = []
    for k in range(count):
        body = json.dumps([event("l", k * per_req + i) for i in range(per_req)]).encode()
        requests.append((body, signed_headers(secret, body)))
    idle: list[Conn] = []
    sent: list[tuple[int, float]] = []

    async def post(body, headers, t0):
        conn = idle.pop() if idle else Conn(*_hostport(url))
        status, text = await conn.post("/v1/events", body, headers)
        assert status == 202, text
        idle.append(conn)

    tasks = []
    t_start = time.perf_counter()
    for k, (body, headers) in enumerate(requests):
        await asyncio.sleep(max(0.0, t_start + k * interval - time.perf_counter()))
        t0 = time.perf_counter()
        sent.append((base + (k + 1) * per_req, t0))
        tasks.append(asyncio.ensure_future(post(body, headers, t0)))
    await asyncio.gather(*tasks)
    n = count * per_req
    watch.wait(base + n)
    for c in idle:
        c.close()
    marks = list(watch.marks)
    lat = []
    j = 0
    for target, t0 in sent:
        while marks[j][0] < target:
            j += 1
        lat.append((marks[j][1] - t0) * 1000)
    lat.sort()
    return lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))], n


async def _fill_stream(data: str, total: int) -> None:
    from schemas.events import decode_event
    from services.config import load_settings
    from services.ingest.publish import publish_events
    from services.runtime.broker import connect, ensure_stream

    settings = load_settings(data, env={})
    nc = await connect(settings)
    js = nc.jetstream(publish_async_max_pending=10_000)
    await ensure_stream(js)
    events = [decode_event(json.dumps(event("j", i))) for i in range(total)]
    for k in range(0, total, 5000):
        await publish_events(js, events[k:k + 5000], timeout=30)
    await nc.close()


def js_throughput(total: int, prefill: Path | None = None) -> tuple[float, str]:
    """Drain rate of a pre-filled stream by `quotaboard recorder` in its own process, as
    `quotaboard up` runs it: events/s from its first stored row to the last (its start-up
    is not counted), and the CPU seconds each process spent meanwhile. With `prefill`,
    the recorder appends to a copy of that log instead of a fresh one."""
    from services.runtime.broker import EmbeddedBroker

    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(tmp) as broker:
        asyncio.run(_fill_stream(tmp, total))
        base = 0
        if prefill is not None:
            shutil.copy(prefill, Path(tmp) / "log.sqlite")
            with sqlite3.connect(Path(tmp) / "log.sqlite") as db:
                base = db.execute("SELECT max(position) FROM events").fetchone()[0]
        watch = LogWatch(Path(tmp) / "log.sqlite", every=0.002).start()
        proc = subprocess.Popen([sys.executable, "-m", "services.cli", "recorder", "--data", tmp],
                                cwd=ROOT, stderr=subprocess.DEVNULL)
        try:
            while watch.position <= base:
                time.sleep(0.001)
            first, t0 = watch.marks[-1]
            procs = {"recorder intake": [proc.pid], "log writer": children(proc.pid),
                     "nats-server": [broker.proc.pid]}
            cpu0 = {k: sum(map(cpu_seconds, v)) for k, v in procs.items()}
            while watch.position < base + total:
                time.sleep(0.002)
            t1 = time.perf_counter()
            cpu1 = {k: sum(map(cpu_seconds, v)) for k, v in procs.items()}
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
            watch.stop()
        wall = t1 - t0
        split = ", ".join(f"{k} {cpu1[k] - cpu0[k]:.2f}" for k in procs)
        return (base + total - first) / wall, f"{wall:.2f} s wall; CPU s: {split}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--http-events", type=int, default=50_000)
    ap.add_argument("--js-events", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--prefill-log", type=Path, default=None,
                    help="drain into a copy of this log (e.g. bench/out/log-1000000/log.sqlite from bench/rebuild.py)")
    args = ap.parse_args()

    js_rate, js_cpu = js_throughput(args.js_events, args.prefill_log)
    into = f"into a log of {args.prefill_log}" if args.prefill_log else "into a fresh log"
    print(f"JetStream -> log : {js_rate:10,.0f} events/s  ({args.js_events:,} events {into}; goal >= 30,000; {js_cpu})")

    secret = new_secret()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        proc, url = start_service(data, secret)
        watch = LogWatch(data / "log.sqlite").start()
        try:
            http_rate = asyncio.run(http_throughput(url, secret, watch, args.http_events, 0))
            print(f"HTTP -> log      : {http_rate:10,.0f} events/s  ({args.http_events:,} events, batches of 100; goal >= 10,000)")
            p50, p99, n = asyncio.run(latency(url, secret, watch, args.seconds, args.http_events))
            print(f"POST -> stored   : p50 {p50:6.1f} ms, p99 {p99:6.1f} ms  ({n:,} events at 1,000/s; goal p99 <= 20 ms)")
        finally:
            watch.stop()
            proc.send_signal(signal.SIGINT)
            proc.wait(30)


if __name__ == "__main__":
    main()
