"""`quotaboard scorecard`, `diagnose` and a replay's score deltas, on a real log and store.

The team history (tests/support/team_history.py) goes into a real log and a real rebuild
under a live ruleset with a monthly assessment; the commands run as the installed
`quotaboard` does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from team_history import assessed_ruleset, build_store


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("assess") / "data"
    build_store(data)
    return data


def cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args, "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_scorecard_json(data_dir: Path) -> None:
    res = cli(data_dir, "scorecard", "--period", "2026-08", "--json")
    assert res.returncode == 0, res.stderr
    reps = json.loads(res.stdout)["reps"]
    # zhang 60 x 1.05 + 40 x 7/6; wang 60 x 1.10 + 40 x 5/6; li 60 x 0.75 + 40 x 6/6
    assert {r: (c["score"], c["grade"]) for r, c in reps.items()} == {
        "zhang": ("109.67", "S"),
        "wang": ("99.33", "S"),
        "li": ("85.00", "A"),
    }


def test_scorecard_table_and_a_period_without_one(data_dir: Path) -> None:
    res = cli(data_dir, "scorecard", "--period", "2026-08")
    assert res.returncode == 0 and "109.67" in res.stdout and "小李" in res.stdout
    res = cli(data_dir, "scorecard", "--period", "2026-Q3")
    assert res.returncode == 1 and "no scorecard for 2026-Q3" in res.stderr


def test_diagnose_names_the_seed_driver_first(data_dir: Path) -> None:
    doc = json.loads(cli(data_dir, "diagnose", "--period", "2026-08", "--json").stdout)
    first = doc["reps"]["li"]["drivers"][0]
    assert (first["driver"], first["rep"], first["team"]) == (
        "new_customer_conversion",
        "0.1500",
        "0.2500",
    )
    text = cli(data_dir, "diagnose", "--period", "2026-08", "--rep", "li").stdout
    assert "小李 is at 75.0% of target" in text
    assert "1. new-customer conversion 15.0% against the team's 25.0%" in text
    res = cli(data_dir, "diagnose", "--period", "2026-08", "--rep", "zhang")
    assert res.returncode == 1 and "not below green" in res.stderr


def test_replay_under_a_corrected_cap_shows_score_and_grade_deltas(
    data_dir: Path, tmp_path: Path
) -> None:
    corrected = tmp_path / "corrected.toml"
    corrected.write_text(
        assessed_ruleset(cap="1.00").replace('id = "seed-table3"', 'id = "seed-table3-cap"')
    )
    res = cli(data_dir, "replay", "--period", "2026-08", "--ruleset", str(corrected), "--json")
    assert res.returncode == 0, res.stderr
    scorecard = json.loads(res.stdout)["scorecard"]
    assert scorecard["period"] == "2026-08"
    zhang, wang, li = (scorecard["reps"][r] for r in ("zhang", "wang", "li"))
    assert (zhang["score_before"], zhang["score_after"], zhang["score_delta"]) == (
        "109.67",
        "106.67",
        "-3.00",
    )
    assert (wang["score_after"], wang["score_delta"], wang["grade_after"]) == (
        "93.33",
        "-6.00",
        "S",
    )
    assert (li["score_delta"], li["grade_before"], li["grade_after"]) == ("0.00", "A", "A")


def test_weekly_json_and_table(data_dir: Path) -> None:
    doc = json.loads(cli(data_dir, "weekly", "--period", "2026-08", "--json").stdout)
    w33 = next(
        r for r in doc["team"]["sales"]["weeks"] if r["week"] == "2026-W33"
    )  # 10 August, a Monday
    assert w33["bookings"] == "1620000.00"
    assert "2026-W33" in cli(data_dir, "weekly", "--period", "2026-08").stdout
