"""`quotaboard tui`: the live leaderboard on a running service (issue 4).

The app only reads: documents from a DataSource (the read-model store of the data dir by
default) and change notices from a NoticeFeed (core NATS `quotaboard.changes` by
default). Both are constructor arguments, so tests drive the app with in-memory
documents and a queue of notices. A notice refreshes the screen on view within one
second (notices are coalesced for 20 ms); screens underneath refresh when they come
back. Without notices (broker down) the store's position is polled every two seconds,
so figures keep arriving and the header says the broker is offline. The header also
shows the projector's state when it is not "running" (a ruleset that cannot load, with
the file, line and key), read from the store with each poll and each refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches

from projections import periods as P
from projections.periods import default_month, months_among
from tui.help import HelpScreen
from tui.leaderboard import LeaderboardScreen
from tui.source import DataSource, Notice, NoticeFeed, NullFeed
from tui.widgets import state_text

COALESCE_SECONDS = 0.02  # notices arriving together cause one refresh
REZONE = 60.0  # seconds between two reads of the rulesets' timezone


class QuotaboardApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "quotaboard"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("left_square_bracket", "prev_period", "Prev period", key_display="["),
        Binding("right_square_bracket", "next_period", "Next period", key_display="]"),
        Binding("m", "toggle_period", "Month/Qtr"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, source: DataSource, feed: NoticeFeed | None = None, *, period: str | None = None,
                 clock: Callable[[], datetime] | None = None, poll_interval: float | None = 2.0,
                 business_tz=P.BUSINESS_TZ, tz_source: Callable[[], ZoneInfo] | None = None) -> None:
        super().__init__()
        self.source = source
        self.feed = feed or NullFeed()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tz = business_tz
        self.tz_source = tz_source  # the rulesets' timezone now (read again every REZONE s)
        self.poll_interval = poll_interval
        self.connection = "connecting"
        self.last_update: datetime | None = None
        self.position = 0
        self.projector = source.projector()
        self.period = period or self._default_period()
        self._pending: list[Notice] = []
        self._flush_timer = None
        self.refreshes = 0  # how many notice-driven refreshes ran (tests, bench)

    def _default_period(self) -> str:
        this_month = P.current_month(self.clock(), self.tz)
        return default_month(months_among(self.source.periods()), this_month) or this_month

    def get_default_screen(self) -> LeaderboardScreen:
        return LeaderboardScreen()

    def on_mount(self) -> None:
        self.position = self.source.position()
        self.run_worker(self.feed.run(self.handle_notice, self.handle_state), group="feed", exclusive=True)
        if self.poll_interval:
            self.set_interval(self.poll_interval, self._poll)
        if self.poll_interval and self.tz_source is not None:
            self.set_interval(REZONE, self.rezone)

    # --- header text shared by the screens --------------------------------------

    def mark_updated(self) -> None:
        self.last_update = self.clock()

    def title_text(self, scope: str) -> Text:
        now = self.clock()
        text = Text()
        text.append(f"{scope}", style="bold")
        text.append(f" │ {self.period} ({P.kind_of(self.period)})")
        left = P.days_left(self.period, now, self.tz)
        start, _ = P.bounds(self.period, self.tz)
        text.append(" │ ended" if left == 0 else " │ not started" if now < start else f" │ {left}d left")
        if self.last_update is not None:
            text.append(f" │ upd {self.last_update.astimezone(self.tz):%H:%M:%S}")
        text.append(" │ ")
        text.append_text(state_text(self.connection))
        state = (self.projector or {}).get("state")
        if state not in (None, "running"):  # on a line of its own: the error names file, line and key
            text.append(f"\n✖ projector: {state}", style="bold red")
            if error := self.projector.get("error"):
                text.append(f" · {error}", style="red")
        return text

    # --- live ---------------------------------------------------------------------

    def handle_state(self, state: str) -> None:
        self.connection = state
        self._refresh_header()

    def check_projector(self) -> None:
        """Read the projector's state; redraw the header when it changed."""
        state = self.source.projector()
        if state != self.projector:
            self.projector = state
            self._refresh_header()

    def _refresh_header(self) -> None:
        refresh = getattr(self.screen, "refresh_header", None)
        if refresh is not None:
            try:
                refresh()
            except NoMatches:  # the screen is still composing; it draws the state itself
                pass

    def handle_notice(self, notice: Notice) -> None:
        self._pending.append(notice)
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(COALESCE_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        self.check_projector()
        notices, self._pending = self._pending, []
        if not notices:
            return
        periods: set[str] = set()
        reps: set[str] = set()
        everything = False
        for n in notices:
            self.position = max(self.position, n.position)
            everything |= not n.periods
            periods |= n.periods
            reps |= n.reps
        if not everything and self.period not in periods:
            return
        for screen in self.screen_stack:
            if not hasattr(screen, "reload"):
                continue
            rep = getattr(screen, "rep_id", None)
            if rep is not None and reps and rep not in reps and not everything:
                continue
            if screen is self.screen:
                screen.reload()
                self.refreshes += 1
            else:
                screen.stale = True

    def _poll(self) -> None:
        try:
            position = self.source.position()
        except Exception:  # noqa: BLE001 - the store is being swapped; try next time
            return
        self.check_projector()
        if position != self.position:
            self.handle_notice(Notice(position))

    def rezone(self) -> None:
        """Take the rulesets' timezone again: a rebuild under rulesets with another one
        moves the months, days left and times shown without a restart. Rulesets that do
        not load, or a store being swapped, keep the timezone in use (the header shows
        the projector's error)."""
        try:
            tz = self.tz_source()
        except Exception:  # noqa: BLE001 - a broken ruleset or a store being swapped: next time
            return
        if tz != self.tz:
            self.tz = tz
            self._set_period(self.period)

    # --- actions --------------------------------------------------------------------

    def _set_period(self, period: str) -> None:
        self.period = period
        for screen in self.screen_stack:
            if hasattr(screen, "reload"):
                if screen is self.screen:
                    screen.reload()
                else:
                    screen.stale = True

    def action_prev_period(self) -> None:
        self._set_period(P.shift(self.period, -1))

    def action_next_period(self) -> None:
        self._set_period(P.shift(self.period, 1))

    def action_toggle_period(self) -> None:
        self._set_period(P.toggle(self.period, self.clock(), self.tz))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())


def run_tui(source: DataSource, feed: NoticeFeed, period: str | None = None,
            clock: Callable[[], datetime] | None = None, business_tz: ZoneInfo = P.BUSINESS_TZ,
            tz_source: Callable[[], ZoneInfo] | None = None) -> None:
    """Open the live leaderboard on `source`, refreshed by `feed` (`clock`: the demo's,
    when pinned with `--now`; `business_tz`: the rulesets' timezone, which decides the
    month a day is in; `tz_source` reads it again). services/cli/tui.py gives it the
    running service's."""
    QuotaboardApp(source, feed, period=period, clock=clock, business_tz=business_tz,
                  tz_source=tz_source).run()
