"""The recorder's intake rides on nats-py internals, on purpose (docs/decisions.md, "The
recorder keeps its nats-py hook"): `services.record.recorder.Puller` replaces the connection's
private `Client._process_msg` and reads the subscription's private `_id`, and expects the
protocol parser to hand it raw bytes (subject, reply, payload, and the header block
`NATS/1.0 ...`, whose first line carries a status). None of that is nats-py's public
contract, so an upgrade may move it without notice. These tests say what moved, against
a real nats-server: the signature the hook wraps, messages arriving through the hook as
`(subject, reply, data)` bytes, the status that ends a pull request recognised, and every
other subscription of the connection (core, request/reply, JetStream fetch) untouched.
"""

from __future__ import annotations

import asyncio
import inspect
import json

import nats
import nats.aio.client
from natsutil import NatsServer, event

from schemas.events import decode_event, encode_event
from services.ingest.publish import publish_events
from services.record.recorder import DURABLE, Puller, _seqs, consumer_config
from services.runtime.broker import STREAM, ensure_stream

NATS_PY = f"nats-py {nats.aio.client.__version__}"
WRAPPED = ["self", "sid", "subject", "reply", "data", "headers"]
FIX = (
    "services.record.recorder.Puller must follow it, or move to the public API "
    "(bench/intake_paths.py measures what that costs)"
)


async def wait_for(predicate, what, timeout: float = 5.0) -> None:
    """Wait until predicate(); else fail saying `what` (a string, or a function giving one)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, what() if callable(what) else what
        await asyncio.sleep(0.02)


def test_the_wrapped_method_has_the_signature_the_hook_expects():
    method = nats.aio.client.Client.__dict__.get("_process_msg")
    assert method is not None, f"{NATS_PY} has no Client._process_msg any more: {FIX}"
    signature = inspect.signature(method)
    assert list(signature.parameters) == WRAPPED, (
        f"{NATS_PY} changed Client._process_msg to {signature}; Puller._intercept takes "
        f"{inspect.signature(Puller._intercept)}: {FIX}"
    )
    assert all(
        p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty
        for p in signature.parameters.values()
    ), f"{NATS_PY}: Client._process_msg{signature}: {FIX}"
    assert inspect.iscoroutinefunction(method), (
        f"{NATS_PY}: Client._process_msg is no longer a coroutine: {FIX}"
    )
    assert list(inspect.signature(Puller._intercept).parameters) == WRAPPED


class QuickPuller(Puller):
    EXPIRES = 0.5  # its pull request expires soon, so the test sees the status that ends it


async def test_messages_arrive_through_the_hook_and_the_connection_serves_the_rest(tmp_path):
    server = NatsServer(tmp_path / "nats").start()
    nc = await nats.connect(server.url, user=server.user, password=server.password)
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        await js.add_consumer(STREAM, config=consumer_config(10))
        events = [decode_event(json.dumps(event(i, "hook"))) for i in range(3)]
        await publish_events(js, events)  # with Nats-Msg-Id headers, as the gateway publishes
        original = nc._process_msg

        puller = QuickPuller(nc, batch=10, window=10)  # one request for 10; 3 are there
        await puller.start()
        assert nc._process_msg == puller._intercept
        assert puller.sid in nc._subs and nc._subs[puller.sid] is puller.sub, (
            f"{NATS_PY}: Subscription._id is not the key of Client._subs any more: {FIX}"
        )
        await wait_for(
            lambda: len(puller.buffer) >= 3,
            lambda: (
                f"{NATS_PY}: the Puller got {puller.buffer!r} through the wrapped Client._process_msg, "
                f"not the 3 stream messages: does the parser still call nc._process_msg? {FIX}"
            ),
        )
        await wait_for(
            lambda: puller.owed == 0,
            lambda: (
                f"{NATS_PY}: the 408 status ending the pull request was not recognised (owed "
                f"{puller.owed}); the hook expects the raw header block b'NATS/1.0 408 ...': {FIX}"
            ),
        )
        msgs = await puller.take(1.0)
        assert all(isinstance(part, bytes) for msg in msgs for part in msg), (
            f"{NATS_PY}: the parser no longer hands bytes to Client._process_msg: {msgs[:1]!r}: {FIX}"
        )
        assert [(subject, data) for subject, _reply, data in msgs] == [
            (b"sales.events.customer.created", encode_event(e)) for e in events
        ]
        assert [_seqs(reply)[0] for _subject, reply, _data in msgs] == [1, 2, 3]
        assert all(
            reply.startswith(f"$JS.ACK.{STREAM}.{DURABLE}.".encode()) for _s, reply, _d in msgs
        )

        # The rest of the connection goes through nats-py unchanged while the hook is in.
        probes = []

        async def probe(msg):
            probes.append(msg)

        await nc.subscribe("hook.probe", cb=probe)
        await nc.publish("hook.probe", b"ping", headers={"X-Probe": "1"})
        await wait_for(lambda: probes, "a core subscription beside the hook got nothing")
        assert (probes[0].data, probes[0].headers) == (b"ping", {"X-Probe": "1"})
        await nc.publish(msgs[-1][1].decode(), b"")  # AckAll, as the recorder acks
        await nc.flush()
        for _ in range(50):  # consumer_info is a request/reply through nats-py's inbox
            if (await js.consumer_info(STREAM, DURABLE)).ack_floor.stream_seq == 3:
                break
            await asyncio.sleep(0.02)
        assert (await js.consumer_info(STREAM, DURABLE)).ack_floor.stream_seq == 3
        other = await js.pull_subscribe("sales.events.>", durable="other", stream=STREAM)
        fetched = await other.fetch(3, timeout=5)
        assert [(m.data, m.headers["Nats-Msg-Id"]) for m in fetched] == [
            (encode_event(e), e.id) for e in events
        ]

        await puller.stop()
        assert nc._process_msg == original
    finally:
        await nc.close()
        server.stop()
