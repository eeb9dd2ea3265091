"""The demo: a repeatable company, a simulated CRM, and `quotaboard demo --headless`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from schemas.events import decode_events
from services.crm_sim import TZ, CrmSimulator, organisation
from services.readstore import ReadStore

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 8, 20, 15, 0, tzinfo=TZ)


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
    from tui.fixtures import FoldedStore

    org = organisation(3, NOW)
    folded = FoldedStore(tmp_path)
    folded.apply_raw(json.dumps(e, ensure_ascii=False) for e in org.events)
    doc = folded.store.standings("2026-08")
    assert len(doc["reps"]) == 24 and set(doc["regions"]) == {"East", "South", "North", "West"}
    rags = {e["rag"] for e in doc["reps"].values()}
    assert len(rags) >= 2  # a spread of red / yellow / green
    folded.close()


@pytest.mark.slow
def test_demo_headless_runs_the_service(tmp_path):
    """Needs the full service (`quotaboard up` with recorder and projector)."""
    data = tmp_path / "data"
    res = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", "--headless", "--duration", "6", "--speed", "20",
         "--seed", "3", "--data", str(data)],
        cwd=REPO, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    from natsutil import log_count

    events = log_count(data)
    history = len(organisation(3).events)
    assert events > history, (events, history)  # the org plus live CRM events
    assert not (data / "secrets.toml").exists()  # the secret came through the environment
    store = ReadStore.open_current(data)
    assert store is not None and store.position() == events
    month = datetime.now(TZ).strftime("%Y-%m")
    doc = store.standings(month)
    assert len(doc["reps"]) == 24
    assert doc["team"]["sales"]["target"] is not None
    assert sum(float(r["bookings"]) for r in doc["reps"].values()) > 0
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
