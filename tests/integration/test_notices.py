"""Change notices over FastStream against a real nats-server: what the projector
publishes is what a follower receives; a malformed notice is dropped, not fatal."""

from __future__ import annotations

import asyncio

import nats
from natsutil import NatsServer

from schemas.notices import NOTICE_SUBJECT, ChangeNotice
from services.config import load_settings
from services.project.notices import NoticePublisher, notice_broker, subscribe_notices


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_notice_round_trip_and_a_malformed_one_is_dropped(tmp_path, monkeypatch):
    server = NatsServer(tmp_path / "nats").start()
    try:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        settings = load_settings(tmp_path / "data", nats=server.url)
        got: list[ChangeNotice] = []
        follower = notice_broker(settings, "test-follower")
        subscribe_notices(follower, got.append)
        await follower.start()
        publisher = await NoticePublisher.connect(settings)
        raw = await nats.connect(server.url, user=server.user, password=server.password)
        try:
            await raw.publish(NOTICE_SUBJECT, b'{"position": "not a number"}')
            await raw.flush()
            await publisher.publish(42, {"2026-08", "2026-Q3"}, {"li"})
            await wait_for(lambda: got)
            assert got == [ChangeNotice(42, ["2026-08", "2026-Q3"], ["li"])]
        finally:
            await raw.close()
            await publisher.close()
            await follower.stop()
    finally:
        server.stop()
