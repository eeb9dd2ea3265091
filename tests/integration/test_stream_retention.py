"""The SALES stream is a transport buffer: its messages expire after `stream_max_age_days`
(a real nats-server from the wheel; the setting from the environment as `up` reads it)."""

from __future__ import annotations

import asyncio

import nats as natspy
import pytest
from natsutil import NatsServer

from services.config import ConfigError, load_settings
from services.runtime.broker import DAY, STREAM, ensure_stream


async def _max_age_after(server: NatsServer, *calls: float) -> list[float]:
    nc = await natspy.connect(server.url, user=server.user, password=server.password)
    try:
        js = nc.jetstream()
        seen = []
        for days in calls:
            await ensure_stream(js, 1, days)
            seen.append((await js.stream_info(STREAM)).config.max_age or 0)
        return seen
    finally:
        await nc.close()


def test_stream_created_with_the_max_age_and_updated_when_it_changes(tmp_path):
    server = NatsServer(tmp_path / "nats").start()
    try:
        default = load_settings(tmp_path, env={}).stream_max_age_days
        short = load_settings(tmp_path, env={"QUOTABOARD_STREAM_MAX_AGE_DAYS": "0.5"}).stream_max_age_days
        seen = asyncio.run(_max_age_after(server, default, short, short, 0))
    finally:
        server.stop()
    assert seen == [14 * DAY, 0.5 * DAY, 0.5 * DAY, 0]  # 0: kept forever


@pytest.mark.parametrize("raw", ["-1", "week"])
def test_a_bad_max_age_is_refused_naming_the_setting(tmp_path, raw):
    with pytest.raises(ConfigError, match="stream_max_age_days"):
        load_settings(tmp_path, env={"QUOTABOARD_STREAM_MAX_AGE_DAYS": raw})
