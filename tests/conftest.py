"""Shared fixtures: a real `quotaboard up` (embedded nats-server) on a temp data dir.

The tests are in three folders, so `pytest tests/unit` answers in seconds while working:
`unit/` (pure: no file, no process), `integration/` (real SQLite files, a real
nats-server, the CRM adapters' verification and translation), `e2e/` (a running
`quotaboard up`, the demo, kills and clusters). Helpers they share are in `support/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import settings

# No per-example deadline: two test workers share two cores with nats-servers and
# Chromium, so one example can take 400 ms for reasons that are not the code's (a
# hypothesis deadline then fails a correct property). Speed is measured in bench/.
settings.register_profile("quotaboard", deadline=None)
settings.load_profile("quotaboard")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "support"))
# The worked histories of the unit tests (tests/unit/test_fold_*.py) are replayed through
# the running service by e2e tests, and the adapters' samples by the backfill tests:
# importable by module name whichever test runs alone.
sys.path[1:1] = [str(HERE / "unit"), str(HERE / "integration")]

from natsutil import Service  # noqa: E402


@pytest.fixture(scope="session")
def stopping():
    """Services told to stop (SIGINT) at a test's teardown, waited for at the end of the
    session: their drain and exit (2-3 s each) overlap the next tests instead of adding
    up. One that does not stop still fails the run, at the end."""
    pending: list[Service] = []
    yield pending
    failures = []
    for svc in pending:
        try:
            svc.stop()
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, failures


@pytest.fixture(scope="module")
def service(tmp_path_factory, stopping):
    """One running service shared by a test module (start-up costs about a second)."""
    svc = Service(tmp_path_factory.mktemp("svc") / "data").start()
    yield svc
    svc.stop_soon()
    stopping.append(svc)


@pytest.fixture
def make_service(tmp_path, stopping):
    """Start dedicated services (for tests that kill or stop things); all torn down after."""
    started: list[Service] = []

    def make(**kw) -> Service:
        svc = Service(tmp_path / f"data{len(started)}", **kw)
        started.append(svc)
        return svc.start()

    yield make
    for svc in started:
        svc.stop_soon()
    stopping.extend(started)
