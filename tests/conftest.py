"""Shared fixtures: a real `quotaboard up` (embedded nats-server) on a temp data dir."""

from __future__ import annotations

import pytest
from natsutil import Service


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """One running service shared by a test module (start-up costs about a second)."""
    svc = Service(tmp_path_factory.mktemp("svc") / "data").start()
    yield svc
    svc.stop()


@pytest.fixture
def make_service(tmp_path):
    """Start dedicated services (for tests that kill or stop things); all torn down after."""
    started: list[Service] = []

    def make(**kw) -> Service:
        svc = Service(tmp_path / f"data{len(started)}", **kw)
        started.append(svc)
        return svc.start()

    yield make
    for svc in started:
        svc.stop()
