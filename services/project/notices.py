"""Change notices over FastStream: the projector's publisher, the readers' subscription and
the AsyncAPI document of every subject quotaboard uses.

FastStream carries the messaging that is not the recorder's hot path (the recorder and
the gateway keep the plain nats-py client: pipelined JetStream publishes, manual acks
after the SQLite commit; see docs/decisions.md). A FastStream `NatsBroker` is the client
of the configured broker, with the same reconnect policy as services.runtime.broker.connect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import version

import msgspec
from faststream.nats import NatsBroker
from faststream.nats.security import NatsUserPassword
from faststream.specification import AsyncAPI

from schemas.notices import NOTICE_SUBJECT, ChangeNotice, encode_notice
from schemas.publish import HERE, render
from services.config import Settings
from services.runtime.broker import STREAM, SUBJECT_PREFIX, SUBJECTS, broker_target

log = logging.getLogger("quotaboard.notices")
ASYNCAPI_FILE = "asyncapi.json"  # every NATS subject: the events stream and the change notices


def notice_broker(settings: Settings | None, name: str, **callbacks) -> NatsBroker:
    """A FastStream broker for the configured NATS (or the embedded one under the data
    dir); reconnects forever once connected. `settings=None` gives an unconnected broker
    that only describes the subjects (the AsyncAPI document)."""
    servers, user, password = ["nats://127.0.0.1:4222"], None, None
    if settings is not None:
        servers, user, password, _ = broker_target(settings)
    security = NatsUserPassword(user, password) if user and password else None
    return NatsBroker(
        servers,
        security=security,
        name=name,
        connect_timeout=2,
        reconnect_time_wait=0.5,
        max_reconnect_attempts=-1,
        allow_reconnect=True,
        ping_interval=5,
        max_outstanding_pings=2,
        apply_types=False,
        logger=None,
        **callbacks,
    )


class NoticePublisher:
    """The projector's side: one notice per commit, never raising (figures are stored)."""

    def __init__(self, broker: NatsBroker) -> None:
        self.broker = broker
        self.publisher = broker.publisher(
            NOTICE_SUBJECT, title="change notice", description=ChangeNotice.__doc__, schema=dict
        )

    @classmethod
    async def connect(
        cls, settings: Settings, name: str = "quotaboard-projector"
    ) -> NoticePublisher:
        notices = cls(notice_broker(settings, name))
        await notices.broker.connect()
        return notices

    async def publish(self, position: int, periods: set[str], reps: set[str]) -> None:
        notice = ChangeNotice(position, sorted(periods), sorted(reps))
        try:
            await self.publisher.publish(encode_notice(notice))
        except Exception as exc:  # noqa: BLE001 - best effort, the store has the figures
            log.warning("change notice not sent: %s", exc)

    async def close(self) -> None:
        await self.broker.stop()


def subscribe_notices(broker: NatsBroker, on_notice: Callable[[ChangeNotice], None]) -> None:
    """Deliver every well-formed notice on `broker` to `on_notice`; log and drop the rest."""

    @broker.subscriber(NOTICE_SUBJECT, title="change notice follower")
    async def follow(body: object) -> None:  # FastStream has decoded the JSON already
        try:
            on_notice(msgspec.convert(body, ChangeNotice))
        except msgspec.ValidationError as exc:
            log.warning("bad change notice: %s", exc)


def asyncapi_document(version: str) -> dict:
    """Every subject quotaboard publishes or follows, with its payload's JSON Schema."""
    broker = notice_broker(None, "quotaboard")
    NoticePublisher(broker)
    subscribe_notices(broker, lambda notice: None)
    broker.publisher(
        SUBJECTS[0],
        title="canonical events",
        description=f"Stream {STREAM}: one canonical event per message, "
        f"subject {SUBJECT_PREFIX}<type>, Nats-Msg-Id = the event id; published "
        "by the gateway and import, consumed by the recorder (durable pull).",
        schema=dict,
    )
    document = (
        AsyncAPI(broker, title="quotaboard", version=version).to_specification().to_jsonable()
    )
    # FastStream derives payload schemas with pydantic, which knows no msgspec Struct:
    # point them at the published JSON Schemas generated from the Structs themselves.
    schemas = document.get("components", {}).get("schemas", {})
    for key in list(schemas):
        schemas[key] = {
            "$ref": "event.schema.json" if key.startswith("canonical") else "notice.schema.json"
        }
    return document


def main() -> int:
    """`python -m services.project.notices` (run by `make schemas`): rewrite schemas/asyncapi.json."""
    text = render(asyncapi_document(version("quotaboard")))
    path = HERE / ASYNCAPI_FILE
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
