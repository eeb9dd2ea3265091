"""The wall's HTTP server: a plain ASGI app on uvicorn, like the gateway, on a port of its
own (`wall_http`, loopback by default; docs/decisions.md says why not the gateway's).

Routes: `GET /wall[?period=P]` the page (jinja2 templates in the package), `GET
/wall/events?period=P` server-sent events, `GET /wall/static/*` the page's CSS and its
one JavaScript module (vendored in the package, so the page works offline). The page and
its events need the viewer token (services.wall.access); every answer carries the
security headers, a Content-Security-Policy that allows only the package's own files.

Live: one subscription to the projector's change notices (services.project.readers.
NatsFeed, the TUI's follower, over FastStream) for the whole process. Notices arriving
within `COALESCE` seconds re-render each period they name once; what changed since the
board the period's pages show goes to every page open on it as a patch (services.wall.
patch: the changed slots' texts and attributes, the rows' new order), which the page
applies in place in its next animation frame; a page gets the whole board when it
connects, when the board's skeleton changed (a new rep, another week), or when it fell
behind. The store's position is also checked every `POLL` seconds, so figures written
while the notices were down still arrive.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from services.config import Settings
from services.project.projector import current_rulesets
from services.project.readers import NatsFeed, StoreSource
from services.wall.access import SECURITY_HEADERS, Access, without_token
from services.wall.morning import MorningRanks
from services.wall.patch import Board, BoardError, diff, read_board
from services.wall.view import wall_view

log = logging.getLogger("quotaboard.wall")
PERIOD = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$")
STATIC = {"wall.js": b"text/javascript; charset=utf-8", "wall.css": b"text/css; charset=utf-8"}
KEEPALIVE = 15.0  # seconds between SSE comments on a quiet stream
POLL = 2.0  # seconds between checks of the store's position
QUEUE = 4  # frames a slow page may fall behind before it is sent the whole board instead
COALESCE = 0.005  # seconds: notices this close together are one repaint
REFRESH = 60.0  # seconds: with no change, the open boards still repaint this often (the clock's parts)


def _frame(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@dataclass(frozen=True)
class Shown:
    """The board a period's pages show: its version, as read back for the next patch
    (None: it cannot be patched), and the frame that sends it whole."""

    version: str
    position: int
    board: Board | None
    frame: bytes


class Outbox:
    """The frames one page has yet to be sent. A page that falls `QUEUE` frames behind
    gets the connection's state and the latest whole board instead of the frames it
    missed (a patch applies only to the version it was made from, so none may be dropped)."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.ready = asyncio.Event()

    def put(self, frame: bytes, whole: bytes | None = None) -> None:
        if whole is not None and len(self.frames) >= QUEUE:
            self.frames.clear()
            frame = whole
        self.frames.append(frame)
        self.ready.set()

    async def take(self) -> bytes:
        await self.ready.wait()
        frames, self.frames = self.frames, []
        self.ready.clear()
        return b"".join(frames)


class Hub:
    """The pages open per period, and what each is sent: the whole board when a page
    connects or the board's skeleton changed, otherwise a patch (services.wall.patch)."""

    def __init__(self, render: Callable[[str], tuple[int, str]]) -> None:
        self.render = render
        self.pages: dict[str, set[Outbox]] = {}
        self.shown: dict[str, Shown] = {}
        self.state = "connecting"
        self._epoch = secrets.token_hex(4)  # a page of an earlier run gets no patch of this one
        self._versions = itertools.count(1)
        self._dirty: set[str] | None = set()
        self._flush: asyncio.TimerHandle | None = None

    def join(self, period: str) -> tuple[Outbox, bytes]:
        """A new page's outbox, and its first frame: the board its period's pages show."""
        shown = self.shown.get(period) or self._show(period)  # a failed render registers nothing
        outbox = Outbox()
        self.pages.setdefault(period, set()).add(outbox)
        return outbox, shown.frame

    def leave(self, period: str, outbox: Outbox) -> None:
        pages = self.pages.get(period, set())
        pages.discard(outbox)
        if not pages:
            self.pages.pop(period, None)
            self.shown.pop(period, None)

    def changed(self, periods: set[str] | None) -> None:
        """Repaint each open period the change names (None: every open period), once for
        the notices that arrive within `COALESCE` seconds of each other."""
        if periods is None or self._dirty is None:
            self._dirty = None
        else:
            self._dirty |= periods
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(COALESCE, self.publish)

    def publish(self) -> None:
        """Render the changed periods once each and send every page its patch."""
        dirty, self._dirty, self._flush = self._dirty, set(), None
        for period in list(self.pages):
            if dirty is None or period in dirty:
                self._publish(period)

    def _publish(self, period: str) -> None:
        before = self.shown.get(period)
        shown = self._show(period)
        patch = (
            diff(before.board, shown.board)
            if before is not None and before.board is not None and shown.board is not None
            else None
        )
        if patch is None:
            for outbox in self.pages.get(period, ()):
                outbox.put(shown.frame)
            return
        if not patch["set"] and not patch["order"]:
            self.shown[period] = before  # nothing to repaint: the pages keep their version
            return
        frame = _frame(
            "patch",
            {"base": before.version, "version": shown.version, "position": shown.position, **patch},
        )
        for outbox in self.pages.get(period, ()):
            outbox.put(frame, self.state_frame() + shown.frame)

    def _show(self, period: str) -> Shown:
        position, html = self.render(period)
        try:
            board = read_board(html)
        except BoardError as exc:  # a template that cannot be patched: whole boards only
            log.warning("the wall's board cannot be patched (%s): sending it whole", exc)
            board = None
        version = f"{self._epoch}.{next(self._versions)}"
        frame = _frame("board", {"version": version, "position": position, "html": html})
        self.shown[period] = shown = Shown(version, position, board, frame)
        return shown

    def state_frame(self) -> bytes:
        return _frame("state", {"state": self.state})

    def set_state(self, state: str) -> None:
        self.state = state
        frame = self.state_frame()
        for pages in self.pages.values():
            for outbox in pages:
                outbox.put(frame)


class Wall:
    """The ASGI app. `feed` follows the change notices (default: the projector's, over
    NATS; `follow=False`: none, the store's position only, as for a store folded in
    process)."""

    def __init__(
        self,
        settings: Settings,
        *,
        source=None,
        feed=None,
        follow: bool = True,
        clock: Callable[[], datetime] | None = None,
        poll: float = POLL,
        refresh: float = REFRESH,
    ) -> None:
        if settings.viewer_token is None:
            raise ValueError("the wall needs a viewer token (viewer_token in <data>/secrets.toml)")
        self.settings = settings
        self.access = Access(settings.viewer_token.value)
        self.source = source or StoreSource(settings.data_dir)
        if feed is None and follow:
            feed = NatsFeed(settings.data_dir, nats_url=settings.nats_url)
        self.feed = feed
        self.clock = clock or (lambda: datetime.now(UTC))
        self.poll = poll
        self.refresh = refresh
        self.tz = current_rulesets(settings.data_dir).timezone  # the business days and months
        self._tz_error: str | None = None  # why the last read of the timezone failed
        self.morning = MorningRanks(settings.data_dir)
        self.templates = Environment(
            loader=PackageLoader("services.wall", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.hub = Hub(self._render_board)
        self._tasks: list[asyncio.Task] = []
        self._seen = -1

    def view(self, period: str | None) -> dict:
        return wall_view(
            self.source, period, self.clock(), self.morning, self.settings.wall_hide_money, self.tz
        )

    def _render_board(self, period: str) -> tuple[int, str]:
        view = self.view(period)
        return view["position"], self.templates.get_template("board.html").render(view=view)

    # --- following the projector -------------------------------------------------------

    def _notice(self, notice) -> None:
        self._seen = max(self._seen, notice.position)
        self.hub.changed(set(notice.periods) if notice.periods else None)

    async def _watch_position(self) -> None:
        """Repaint on a position no notice announced, and at least every `refresh` seconds
        without one: days left, the pace marker, the time and the morning's moves follow
        the clock, and a page that connects is sent the board last painted. The rulesets'
        timezone is read again every `refresh` seconds too, busy or quiet."""
        loop = asyncio.get_running_loop()
        painted = zoned = loop.time()
        while True:
            await asyncio.sleep(self.poll)
            if loop.time() - zoned >= self.refresh:
                tz, zoned = await asyncio.to_thread(self._business_tz), loop.time()
                if tz != self.tz:
                    self.tz = tz
                    painted = -self.refresh  # repaint now, in the new timezone
            position = self.source.position()
            if position != self._seen:
                if self._seen >= 0:
                    self.hub.changed(None)
                    painted = loop.time()
                self._seen = position
            elif loop.time() - painted >= self.refresh:
                self.hub.changed(None)
                painted = loop.time()

    def _business_tz(self) -> ZoneInfo:
        """The rulesets' timezone now: a rebuild under rulesets with another timezone
        reaches open boards within `refresh` seconds, not at the wall's next start.
        Rulesets or a store that cannot be read now keep the timezone in use (the
        projector reports a broken ruleset; a store being swapped is read next time)."""
        try:
            tz = current_rulesets(self.settings.data_dir).timezone
        except Exception as exc:  # noqa: BLE001 - whatever the read fails on, the wall goes on
            if str(exc) != self._tz_error:  # said once, not every refresh while it lasts
                self._tz_error = str(exc)
                log.warning("the wall keeps the timezone %s: the rulesets do not load: %s", self.tz, exc)
            return self.tz
        self._tz_error = None
        return tz

    # --- ASGI ----------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method not in ("GET", "HEAD"):
            await _send(send, 405, b"use GET\n", b"text/plain", [(b"allow", b"GET")])
        elif path.startswith("/wall/static/") and path[len("/wall/static/") :] in STATIC:
            name = path[len("/wall/static/") :]
            body = files("services.wall").joinpath("static", name).read_bytes()
            await _send(send, 200, body, STATIC[name], [(b"cache-control", b"no-cache")])
        elif path in ("/wall", "/wall/", "/wall/events"):
            await self._guarded(scope, receive, send, events=path == "/wall/events")
        elif path == "/":
            await _send(send, 303, b"", b"text/plain", [(b"location", b"/wall")])
        else:
            await _send(send, 404, f"no page {path}\n".encode(), b"text/plain")

    async def _guarded(self, scope, receive, send, *, events: bool) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        how, why = self.access.check(query, headers)
        if why:
            page = self.templates.get_template("refused.html").render(reason=why.capitalize())
            await _send(
                send,
                401,
                page.encode(),
                b"text/html; charset=utf-8",
                [(b"www-authenticate", b'Bearer realm="quotaboard wall"')],
            )
            return
        secure = scope.get("scheme") == "https" or headers.get("x-forwarded-proto") == "https"
        cookie = [self.access.set_cookie(secure)] if how != "cookie" else []
        if how == "query":  # the token leaves the address bar: the cookie carries it from now on
            target = without_token(scope["path"], query).encode()
            await _send(send, 303, b"", b"text/plain", [(b"location", target), *cookie])
            return
        period = dict(parse_qsl(query)).get("period") or None
        if period is not None and not PERIOD.match(period):
            await _send(send, 400, b"period: use YYYY-MM, YYYY-Qn or YYYY\n", b"text/plain")
            return
        if events:
            await self._events(period or self.view(None)["period"], receive, send, cookie)
            return
        view = self.view(period)
        page = self.templates.get_template("wall.html").render(view=view)
        await _send(send, 200, page.encode(), b"text/html; charset=utf-8", cookie)

    async def _events(self, period: str, receive, send, extra: list) -> None:
        outbox, board = self.hub.join(period)
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),
            *SECURITY_HEADERS,
            *extra,
        ]
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            first = b"retry: 1000\n\n" + self.hub.state_frame() + board
            await send({"type": "http.response.body", "body": first, "more_body": True})
            while True:
                frames = asyncio.ensure_future(outbox.take())
                done, _ = await asyncio.wait(
                    {frames, gone}, timeout=KEEPALIVE, return_when=asyncio.FIRST_COMPLETED
                )
                if gone in done:
                    frames.cancel()
                    return
                body = frames.result() if frames in done else b": keep-alive\n\n"
                if frames not in done:
                    frames.cancel()
                await send({"type": "http.response.body", "body": body, "more_body": True})
        except OSError:  # the page went away mid-send
            pass
        finally:
            gone.cancel()
            self.hub.leave(period, outbox)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._seen = self.source.position()
                if self.feed is None:
                    self.hub.state = "live"  # nothing to follow but the store itself
                else:
                    self._tasks.append(
                        asyncio.ensure_future(self.feed.run(self._notice, self.hub.set_state))
                    )
                self._tasks.append(asyncio.ensure_future(self._watch_position()))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self._tasks:
                    task.cancel()
                self.source.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send(
    send, status: int, body: bytes, content_type: bytes, extra: list | None = None
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *SECURITY_HEADERS,
    ]
    headers = [
        h
        for h in headers
        if not (extra and h[0] == b"cache-control" and any(e[0] == h[0] for e in extra))
    ]
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve(settings: Settings) -> None:
    """Run the wall with uvicorn until SIGTERM/SIGINT; open event streams end at shutdown."""
    import uvicorn

    uvicorn.run(
        Wall(settings),
        host=settings.wall_host,
        port=settings.wall_port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
