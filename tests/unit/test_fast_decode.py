"""schemas/fast.py mirrors the public event Structs for the projector's trusted decode.

A mirror can drift: a field added to the contract in schemas/events.py but not here
would be silently dropped by every rebuild. These tests tie the two together.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest

from schemas import events as ev
from schemas import fast

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT.parent / "shared" / "examples" / "seed-table1.jsonl"

# What the trusted decode deliberately leaves out of the envelope (not used by the fold).
SKIPPED_ENVELOPE = {"source"}


def _fields(cls: type) -> dict[str, object]:
    info = msgspec.inspect.type_info(cls)
    return {f.name: f.default for f in info.fields}


def _data_cls(cls: type) -> type:
    (data,) = [f for f in msgspec.inspect.type_info(cls).fields if f.name == "data"]
    return data.type.cls


@pytest.mark.parametrize("fast_cls", fast.FAST_TYPES, ids=lambda c: c.__struct_config__.tag)
def test_mirror_has_the_public_fields_and_defaults(fast_cls):
    public_cls = fast.PUBLIC[fast_cls]
    assert fast_cls.__struct_config__.tag == public_cls.__struct_config__.tag
    public_env = {k: v for k, v in _fields(public_cls).items() if k not in SKIPPED_ENVELOPE}
    assert _fields(fast_cls).keys() == public_env.keys()
    assert _fields(_data_cls(fast_cls)) == _fields(_data_cls(public_cls))


def _stored_payloads() -> list[bytes]:
    sys.path.insert(0, str(ROOT / "bench"))
    from orggen import generate

    events = [ev.decode_event(line) for line in SEED.read_bytes().splitlines() if line.strip()]
    events += list(generate(3_000, reps=10, months=2))
    events.append(ev.decode_event(b'{"id": "u1", "type": "deal.updated", "occurred_at": "2026-08-02T10:00:00+08:00",'
                                  b' "data": {"deal_id": "D1", "amount": "12.50", "kind": "renewal"}}'))
    return [ev.encode_event(e) for e in events]


def test_trusted_decode_equals_the_public_decode_on_stored_payloads():
    payloads = _stored_payloads()
    seen = set()
    for position, got in fast.decode_rows(enumerate(payloads, 1)):
        public = ev.decode_event(payloads[position - 1])
        tag = public.__struct_config__.tag
        seen.add(tag)
        assert fast.PUBLIC.get(type(got), type(got)) is type(public)
        for name in _fields(type(got)):
            if name != "data":
                assert getattr(got, name) == getattr(public, name), (tag, name)
        assert msgspec.structs.asdict(got.data) == msgspec.structs.asdict(public.data), tag
    assert fast.FAST_TAGS <= seen  # every mirrored type was exercised
