"""The service's roles, defined once: what `up` starts as child processes
(`quotaboard run-role NAME`) and what the single-role commands (`quotaboard gateway`,
`recorder`, `projector`, as docker-compose runs them) run in their own process. The wall
(services/wall) is a role of its own: its own port, so pay is never served on the
gateway's listener that CRMs reach (docs/decisions.md).

Each `run` imports its stage when it starts, so a child loads only its own stage (the
gateway's uvicorn, the projector's fold), not every role's.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass

from services.config import Settings


def _run_gateway(settings: Settings) -> None:
    from services.ingest.gateway import serve

    serve(settings)


def _run_recorder(settings: Settings) -> None:
    from services.record.recorder import run_recorder

    asyncio.run(run_recorder(settings))


def _run_wall(settings: Settings) -> None:
    from services.wall.server import serve

    serve(settings)


def _run_projector(settings: Settings) -> None:
    from services.project.notices import NoticePublisher
    from services.project.projector import run_projector

    async def main() -> None:
        notices = lambda: NoticePublisher.connect(settings)  # noqa: E731
        task = asyncio.ensure_future(run_projector(settings.data_dir, connect=notices))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())


@dataclass(frozen=True)
class Role:
    name: str
    run: Callable[[Settings], None]
    in_up: bool = True
    optional: bool = False
    module: str | None = None  # imported before starting, for optional roles
    stop_order: int = 1  # lower stops first


ROLES: dict[str, Role] = {
    "gateway": Role("gateway", _run_gateway, stop_order=0),
    "recorder": Role("recorder", _run_recorder, stop_order=1),
    "projector": Role("projector", _run_projector, optional=True, module="services.project.projector", stop_order=2),
    # the performance wall: read-only, its own port (wall_http); stops first, it only reads
    "wall": Role("wall", _run_wall, stop_order=0),
}
