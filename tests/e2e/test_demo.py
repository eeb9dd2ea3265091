"""The demo: a repeatable company, a simulated CRM, and `quotaboard demo --headless`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from projections.periods import current_month, shift_month
from schemas.events import decode_events
from services.demo.crm_sim import TZ, CrmSimulator, clock_from, organisation
from services.demo.runner import parse_now
from services.project.readstore import ReadStore

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 8, 20, 15, 0, tzinfo=TZ)
# The month's edges, where the company used to take for ever to make (issue 13).
EDGES = {
    "first second": datetime(2026, 12, 1, 0, 0, 0, tzinfo=TZ),
    "thirty seconds in": datetime(2026, 12, 1, 0, 0, 30, tzinfo=TZ),
    "one hour in, Nov 30 in UTC": datetime(2026, 11, 30, 17, 0, tzinfo=UTC),
    "last second": datetime(2026, 12, 31, 23, 59, 59, tzinfo=TZ),
    "New Year in Shanghai": datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    "29 February": datetime(2028, 2, 29, 12, 0, tzinfo=TZ),
}


def test_organisation_is_repeatable_and_valid():
    a, b = organisation(3, NOW), organisation(3, NOW)
    assert a.events == b.events
    assert organisation(4, NOW).events != a.events
    decode_events(json.dumps(a.events))  # every event fits the contract
    reps = [e for e in a.events if e["type"] == "rep.onboarded"]
    assert len(reps) == 24 and len({e["data"]["region"] for e in reps}) == 4
    periods = {e["data"]["period"] for e in a.events if e["type"] == "target.set"}
    assert periods == {"2026-07", "2026-08"}
    assert {e["data"]["product_line"] for e in a.events if e["type"] == "deal.created"} == {
        "solution", "hardware", "software"}
    assert max(e["occurred_at"] for e in a.events) <= NOW.isoformat()


@pytest.mark.parametrize("now", EDGES.values(), ids=EDGES.keys())
def test_organisation_at_the_edges_of_a_month(now):
    """Made within two seconds, with that month's targets and nothing after `now`. (In a
    thread: a generator that never ends fails the test instead of hanging it.)"""
    made: list = []
    thread = threading.Thread(target=lambda: made.append(organisation(7, now)), daemon=True)
    thread.start()
    thread.join(2)
    assert made, f"the demo company as of {now.isoformat()} was not made within 2 s"
    org = made[0]
    month = current_month(now)
    decode_events(json.dumps(org.events))
    assert {e["data"]["period"] for e in org.events if e["type"] == "target.set"} == {shift_month(month, -1), month}
    assert max(e["occurred_at"] for e in org.events) <= now.astimezone(TZ).isoformat()
    assert min(e["occurred_at"] for e in org.events if e["type"] in ("rep.onboarded", "customer.created")) < min(
        e["occurred_at"] for e in org.events if e["type"].startswith("deal."))
    assert any(d.status == "open" for d in org.deals.values())  # the simulator has deals to close
    won = [e for e in org.events if e["type"] == "deal.won" and e["occurred_at"][:7] == month]
    if now.astimezone(TZ).day > 1:  # a month under way has bookings already
        assert won


def test_the_simulator_closes_deals_in_a_month_just_begun(tmp_path):
    """At the first second the month has only targets; the live simulator, its clock
    running on from the pinned instant, books deals in that month."""
    from services.demo.folded_store import FoldedStore

    now = EDGES["first second"]
    org = organisation(7, now)
    sim = CrmSimulator(org, 7, clock=clock_from(now))
    sent = [e for _ in range(300) for e in sim.next()[1]]
    assert sent and all(now.isoformat() <= e["occurred_at"] < "2026-12-01T00:01:00+08:00" for e in sent)
    folded = FoldedStore(tmp_path)
    folded.apply_raw(json.dumps(e, ensure_ascii=False) for e in org.events)
    before = folded.store.standings("2026-12")
    assert before.team["sales"].bookings == "0.00" and before.team["sales"].target is not None
    folded.apply_raw(json.dumps(e, ensure_ascii=False) for e in sent)
    assert Decimal(folded.store.standings("2026-12").team["sales"].bookings) > 0
    folded.close()


def test_pinned_clock_runs_on_from_the_instant():
    now = EDGES["last second"]
    clock = clock_from(now)
    first = clock()
    assert now <= first < datetime(2027, 1, 1, 0, 0, 1, tzinfo=TZ)
    time.sleep(0.05)
    assert clock() > first
    assert abs(clock_from()() - datetime.now(UTC)).total_seconds() < 5


def test_parse_now():
    assert parse_now("2026-12-01T00:00:30+08:00") == datetime(2026, 12, 1, 0, 0, 30, tzinfo=TZ)
    assert parse_now("2026-11-30T16:00:30Z") == datetime(2026, 12, 1, 0, 0, 30, tzinfo=TZ)
    for bad in ("2026-12-01T00:00:30", "tomorrow", "2026-13-01T00:00:00Z"):
        with pytest.raises(ValueError, match="--now .* RFC 3339"):
            parse_now(bad)


def test_simulator_sends_every_kind_of_event():
    org = organisation(3, NOW)
    sim = CrmSimulator(org, 3, clock=lambda: NOW)
    sent, pauses = [], []
    for _ in range(600):
        pause, events = sim.next()
        pauses.append(pause)
        sent += events
    decode_events(json.dumps(sent))
    kinds = {e["type"] for e in sent}
    assert {"deal.created", "deal.stage_changed", "deal.won", "deal.lost", "activity.logged",
            "payment.received", "payment.refunded"} <= kinds
    assert 0.5 < sum(pauses) / len(pauses) < 5  # a lifelike pace at speed 1
    assert len({e["id"] for e in sent}) == len(sent)


def test_demo_org_folds_into_standings(tmp_path):
    from services.demo.folded_store import FoldedStore

    org = organisation(3, NOW)
    folded = FoldedStore(tmp_path)
    folded.apply_raw(json.dumps(e, ensure_ascii=False) for e in org.events)
    doc = folded.store.standings("2026-08")
    assert len(doc.reps) == 24 and set(doc.regions) == {"East", "South", "North", "West"}
    rags = {e.rag for e in doc.reps.values()}
    assert len(rags) >= 2  # a spread of red / yellow / green
    folded.close()


@pytest.mark.slow
@pytest.mark.parametrize("now", ["2026-12-01T00:00:30+08:00", None], ids=["first minute of a month", "the clock"])
def test_demo_headless_runs_the_service(tmp_path, now):
    """Needs the full service (`quotaboard up` with recorder and projector)."""
    data = tmp_path / "data"
    pinned = ["--now", now] if now else []
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", "--headless", "--duration", "6", "--speed", "20",
         "--seed", "3", "--data", str(data), *pinned],
        cwd=REPO, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    from natsutil import log_count

    instant = parse_now(now) if now else datetime.fromtimestamp(time.time() - (time.monotonic() - started), UTC)
    events = log_count(data)
    history = organisation(3, instant).events
    assert events > len(history) if now else events > 0, (events, len(history))  # the org plus live CRM events
    assert not (data / "secrets.toml").exists()  # the secret came through the environment
    store = ReadStore.open_current(data)
    assert store is not None and store.position() == events
    doc = store.standings(current_month(instant))
    assert len(doc.reps) == 24
    assert doc.team["sales"].target is not None
    assert sum(Decimal(r.bookings) for r in doc.reps.values()) > 0
    store.close()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_demo_killed_leaves_no_service_behind(tmp_path, sig):
    """SIGTERM (or a closed terminal's SIGHUP) stops the demo as Ctrl-C does; even SIGKILL,
    which it cannot catch, takes its service down: `up` gets SIGTERM from Linux."""
    from natsutil import pid_alive, wait_until

    data = tmp_path / "data"
    pids: list[int] = []
    demo = subprocess.Popen([sys.executable, "-m", "services.cli", "demo", "--headless", "--seed", "3",
                             "--data", str(data)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        def running() -> dict | None:
            try:
                info = json.loads((data / "run" / "service.json").read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                return None
            return info if info["broker"]["pid"] and all(info["roles"].values()) else None

        info = wait_until(running, 60, what="the demo's service")
        pids += [info["pid"], info["broker"]["pid"], *info["roles"].values()]
        demo.send_signal(sig)
        demo.wait(30)
        wait_until(lambda: not any(pid_alive(p) for p in pids), 30,
                   what=f"the service's processes {pids} to exit")
    finally:
        if demo.poll() is None:
            demo.kill()
        for pid in pids:  # leave nothing running when the test fails
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
