"""Helpers of the fault, cluster and hostile-input tests: a synthetic company's events,
paced signed senders that retry on 503, process lookup and kills, read-model snapshots.

Every loop here is bounded in count and in time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from natsutil import pid_alive, signed_headers, wait_until

# --- a synthetic company ---------------------------------------------------------------

REGIONS = ["East", "South", "North", "West"]
PRODUCTS = ["A", "B", "C"]
MONTHS = ["2026-07", "2026-08", "2026-09"]
KINDS = ["call", "visit", "meeting", "email", "demo", "other"]


def company_events(n: int = 20_000, *, seed: int = 7, prefix: str = "f", reps: int = 40) -> list[dict]:
    """`n` canonical events of a plausible company (reps, targets, customers, deal
    lifecycles, payments, activities over three months), in a shuffled-within-reason order
    (a deal's events keep their order; sources interleave). Ids `<prefix>-<k>` are unique."""
    rnd = random.Random(seed)
    out: list[dict] = []

    def ev(kind: str, when: str, data: dict) -> None:
        out.append({"id": f"{prefix}-{len(out):06d}", "type": kind, "occurred_at": when,
                    "source": "fault-test", "data": data})

    rep_ids = [f"r{i:03d}" for i in range(reps)]
    for i, rep in enumerate(rep_ids):
        ev("rep.onboarded", "2026-06-01T09:00:00+08:00",
           {"rep_id": rep, "name": f"Rep {i}", "team": "sales", "region": REGIONS[i % len(REGIONS)]})
    for month in MONTHS:
        for rep in rep_ids:
            ev("target.set", f"{month}-01T08:00:00+08:00", {"scope": "rep", "scope_id": rep, "period": month,
                                                             "metric": "bookings", "amount": str(rnd.randrange(2, 9) * 100_000)})
        for region in REGIONS:
            ev("target.set", f"{month}-01T08:00:00+08:00", {"scope": "region", "scope_id": region, "period": month,
                                                             "metric": "bookings", "amount": "3000000"})
    deal = 0
    while len(out) < n:
        month = rnd.choice(MONTHS)
        day = rnd.randrange(1, 27)
        rep = rnd.choice(rep_ids)
        left = n - len(out)
        if left < 8 or rnd.random() < 0.35:
            ev("activity.logged", f"{month}-{day:02d}T11:00:00+08:00",
               {"activity_id": f"A{len(out)}", "rep_id": rep, "kind": rnd.choice(KINDS)})
            continue
        deal += 1
        d, c = f"D{deal}", f"C{deal}"
        amount = rnd.randrange(10, 500) * 1000
        ev("customer.created", f"{month}-{day:02d}T09:00:00+08:00", {"customer_id": c})
        ev("deal.created", f"{month}-{day:02d}T10:00:00+08:00",
           {"deal_id": d, "rep_id": rep, "customer_id": c, "product_line": rnd.choice(PRODUCTS),
            "amount": str(amount), "source_channel": rnd.choice(["ads", "referral", "exhibition"])})
        ev("deal.stage_changed", f"{month}-{day:02d}T12:00:00+08:00", {"deal_id": d, "stage": "qualified"})
        end = f"{month}-{min(day + 2, 28):02d}T15:00:00+08:00"
        roll = rnd.random()
        if roll < 0.55:
            ev("deal.won", end, {"deal_id": d, "amount": str(amount + rnd.randrange(0, 20) * 1000)})
            ev("payment.received", f"{month}-{min(day + 3, 28):02d}T10:00:00+08:00",
               {"payment_id": f"P{deal}", "deal_id": d, "amount": str(amount // 2)})
        elif roll < 0.8:
            ev("deal.lost", end, {"deal_id": d, "reason": "price"})
    return out[:n]


def batches(events: list[dict], size_min: int = 100, size_max: int = 500, seed: int = 1) -> list[list[dict]]:
    rnd = random.Random(seed)
    out, i = [], 0
    while i < len(events):
        k = rnd.randint(size_min, size_max)
        out.append(events[i:i + k])
        i += k
    return out


# --- senders ---------------------------------------------------------------------------


@dataclass
class LoadResult:
    statuses: Counter = field(default_factory=Counter)  # every HTTP answer seen, retries included
    errors: Counter = field(default_factory=Counter)  # transport errors (no HTTP answer)
    failed: list = field(default_factory=list)  # (status, body) of answers that are neither 202 nor 503
    sent_batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    unfinished: int = 0  # batches never answered 202 before the deadline
    seconds: float = 0.0

    @property
    def server_errors(self) -> dict[int, int]:
        return {s: n for s, n in self.statuses.items() if s >= 500 and s != 503}


class Load:
    """Posts signed batches from `senders` threads, paced to about `rate` events/s; a batch
    answered 503 (or not answered: connection refused/reset, timeout) is re-signed and
    retried after a short pause until `deadline` seconds have passed."""

    def __init__(self, url: str, secret: str, chunks: list[list[dict]], *, senders: int = 4,
                 rate: float | None = None, deadline: float = 120.0, retry_pause: float = 0.2) -> None:
        self.url, self.secret, self.chunks = url, secret, chunks
        self.senders, self.rate, self.deadline, self.retry_pause = senders, rate, deadline, retry_pause
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._next = 0
        self._threads: list[threading.Thread] = []
        self._t0 = 0.0
        self._events_taken = 0
        self.done = threading.Event()

    def _take(self) -> list[dict] | None:
        with self._lock:
            if self._next >= len(self.chunks):
                return None
            chunk = self.chunks[self._next]
            self._next += 1
            self._events_taken += len(chunk)
            due = self._t0 + (self._events_taken - len(chunk)) / self.rate if self.rate else 0.0
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        return chunk

    def _count(self, key, status=None) -> None:
        with self._lock:
            if status is None:
                self.result.errors[key] += 1
            else:
                self.result.statuses[status] += 1

    def _sender(self) -> None:
        end = self._t0 + self.deadline
        with httpx.Client(base_url=self.url, timeout=15) as client:
            while (chunk := self._take()) is not None:
                raw = json.dumps(chunk).encode()
                while True:
                    if time.monotonic() > end:
                        with self._lock:
                            self.result.unfinished += 1
                        break
                    try:
                        r = client.post("/v1/events", content=raw, headers=signed_headers(self.secret, raw))
                    except httpx.HTTPError as exc:
                        self._count(type(exc).__name__)
                        time.sleep(self.retry_pause)
                        continue
                    self._count(None, r.status_code)
                    if r.status_code == 202:
                        body = r.json()
                        with self._lock:
                            self.result.sent_batches += 1
                            self.result.accepted += body["accepted"]
                            self.result.duplicates += body["duplicates"]
                        break
                    if r.status_code == 503:
                        time.sleep(self.retry_pause)
                        continue
                    with self._lock:
                        self.result.failed.append((r.status_code, r.text[:300]))
                    break

    def start(self) -> Load:
        self._t0 = time.monotonic()

        def run() -> None:
            workers = [threading.Thread(target=self._sender, daemon=True) for _ in range(self.senders)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            self.result.seconds = time.monotonic() - self._t0
            self.done.set()

        t = threading.Thread(target=run, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def progress(self) -> int:
        """Events handed to senders so far."""
        with self._lock:
            return self._events_taken

    def wait(self, timeout: float | None = None) -> LoadResult:
        if not self.done.wait(timeout if timeout is not None else self.deadline + 30):
            raise AssertionError("the load did not finish in time")
        return self.result


# --- processes ---------------------------------------------------------------------------


def role_pid(svc, role: str) -> int | None:
    """The pid of a role (or 'broker') from <data>/run/service.json, if alive."""
    info = svc.service_info()
    pid = info.get("broker", {}).get("pid") if role == "broker" else info.get("roles", {}).get(role)
    return pid if pid and pid_alive(pid) else None


def kill_role(svc, role: str, timeout: float = 30.0, before_kill=None) -> tuple[int, int]:
    """SIGKILL a role's current process; wait for the supervisor to start a new one.
    `before_kill(pid)` runs first (e.g. SIGSTOP and wait for in-flight work).
    Returns (old pid, new pid)."""
    old = wait_until(lambda: role_pid(svc, role), timeout, what=f"a live {role}")
    if before_kill is not None:
        before_kill(old)
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not pid_alive(old), 5, 0.02, what=f"{role} {old} to die")
    new = wait_until(lambda: (p := role_pid(svc, role)) and p != old and p, timeout, 0.05,
                     what=f"the supervisor to restart the {role}")
    return old, new


# --- the log and the read models -------------------------------------------------------------


def log_ids(data_dir: Path) -> list[str]:
    """Every event id in the log, in position order (read-only, straight from SQLite)."""
    import sqlite3

    con = sqlite3.connect(f"file:{Path(data_dir) / 'log.sqlite'}?mode=ro", uri=True)
    try:
        cols = [r[1] for r in con.execute("PRAGMA table_info(events)")]
        col = "event_id" if "event_id" in cols else "id"
        return [r[0] for r in con.execute(f"SELECT {col} FROM events ORDER BY position")]
    finally:
        con.close()


def standings_periods(data_dir: Path) -> list[str]:
    from services.project.readstore import ReadStore

    store = ReadStore.open_current(data_dir)
    assert store is not None, "no read models"
    with store:
        return store.periods()


def standings_json(svc, periods: list[str]) -> dict[str, dict]:
    """`quotaboard standings --period P --json` of every period, parsed."""
    out = {}
    for p in periods:
        res = svc.cli("standings", "--period", p, "--json", check=True)
        out[p] = json.loads(res.stdout)
    return out


def projector_position(data_dir: Path) -> int:
    from services.project.readstore import ReadStore

    store = ReadStore.open_current(data_dir)
    if store is None:
        return 0
    with store:
        return store.position()


# --- the broker, seen by a test client --------------------------------------------------


async def _nc_for(data_dir: Path):
    import nats as natspy

    from services.runtime.broker import load_or_create_credentials, read_runtime

    rt = read_runtime(data_dir)
    creds = load_or_create_credentials(data_dir)
    return await natspy.connect(rt["url"], user=creds.user, password=creds.password, connect_timeout=2,
                                max_reconnect_attempts=0, allow_reconnect=False)


def consumer_state(data_dir: Path) -> dict:
    """The recorder's durable consumer and the stream, as the broker sees them."""
    import asyncio

    async def go() -> dict:
        nc = await _nc_for(data_dir)
        try:
            js = nc.jetstream()
            ci = await js.consumer_info("SALES", "recorder")
            si = await js.stream_info("SALES")
            return {"stream_messages": si.state.messages, "stream_last_seq": si.state.last_seq,
                    "num_pending": ci.num_pending, "num_ack_pending": ci.num_ack_pending,
                    "ack_floor": ci.ack_floor.stream_seq, "redelivered": ci.num_redelivered}
        finally:
            await nc.close()

    return asyncio.run(go())


def has_consumer(data_dir: Path) -> bool:
    """Whether the recorder has created its durable consumer yet (it does so at start)."""
    try:
        consumer_state(data_dir)
    except Exception:  # noqa: BLE001 - not found yet, or the broker still starting
        return False
    return True


def wait_all_acked(data_dir: Path, timeout: float = 60.0) -> dict:
    """Until the recorder's consumer has acknowledged the whole stream (nothing pending,
    nothing awaiting an ack): from then on the recorder will never store anything more."""
    def done():
        try:
            st = consumer_state(data_dir)
        except Exception:  # noqa: BLE001 - broker restarting
            return None
        return st if st["num_pending"] == 0 and st["num_ack_pending"] == 0 else None

    return wait_until(done, timeout, 0.2, what="the recorder to acknowledge the whole stream")


def publish_raw(data_dir: Path, subject: str, payload: bytes, headers: dict | None = None) -> int:
    """Publish bytes straight to JetStream (not through the gateway); the stream sequence."""
    import asyncio

    async def go() -> int:
        nc = await _nc_for(data_dir)
        try:
            ack = await nc.jetstream().publish(subject, payload, headers=headers, timeout=5)
            return ack.seq
        finally:
            await nc.close()

    return asyncio.run(go())
