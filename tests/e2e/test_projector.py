"""The projector through the real path: events over NATS in, read models out by the CLI.

The worked month of ../shared/examples/README.md is reached here the way a user reaches
it: `quotaboard import` into a running service (embedded nats-server, recorder,
projector), then `quotaboard standings|funnel|statement --json`. Restarts are real:
the projector process is SIGKILLed and the supervisor starts it again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from natsutil import REPO, pid_alive, wait_until

from events.log import EventLog
from schemas.events import decode_event
from services.project.projector import Catchup, open_projection
from services.project.readstore import ReadStore

SHARED = REPO.parent / "shared"
SEED = SHARED / "examples" / "seed-table1.jsonl"
COLLECTED = SHARED / "examples" / "rulesets" / "seed-table3-collected.toml"


def caught_up(svc, position: int) -> bool:
    res = svc.cli("status", "--json")
    return res.returncode == 0 and json.loads(res.stdout)["projector_position"] >= position


def figures(svc, command: str, *args: str) -> dict:
    res = svc.cli(command, *args, "--json", check=True)
    return json.loads(res.stdout)


def import_seed(svc) -> None:
    res = svc.cli("import", str(SEED), check=True)
    assert "accepted 37" in res.stdout
    wait_until(lambda: caught_up(svc, 37), 20, what="the projector at position 37")


def test_seed_month_under_signed_definition(service):
    import_seed(service)
    doc = figures(service, "standings", "--period", "2026-08")
    assert doc["ruleset"]["id"] == "seed-table3" and doc["ruleset"]["hash"].startswith("sha256:")
    assert doc["position"] == 37
    reps = doc["reps"]
    expected = {
        "zhang": ("840000.00", "800000.00", "1.0500", "green", 2, "150000.00", "17800.00"),
        "li": ("450000.00", "600000.00", "0.7500", "red", 1, "100000.00", "0.00"),
        "wang": ("330000.00", "300000.00", "1.1000", "green", 1, "0.00", "8100.00"),
    }
    for rep, (bookings, target, attainment, rag, won, collections, total) in expected.items():
        r = reps[rep]
        assert (r["bookings"], r["target"], r["attainment"], r["rag"], r["deals_won"], r["collections"],
                r["total"]) == (bookings, target, attainment, rag, won, collections, total), rep
    assert [(line["component"], line["amount"]) for line in reps["zhang"]["statement"]] == [
        ("tiered", "16800.00"), ("tiered", "1000.00")]
    assert reps["zhang"]["statement"][0]["explanation"] == "105.0% of target: 2% of 840,000.00"
    assert [(line["component"], line["amount"]) for line in reps["wang"]["statement"]] == [
        ("tiered", "6600.00"), ("tiered", "1000.00"), ("team_awards", "500.00")]
    assert reps["li"]["statement"] == []
    team = doc["team"]["sales"]
    assert (team["bookings"], team["target"], team["attainment"], team["rag"]) == (
        "1620000.00", "1700000.00", "0.9529", "yellow")
    assert (team["deals_won"], team["deals_lost"], team["win_rate"], team["new_customers"]) == (4, 1, "0.8000", 4)
    assert (team["avg_deal_size"], team["collections"], team["collection_rate"]) == (
        "405000.0000", "250000.00", "0.1543")
    assert team["cycle_days"].startswith("19.0")
    assert {k: v["attainment"] for k, v in doc["regions"].items()} == {
        "East": "1.0500", "South": "0.7500", "North": "1.1000"}

    funnel = figures(service, "funnel", "--period", "2026-08")
    assert funnel["stages"] == {"lead": 5, "qualified": 4, "negotiation": 4, "won": 4}
    assert funnel["conversion"] == {"lead_to_qualified": "0.8000", "qualified_to_negotiation": "1.0000",
                                    "negotiation_to_won": "1.0000"}
    assert {k: (v["created"], v["won"]) for k, v in funnel["by_source"].items()} == {
        "referral": (1, 1), "ads": (3, 2), "exhibition": (1, 1)}

    statement = figures(service, "statement", "--rep", "zhang", "--period", "2026-08")
    assert statement["total"] == "17800.00"
    assert sorted(d["id"] for d in statement["deals"]) == ["D1", "D2"]

    # Importing the same file again changes nothing.
    service.cli("import", str(SEED), check=True)
    assert figures(service, "standings", "--period", "2026-08") == doc


def test_seed_month_under_signed_and_collected_definition(make_service, tmp_path):
    data = tmp_path / "data0"
    (data / "rulesets").mkdir(parents=True)
    shutil.copy(COLLECTED, data / "rulesets")
    svc = make_service()
    import_seed(svc)
    august = figures(svc, "standings", "--period", "2026-08")
    assert august["ruleset"]["id"] == "seed-table3-collected"
    assert {r: (v["bookings"], v["rag"], v["total"]) for r, v in august["reps"].items()} == {
        "zhang": ("500000.00", "red", "0.00"), "li": ("0.00", "red", "0.00"), "wang": ("0.00", "red", "0.00")}
    assert august["reps"]["zhang"]["attainment"] == "0.6250"
    september = figures(svc, "standings", "--period", "2026-09")
    wang = september["reps"]["wang"]
    assert (wang["bookings"], wang["target"], wang["attainment"]) == ("330000.00", None, None)
    # No target, no tiered line; September ends Q3, so the quarter's ranking pays out:
    # zhang 500,000 first (5,000), wang 330,000 second (3,000), li 0 does not rank.
    assert [(line["component"], line["amount"]) for line in wang["statement"]] == [("rank_awards", "3000.00")]
    assert september["reps"]["zhang"]["total"] == "5000.00"
    assert september["reps"]["li"]["total"] == "0.00"


def test_quarterly_plan_through_the_service(make_service, tmp_path):
    """A quarterly plan end to end: imported over NATS, read back with the CLI (the figures
    are worked by hand in test_fold_quarterly.py)."""
    from fold_helpers import ev
    from test_fold_quarterly import QUARTERLY, quarter

    data = tmp_path / "data0"
    (data / "rulesets").mkdir(parents=True)
    shutil.copy(QUARTERLY, data / "rulesets")
    events = quarter() + [ev("payment.refunded", "2026-10-05T10:00:00", payment_id="P1", deal_id="D1",
                             amount="20000")]
    path = tmp_path / "quarter.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))
    svc = make_service()
    assert f"accepted {len(events)}" in svc.cli("import", str(path), check=True).stdout
    wait_until(lambda: caught_up(svc, len(events)), 20, what=f"the projector at position {len(events)}")
    september = figures(svc, "standings", "--period", "2026-09")
    assert september["ruleset"]["id"] == "quarterly-test"
    assert [(x["component"], x["amount"]) for x in september["reps"]["a"]["statement"]] == [
        ("tiered", "6200.00"), ("tiered", "1000.00"), ("rank_awards", "5000.00")]
    assert figures(svc, "standings", "--period", "2026-08")["reps"]["a"]["total"] == "0.00"
    q3 = figures(svc, "standings", "--period", "2026-Q3")["reps"]["a"]
    assert (q3["target"], q3["attainment"], q3["total"]) == ("300000.00", "1.0333", "12200.00")
    december = figures(svc, "statement", "--rep", "a", "--period", "2026-12")
    assert (december["total"], [x["component"] for x in december["statement"]]) == ("-400.00", ["clawback"])


def _signed_batches(n_batches: int, size: int):
    """Deals, wins and payments for the seed's reps in 2026-10: enough to keep the projector busy."""
    for b in range(n_batches):
        batch = []
        for i in range(size):
            k = b * size + i
            deal = f"K{k:05d}"
            rep = ("zhang", "li", "wang")[k % 3]
            day = 1 + k % 28
            batch.append({"id": f"kill-{k}-c", "type": "deal.created", "occurred_at": f"2026-10-{day:02d}T09:00:00+08:00",
                          "data": {"deal_id": deal, "rep_id": rep, "customer_id": f"KC{k}", "product_line": "A",
                                   "amount": str(1000 + k)}})
            batch.append({"id": f"kill-{k}-w", "type": "deal.won", "occurred_at": f"2026-10-{day:02d}T15:00:00+08:00",
                          "data": {"deal_id": deal}})
        yield batch


def test_projector_killed_and_restarted_loses_and_double_counts_nothing(make_service):
    svc = make_service()
    import_seed(svc)
    killed: list[int] = []

    def live_projector() -> int | None:
        pid = svc.service_info().get("roles", {}).get("projector")
        return pid if pid and pid not in killed and pid_alive(pid) else None

    for n, batch in enumerate(_signed_batches(12, 100)):
        assert svc.post(batch).status_code == 202
        if n % 4 == 1:
            wait_until(live_projector, 20, what="a (restarted) projector")
            pid = live_projector()
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda p=pid: not pid_alive(p), 10, what="the projector to die")
            killed.append(pid)
    total = 37 + 12 * 100 * 2
    svc.wait_count(total, 30)
    wait_until(lambda: caught_up(svc, total), 60, what="the projector to catch up after restarts")
    assert len(killed) == 3
    october = figures(svc, "standings", "--period", "2026-10")
    expected = sum(1000 + k for k in range(1200))
    assert sum(float(r["bookings"]) for r in october["reps"].values()) == expected
    assert october["team"]["sales"]["deals_won"] == 1200
    # And equal to a rebuild from position 1 of the same log.
    svc.cli("rebuild", check=True)
    assert figures(svc, "standings", "--period", "2026-10") == october
    assert figures(svc, "standings", "--period", "2026-08")["reps"]["zhang"]["total"] == "17800.00"


# --- the same property without processes: a projector abandoned at any batch boundary ---

def _seed_log(data_dir: Path) -> int:
    events = [decode_event(line) for line in SEED.read_bytes().splitlines() if line.strip()]
    extra = [decode_event(json.dumps(e)) for batch in _signed_batches(3, 20) for e in batch]
    with EventLog(data_dir / "log.sqlite") as log:
        log.append(events)
        log.append(extra)
        return log.last_position()


def _all_docs(data_dir: Path) -> dict:
    """Every document as a reader sees it (ReadStore.doc), keyed by (kind, period, key)."""
    with ReadStore.open_current(data_dir) as store:
        keys = store._db.execute("SELECT kind, period, key FROM docs").fetchall()
        return {key: msgspec.to_builtins(store.doc(*key)) for key in keys}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    data = tmp_path_factory.mktemp("whole")
    head = _seed_log(data)
    catchup, _ = open_projection(data)
    catchup.run_until(head)
    catchup.store.close()
    return head, _all_docs(data)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.integers(1, 40), kill_after=st.integers(0, 6))
@example(batch=31, kill_after=5)  # once left a statement with the Q4 rank awards of an earlier batch
def test_projector_abandoned_mid_run_resumes_to_identical_read_models(tmp_path_factory, uninterrupted, batch,
                                                                       kill_after):
    head, expected = uninterrupted
    data = tmp_path_factory.mktemp("killed")
    assert _seed_log(data) == head
    catchup, _ = open_projection(data)
    catchup.batch = batch
    for _ in range(kill_after):  # commit a few live batches, then drop everything unclosed
        changes = catchup.step()
        if changes is None:
            break
        from services.project.projector import documents

        catchup.store.write(documents(catchup.projection, changes), changes.position)
    del catchup
    resumed, _ = open_projection(data)
    assert isinstance(resumed, Catchup)
    resumed.run_until(head)
    resumed.store.close()
    got = _all_docs(data)
    assert got.keys() == expected.keys()
    assert got == expected


def test_a_period_new_to_the_store_gets_every_reps_statement(tmp_path):
    """August becomes known through a's deal alone; b, active all along, must still have an
    August statement (as a rebuild would write it), not only the reps the batch touched."""
    from fold_helpers import decode, ev

    first = decode([
        ev("rep.onboarded", "2026-07-01T09:00:00", rep_id="a", name="A", team="sales", region="East"),
        ev("rep.onboarded", "2026-07-01T09:00:00", rep_id="b", name="B", team="sales", region="East"),
        ev("deal.created", "2026-07-02T10:00:00", deal_id="D1", rep_id="a", customer_id="C1", product_line="A",
           amount="1000"),
        ev("deal.created", "2026-07-03T10:00:00", deal_id="D2", rep_id="b", customer_id="C2", product_line="A",
           amount="2000"),
    ])
    later = decode([ev("deal.won", "2026-08-05T10:00:00", deal_id="D1")])
    with EventLog(tmp_path / "log.sqlite") as log:
        log.append(first)
    catchup, _ = open_projection(tmp_path)
    catchup.run_until(4)
    with EventLog(tmp_path / "log.sqlite") as log:
        log.append(later)
    changes = catchup.run_until(5)
    catchup.store.close()
    assert changes.reps == {"a"} and "2026-08" in changes.periods
    with ReadStore.open_current(tmp_path) as store:
        b = store.statement("2026-08", "b")
        assert b is not None and (b.bookings, b.deals) == ("0.00", [])
        assert store.statement("2026-08", "a").bookings == "1000.00"


def test_read_models_are_a_separate_file_from_the_log(uninterrupted, tmp_path):
    head, _ = uninterrupted
    _seed_log(tmp_path)
    catchup, store_file = open_projection(tmp_path)
    catchup.run_until(head)
    assert store_file.parent.name == "readmodels" and store_file != tmp_path / "log.sqlite"
    with sqlite3.connect(tmp_path / "log.sqlite") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "docs" not in tables


def test_tables_for_people_and_one_line_errors(service):
    import_seed(service)
    table = service.cli("standings", "--period", "2026-08", check=True).stdout
    assert "小张" in table and "17,800.00" in table and "yellow" in table
    funnel = service.cli("funnel", "--period", "2026-08", check=True).stdout
    assert "negotiation" in funnel and "referral" in funnel
    statement = service.cli("statement", "--rep", "wang", "--period", "2026-08", check=True).stdout
    assert "region North reached 110.0%" in statement
    unmatched = figures(service, "unmatched")
    assert unmatched["count"] == 0 and unmatched["position"] >= 37
    # No --period: the latest month begun (the seed ends in September; the clock is later),
    # never the quarter "2026-Q3", which is 7 characters too.
    assert figures(service, "standings")["period"] == "2026-09"
    missing = service.cli("standings", "--period", "2031-01")
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "2031-01" in missing.stderr


def test_close_and_replay_name_the_rulesets_the_read_models_were_built_with(tmp_path):
    from services.audit.common import plan_ref
    from services.project.projector import rebuild

    head = _seed_log(tmp_path)
    catchup, _ = open_projection(tmp_path)
    catchup.run_until(head)
    catchup.store.close()
    (tmp_path / "rulesets").mkdir()
    shutil.copy(COLLECTED, tmp_path / "rulesets")
    # The folder changed, the read models did not: they still stand on seed-table3.
    assert plan_ref(tmp_path, "2026-08")["id"] == "seed-table3"
    rebuild(tmp_path)
    assert plan_ref(tmp_path, "2026-08")["id"] == "seed-table3-collected"


def _serve(make_service, tmp_path, ruleset: Path, events: list[dict]):
    """A service governed by `ruleset` with `events` imported over NATS and projected."""
    data = tmp_path / "data0"
    (data / "rulesets").mkdir(parents=True)
    shutil.copy(ruleset, data / "rulesets")
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))
    svc = make_service()
    assert f"accepted {len(events)}" in svc.cli("import", str(path), check=True).stdout
    wait_until(lambda: caught_up(svc, len(events)), 20, what=f"the projector at position {len(events)}")
    return svc


def test_renewal_on_collections_through_the_service(make_service, tmp_path):
    """Renewal on a collections basis end to end (worked by hand in test_fold_renewal_team.py):
    the renewal deals close in February and pay nothing then; March pays the renewal line
    on what was collected on them: a 0.5 × 5% × 60,000 = 1,500, b 0.5 × 5% × 20,000 = 500."""
    from test_fold_renewal_team import RENEWAL_COLLECTIONS, renewal_events

    svc = _serve(make_service, tmp_path, RENEWAL_COLLECTIONS, renewal_events())
    assert figures(svc, "statement", "--rep", "a", "--period", "2026-02")["statement"] == []
    march = figures(svc, "standings", "--period", "2026-03")
    assert march["ruleset"]["id"] == "renewal-collections-test"
    assert [(x["component"], x["amount"]) for x in march["reps"]["a"]["statement"]] == [
        ("tiered", "5000.00"), ("renewal", "1500.00")]
    assert [(x["component"], x["amount"]) for x in march["reps"]["b"]["statement"]] == [
        ("tiered", "1000.00"), ("renewal", "500.00")]


def test_team_scope_awards_through_the_service(make_service, tmp_path):
    """`[[incentive.team_awards]] scope = "team"` end to end (worked by hand in
    test_fold_renewal_team.py): team alpha at 110% pays 500 + 1,000 to each active member."""
    from test_fold_renewal_team import TEAM_AWARDS, team_events

    svc = _serve(make_service, tmp_path, TEAM_AWARDS, team_events())
    august = figures(svc, "standings", "--period", "2026-08")
    assert august["ruleset"]["id"] == "team-awards-test"
    assert {rep: r["total"] for rep, r in august["reps"].items()} == {
        "a": "1500.00", "b": "1500.00", "c": "1500.00", "d": "0.00", "e": "0.00", "f": "1500.00"}
    statement = figures(svc, "statement", "--rep", "c", "--period", "2026-08")
    assert [(x["component"], x["amount"]) for x in statement["statement"]] == [
        ("team_awards", "500.00"), ("team_awards", "1000.00")]
