"""The trust boundary and the host's share of it (issue 12, items 3 and 9).

The webhook secret admits facts; `ruleset.applied` and `period.closed` need the
operator's secret (403 otherwise, nothing stored); a `ruleset.applied` must carry its
TOML's hash. Files are the owner's only, the broker's monitoring port is off unless
asked for, a body must arrive within `body_timeout`, an empty secret is an error.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import subprocess
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from faultutil import log_ids as _log_ids
from natsutil import (
    QUOTABOARD,
    REPO,
    Service,
    event,
    free_port,
    new_secret,
    signed_headers,
    wait_until,
)

from projections.rulesets import content_hash
from services.config import ConfigError, load_settings, private_dir, secrets_path

SEED_TOML = (REPO / "rulesets" / "seed-table3.toml").read_text(encoding="utf-8")
SEED_HASH = content_hash(SEED_TOML.encode())
PAY_90 = SEED_TOML.replace('rate = "0.02"', 'rate = "0.90"')  # the rewrite of the plan


@pytest.fixture(scope="module")
def svc(tmp_path_factory, stopping):
    s = Service(
        tmp_path_factory.mktemp("trust") / "data",
        env={"QUOTABOARD_BODY_TIMEOUT": "1", "QUOTABOARD_MAX_CONNECTIONS": "20"},
    ).start()
    yield s
    s.stop_soon()
    stopping.append(s)


def operator_secret(svc) -> str:
    return tomllib.loads(secrets_path(svc.data_dir).read_text())["operator_secret"]


def close_event(eid: str, period: str = "2026-08") -> dict:
    return {
        "id": eid,
        "type": "period.closed",
        "occurred_at": "2026-09-01T09:00:00+08:00",
        "source": "test",
        "data": {"period": period},
    }


def applied_event(eid: str, toml: str = SEED_TOML, claimed: str | None = None) -> dict:
    return {
        "id": eid,
        "type": "ruleset.applied",
        "occurred_at": "2026-09-01T09:00:00+08:00",
        "source": "test",
        "data": {
            "period": "2026-08",
            "ruleset": {"id": "seed-table3", "hash": claimed or content_hash(toml.encode())},
            "toml": toml,
        },
    }


def post(svc, body, secret: str):
    raw = json.dumps(body).encode()
    return svc.client.post("/v1/events", content=raw, headers=signed_headers(secret, raw))


def log_ids(data_dir: Path) -> list[str]:
    """The log's ids; none while the recorder has not made the log yet."""
    try:
        return _log_ids(data_dir)
    except sqlite3.OperationalError:
        return []


def stored_after_marker(svc, marker: str) -> list[str]:
    """The log's ids once a fact posted after everything else is in it (what was refused
    before it would be stored by now, were it ever to be)."""
    assert post(svc, [event(marker, "mark")], svc.secret).status_code == 202
    wait_until(lambda: f"mark-{marker}" in log_ids(svc.data_dir), 10, what="the marker in the log")
    return log_ids(svc.data_dir)


# --- the operator's credential ---------------------------------------------------------


def test_up_generates_the_operator_secret_beside_the_webhook_secret(svc):
    path = secrets_path(svc.data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    held = tomllib.loads(path.read_text())
    assert held["operator_secret"].startswith("whsec_") and held["operator_secret"] != svc.secret
    assert "webhook_secret" not in held  # given by the environment: not written


@pytest.mark.parametrize(
    "body, path",
    [
        (close_event("w-close"), "$.type"),
        (applied_event("w-apply"), "$.type"),
        (applied_event("w-pay90", PAY_90, SEED_HASH), "$.type"),
        ([event("w-fact", "w"), close_event("w-close2", "2026-07")], "$[1].type"),
    ],
)
def test_privileged_types_signed_with_the_webhook_secret_are_refused_whole(svc, body, path):
    r = post(svc, body, svc.secret)
    assert r.status_code == 403, r.text
    answer = r.json()
    assert answer["path"] == path
    kind = (body[-1] if isinstance(body, list) else body)["type"]
    assert kind in answer["error"] and "operator" in answer["error"]
    ids = {e["id"] for e in (body if isinstance(body, list) else [body])}
    assert not ids & set(stored_after_marker(svc, f"after-{kind}-{len(ids)}"))


def test_the_operator_secret_admits_closes_and_rulesets(svc):
    body = [close_event("o-close", "2026-06"), applied_event("o-apply"), event("o-fact", "o")]
    r = post(svc, body, operator_secret(svc))
    assert r.status_code == 202, r.text
    wait_until(
        lambda: {"o-close", "o-apply", "o-o-fact"} <= set(log_ids(svc.data_dir)),
        10,
        what="the three events",
    )


@pytest.mark.parametrize(
    "body, path",
    [
        (applied_event("o-pay90", PAY_90, SEED_HASH), "$.data.ruleset.hash"),
        (
            [event("o-fact2", "o"), applied_event("o-pay90b", PAY_90, SEED_HASH)],
            "$[1].data.ruleset.hash",
        ),
    ],
)
def test_a_ruleset_whose_hash_is_not_its_toml_is_refused(svc, body, path):
    r = post(svc, body, operator_secret(svc))
    assert r.status_code == 400, r.text
    assert r.json()["path"] == path and content_hash(PAY_90.encode()) in r.json()["error"]
    ids = {e["id"] for e in (body if isinstance(body, list) else [body])}
    assert not ids & set(stored_after_marker(svc, f"after-hash-{len(ids)}"))


def test_import_takes_closes_and_rulesets_and_rejects_a_false_hash(svc, tmp_path):
    history = tmp_path / "history.jsonl"
    lines = [
        close_event("i-close", "2026-05"),
        applied_event("i-apply"),
        applied_event("i-pay90", PAY_90, SEED_HASH),
    ]
    history.write_text("".join(json.dumps(e) + "\n" for e in lines))
    res = svc.cli("import", str(history), "--json")
    assert res.returncode == 1, res.stderr
    out = json.loads(res.stdout)
    assert (out["accepted"], out["rejected"]) == (2, 1)
    assert (
        out["rejections"][0]["line"] == 3 and out["rejections"][0]["path"] == "$.data.ruleset.hash"
    )
    wait_until(
        lambda: {"i-close", "i-apply"} <= set(log_ids(svc.data_dir)), 10, what="the imported events"
    )
    assert "i-pay90" not in log_ids(svc.data_dir)


# --- slow bodies ---------------------------------------------------------------------------


def slow_request(svc) -> socket.socket:
    """Validly signed headers announcing a 100-byte body, then 10 bytes of it, and nothing more."""
    body = json.dumps([event("slow", "s")]).encode().ljust(100)
    head = "".join(f"{k}: {v}\r\n" for k, v in signed_headers(svc.secret, body).items())
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
    s.sendall(
        f"POST /v1/events HTTP/1.1\r\nhost: x\r\n{head}content-length: 100\r\n\r\n".encode()
        + body[:10]
    )
    return s


def read_all(s: socket.socket) -> bytes:
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_body_that_does_not_arrive_in_time_is_cut_with_408(svc):
    started = time.monotonic()
    with slow_request(svc) as s:
        answer = read_all(s)  # ends: the gateway closed the connection
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"body not received within 1 seconds" in answer
    assert 0.9 <= elapsed < 5, elapsed


@pytest.mark.parametrize("opening", [b"", b"POST /v1/events HTTP/1.1\r\nhost: x\r\n"])
def test_a_connection_whose_request_does_not_begin_in_time_is_closed(svc, opening):
    """Nothing sent at all, or headers never finished: closed after body_timeout (1 s)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", svc.port), timeout=10) as s:
        s.sendall(opening)
        assert read_all(s) == b""
    assert time.monotonic() - started < 4


def test_slow_connections_are_bounded_and_cut(svc):
    """max_connections (20 here) slow senders at most are kept, and only for body_timeout;
    the rest are answered 503 at once; the gateway serves again right after."""
    started = time.monotonic()
    conns = [slow_request(svc) for _ in range(40)]
    try:
        answers = [read_all(s) for s in conns]
    finally:
        for s in conns:
            s.close()
    statuses = [a.split(b" ", 2)[1] for a in answers]
    assert statuses.count(b"503") >= 20 and set(statuses) <= {b"408", b"503"}, statuses
    assert time.monotonic() - started < 6
    assert post(svc, [event("after-slow", "s")], svc.secret).status_code == 202


# --- files ---------------------------------------------------------------------------------


def test_every_file_of_the_service_is_the_owners_only(svc):
    from services.project.readstore import current_path

    wait_until(lambda: current_path(svc.data_dir), 20, what="the read models")
    assert stat.S_IMODE(svc.data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((svc.data_dir / "log.sqlite").stat().st_mode) == 0o600
    loose = [
        f"{p} {oct(stat.S_IMODE(p.lstat().st_mode))}"
        for p in svc.data_dir.rglob("*")
        if not p.is_symlink() and p.lstat().st_mode & 0o077
    ]
    assert loose == []


def test_log_and_read_models_are_created_0600_whatever_the_umask(tmp_path):
    from events.log import EventLog
    from services.project.readstore import ReadStore, new_store_path

    old = os.umask(0o022)
    try:
        EventLog(tmp_path / "d" / "log.sqlite").close()
        store = ReadStore(new_store_path(tmp_path / "d"), writer=True)
        store.close()
    finally:
        os.umask(old)
    for path in [tmp_path / "d" / "log.sqlite", *tmp_path.rglob("readmodels-*.sqlite")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_data_dir_made_by_an_older_version_is_tightened(tmp_path):
    folder = tmp_path / "var"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    private_dir(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


# --- the broker's monitoring port -------------------------------------------------------------


def listening_ports(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:
                ports.add(int(cols[1].split(":")[1], 16))
    return ports


def test_monitoring_port_is_off_unless_asked_for(tmp_path):
    from services.runtime.broker import EmbeddedBroker, read_runtime

    with EmbeddedBroker(tmp_path / "off") as broker:
        assert listening_ports(broker.proc.pid) == {broker.port}  # no /connz, /jsz anywhere
        assert "monitor_url" not in read_runtime(tmp_path / "off")
        assert "\nhttp:" not in (broker.dir / "nats-server.conf").read_text()
    port = free_port()
    settings = load_settings(tmp_path / "on", env={"QUOTABOARD_NATS_MONITOR": f"127.0.0.1:{port}"})
    with EmbeddedBroker(tmp_path / "on", monitor=settings.nats_monitor) as broker:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/connz", timeout=5) as resp:
            assert resp.status == 200


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["webhook_secret", "operator_secret", "nats_password"])
def test_an_empty_secret_is_refused_naming_the_setting(tmp_path, key):
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env={f"QUOTABOARD_{key.upper()}": ""})
    assert key in str(info.value) and f"QUOTABOARD_{key.upper()}" in str(info.value)
    (tmp_path / "config.toml").write_text(f'{key} = ""\n')
    with pytest.raises(ConfigError, match=key):
        load_settings(tmp_path, env={})


def test_the_operator_secret_must_differ_from_the_webhook_secret(tmp_path):
    same = new_secret()
    with pytest.raises(ConfigError, match="operator secret equals the webhook secret"):
        load_settings(
            tmp_path, env={"QUOTABOARD_WEBHOOK_SECRET": same, "QUOTABOARD_OPERATOR_SECRET": same}
        )


def test_up_with_an_empty_webhook_secret_stops_before_generating_one(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "QUOTABOARD_WEBHOOK_SECRET": ""}
    res = subprocess.run(
        [*QUOTABOARD, "up", "--data", str(data), "--http", f"127.0.0.1:{free_port()}"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
    )
    assert res.returncode == 1
    assert "webhook_secret is set but empty by QUOTABOARD_WEBHOOK_SECRET" in res.stderr
    assert not secrets_path(data).exists()
