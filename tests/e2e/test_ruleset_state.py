"""A ruleset that cannot load is named, loudly, through the real `up`, projector and `status`.

`up` refuses to start on a broken file; a file that breaks while the service runs leaves
the last good set in force and `status` shows the projector's state and the error; a
projector with no good set at all (a first start, as docker-compose runs it) waits and
says why, and `lag` is the real distance from the log's head whatever the state.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from fold_helpers import ev
from natsutil import QUOTABOARD, REPO, wait_until
from test_projector import SEED, caught_up, figures, import_seed

from events.log import EventLog
from schemas.events import decode_event

GOOD = REPO / "rulesets" / "seed-table3.toml"
BAD_VALUE = ('rate = "0.02"', 'rate = "abc"')  # line 21: the second tier's rate
UNKNOWN_KEY = ('mode = "whole"', 'mod = "whole"')  # line 18, in [incentive.tiered]


def write_ruleset(data, change: tuple[str, str] | None = None):
    folder = data / "rulesets"
    folder.mkdir(parents=True, exist_ok=True)
    text = GOOD.read_text()
    if change is not None:
        assert change[0] in text
        text = text.replace(change[0], change[1], 1)
    path = folder / "2026.toml"
    path.write_text(text)
    return path


def status(data) -> dict:
    res = subprocess.run(
        [*QUOTABOARD, "status", "--json", "--data", str(data)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def status_table(data) -> str:
    env = {**os.environ, "COLUMNS": "400"}  # one row a line: the error is not folded
    res = subprocess.run(
        [*QUOTABOARD, "status", "--data", str(data)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def state_is(data, state: str):
    return lambda: (s := status(data))["projector"]["state"] == state and s


@pytest.mark.parametrize(
    "change, where",
    [
        (BAD_VALUE, 'line 21: incentive.tiered.tiers[1].rate: expected a decimal, got "abc"'),
        (UNKNOWN_KEY, "line 18: incentive.tiered.mod: unknown key (did you mean `mode`?)"),
    ],
)
def test_up_refuses_a_broken_ruleset_naming_file_line_and_key(tmp_path, change, where):
    data = tmp_path / "data"
    path = write_ruleset(data, change)
    res = subprocess.run(
        [*QUOTABOARD, "up", "--data", str(data), "--http", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={**os.environ, "QUOTABOARD_WEBHOOK_SECRET": "whsec_" + "A" * 44},
    )
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(f"quotaboard: {path} {where}"), (
        res.stderr
    )
    assert "nothing was started" in res.stderr
    assert sorted(p.name for p in data.iterdir()) == ["rulesets"]  # no broker, no log, no store


def test_a_ruleset_that_breaks_while_running_keeps_the_last_good_set(make_service, tmp_path):
    data = tmp_path / "data0"
    path = write_ruleset(data)
    svc = make_service()
    import_seed(svc)
    assert status(data)["projector"] == {
        "state": "running",
        "error": None,
        "file": None,
        "line": None,
        "key": None,
    }

    write_ruleset(data, BAD_VALUE)
    broken = wait_until(
        state_is(data, "ruleset error"), 15, 0.2, what="the projector to see the broken file"
    )
    error = f'{path} line 21: incentive.tiered.tiers[1].rate: expected a decimal, got "abc"'
    assert broken["projector"] == {
        "state": "ruleset error",
        "error": error,
        "file": str(path),
        "line": 21,
        "key": "incentive.tiered.tiers[1].rate",
    }
    assert f"ruleset error: {error}" in status_table(data)

    # New events are still folded, under the last good set: wang's extra 60,000 lifts him
    # from 110% to 130% of target, into the seed's third tier (3% and a 3,000 bonus).
    more = [
        ev(
            "deal.created",
            "2026-08-20T10:00:00",
            deal_id="D9",
            rep_id="wang",
            customer_id="C9",
            product_line="A",
            amount="60000",
        ),
        ev("deal.won", "2026-08-21T10:00:00", deal_id="D9"),
    ]
    assert svc.post(more).status_code == 202
    wait_until(lambda: caught_up(svc, 39), 20, what="the projector at position 39")
    now = status(data)
    assert (now["last_position"], now["projector_position"], now["lag"]) == (39, 39, 0)
    assert now["projector"]["state"] == "ruleset error"
    wang = figures(svc, "standings", "--period", "2026-08")["reps"]["wang"]
    assert (wang["bookings"], wang["attainment"]) == ("390000.00", "1.3000")
    assert [(x["component"], x["amount"]) for x in wang["statement"]] == [
        ("tiered", "11700.00"),
        ("tiered", "3000.00"),
        ("team_awards", "500.00"),
    ]

    write_ruleset(data)
    fixed = wait_until(
        state_is(data, "running"), 15, 0.2, what="the projector to see the fixed file"
    )
    assert fixed["projector"]["error"] is None
    assert "ruleset error" not in status_table(data)


def test_a_projector_with_no_good_set_waits_and_lag_is_the_whole_log(tmp_path):
    """A first start on a broken folder, as docker-compose starts the projector (no `up` to
    refuse): it used to exit and restart for ever while status read position 0, lag 0."""
    data = tmp_path / "data"
    path = write_ruleset(data, BAD_VALUE)
    events = [decode_event(line) for line in SEED.read_bytes().splitlines() if line.strip()]
    with EventLog(data / "log.sqlite") as log:
        log.append(events)
    proc = subprocess.Popen(
        [*QUOTABOARD, "projector", "--data", str(data)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "projector.log").open("wb"),
    )
    try:
        waiting = wait_until(
            state_is(data, "ruleset error"), 20, 0.2, what="the projector to name the error"
        )
        assert (waiting["projector_position"], waiting["last_position"], waiting["lag"]) == (
            0,
            37,
            37,
        )
        assert waiting["projector"]["file"] == str(path) and waiting["projector"]["line"] == 21
        assert proc.poll() is None  # waiting, not exiting to be restarted
        assert "no ruleset to fold with" in (tmp_path / "projector.log").read_text()

        rebuild = subprocess.run(
            [*QUOTABOARD, "rebuild", "--data", str(data)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        )
        assert (
            rebuild.returncode == 1
            and rebuild.stderr == f"quotaboard: {waiting['projector']['error']}\n"
        )

        shutil.copy(GOOD, path)
        wait_until(
            lambda: status(data)["projector_position"] == 37, 20, 0.2, what="the projector at 37"
        )
        done = status(data)
        assert (done["lag"], done["projector"]["state"]) == (0, "running")
    finally:
        proc.terminate()
        proc.wait(20)
