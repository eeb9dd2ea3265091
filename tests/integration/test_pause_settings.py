"""The two pauses a test may shorten: `restart_backoff` (the supervisor's first pause
before restarting a dead role) and `ack_wait` (how long the broker waits before it
redelivers what a dead recorder held). Production keeps 0.5 s and 5 s."""

from __future__ import annotations

import pytest

from services.config import ConfigError, load_settings
from services.record.recorder import Recorder, consumer_config


def test_the_defaults_are_production_and_the_environment_shortens_them(tmp_path):
    default = load_settings(tmp_path, env={})
    assert (default.restart_backoff, default.ack_wait) == (0.5, 5.0)
    assert consumer_config().ack_wait == 5.0
    short = load_settings(
        tmp_path, env={"QUOTABOARD_RESTART_BACKOFF": "0.05", "QUOTABOARD_ACK_WAIT": "1"}
    )
    assert (short.restart_backoff, short.ack_wait) == (0.05, 1.0)
    recorder = Recorder(short)
    assert (recorder.ack_wait, recorder.stall) == (1.0, 3.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("restart_backoff", "0"),
        ("restart_backoff", "11"),
        ("ack_wait", "0.1"),
        ("ack_wait", "soon"),
    ],
)
def test_a_pause_out_of_range_is_refused_naming_the_setting(tmp_path, key, value):
    with pytest.raises(ConfigError, match=key):
        load_settings(tmp_path, env={f"QUOTABOARD_{key.upper()}": value})
