"""The one way events enter the system: publish canonical events to the SALES stream.

The gateway, `quotaboard import` and the CRM adapters all call `publish_events`. Each
event goes to `sales.events.<type>` with `Nats-Msg-Id` = its id (JetStream's duplicate
window drops a re-publish) and the canonical bytes of `encode_event` as payload. The
publishes are pipelined (`js.publish_async`) and the call returns only when JetStream has
acknowledged every one, so a 202 means "durably in the stream".
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import nats.errors
import nats.js.errors

from schemas.events import Event, encode_event, event_type
from services.broker import STREAM, SUBJECT_PREFIX, BrokerUnavailable

ACK_TIMEOUT = 5.0  # seconds for the whole batch's acknowledgements


@dataclass(frozen=True)
class PublishResult:
    accepted: int
    duplicates: int


async def publish_events(js, events: list[Event], *, timeout: float = ACK_TIMEOUT) -> PublishResult:
    """Publish `events` in order, pipelined; wait for every PubAck.

    Returns how many were accepted (all of them) and how many of those JetStream reported
    as duplicates. Raises BrokerUnavailable if the connection is down, an ack does not
    arrive within `timeout` seconds, or JetStream refuses a message; the caller may retry
    the same events safely (the ids make it idempotent).
    """
    if not events:
        return PublishResult(0, 0)
    nc = js._nc
    if not nc.is_connected:
        raise BrokerUnavailable("not connected to the broker")
    futures: list[asyncio.Future] = []

    async def pipeline() -> list:
        # One timeout around the whole pipeline: a per-publish `wait_stall` costs a
        # wait_for per message (measured 5x slower).
        for event in events:
            futures.append(await js.publish_async(
                SUBJECT_PREFIX + event_type(event),
                encode_event(event),
                headers={"Nats-Msg-Id": event.id, "Nats-Expected-Stream": STREAM},
            ))
        return await asyncio.gather(*futures)

    try:
        acks = await asyncio.wait_for(pipeline(), timeout)
    except TimeoutError:
        raise BrokerUnavailable(f"the broker did not acknowledge within {timeout:.0f}s") from None
    except nats.js.errors.NoStreamResponseError:
        raise BrokerUnavailable(f"no stream {STREAM} answers on {SUBJECT_PREFIX}>") from None
    except nats.js.errors.TooManyStalledMsgsError:
        raise BrokerUnavailable("too many unacknowledged publishes; the broker is stalled") from None
    except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
        raise BrokerUnavailable(f"publish failed: {exc or type(exc).__name__}") from None
    finally:
        for fut in futures:
            if not fut.done():
                fut.cancel()
            elif not fut.cancelled():
                fut.exception()  # retrieved, so asyncio does not warn
    duplicates = sum(1 for ack in acks if ack.duplicate)
    return PublishResult(accepted=len(acks), duplicates=duplicates)
