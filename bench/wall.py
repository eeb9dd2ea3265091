"""Change notice -> the wall repainted, with many pages open (goal: p99 <= 300 ms).

A read store folded in process from the demo company (24 reps); the wall app on uvicorn;
N pages open in headless Chromium (Debian's package, over the DevTools protocol). Each
round, one rep wins a deal: the fold writes the documents, then a change notice is handed
to the wall's notice follower and the time taken (t0). In each page a script the bench
injects (MEASURE) marks when the board showing that position has been painted: the
first task after the rendering update (style, layout, paint) of the frame that shows
it; the figure is mark - t0 over every page and round (epoch milliseconds on one
machine). The same script measures any version of the page, patched or swapped whole.

Setup is not measured: the pages open a batch at a time in one Chromium whose renderer
processes are capped, each batch waited on until its pages are live, with a setup-only
timeout. Each page has a host name of its own (`wall-<n>.bench.test`, mapped to 127.0.0.1): a
browser keeps at most 6 HTTP/1.1 connections to one host, so with one address the 7th
page's document and event stream queued behind the first six pages' open streams and
never loaded. Fifty screens are fifty browsers; fifty host names give each its own. The
names share one site, so the renderer limit holds (fifty sites got fifty renderers).
Rounds are `--interval` apart (a sales floor closes a deal every few seconds at most;
a round faster than 50 pages can repaint only measures the queue). To say where the time
goes, it also prints the server's render, diff and hand-off per notice, and per page the
notice -> frame received and received -> painted.

Fifty pages are fifty screens, each with a browser of its own; on this machine's two
cores, fifty Chromium windows measure mostly Chromium's own cost per frame times fifty
(docs/performance.md). So a run may keep only some of its pages in Chromium
(`--chromium K`): the rest are remote screens, event streams a child process holds with
the viewer token exactly as a page does, reading and decoding every frame, which is all
the server sees of a screen whose browser runs elsewhere. The server's work is the same
for the fifty; the K Chromium pages are measured, the remote screens' arrival times are
reported too. The default runs both: `--pages 8 50` all in Chromium, then 50 pages of
which 5 are Chromium windows.

`--drop` hands the Chromium pages each patch without some of its slots, for what a
page's parts cost.

    .venv/bin/python bench/wall.py [--pages 8 50] [--chromium K] [--updates 200] [--interval 1.5]
                                   [--drop KEYS|all] [--browser BINARY]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support")]

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from cdp import CHROMIUM_MISSING, Browser  # noqa: E402
from natsutil import free_port  # noqa: E402

from services.config import load_settings  # noqa: E402
from services.demo.crm_sim import organisation  # noqa: E402
from services.demo.folded_store import FoldedStore  # noqa: E402
from services.wall.server import Wall  # noqa: E402
from tui.source import Notice  # noqa: E402

NOW = datetime(2026, 8, 20, 7, 30, tzinfo=UTC)
PERIOD = "2026-08"
TOKEN = "qbv_" + "B" * 43
BATCH = 5  # pages opened at once
IDLE = 5.0  # seconds the pages are watched doing nothing after the rounds: the browser's idle CPU
SETUP_TIMEOUT = 120.0  # seconds a page may take to open and go live (not measured)
# Injected before the page's own script, so it measures any version of the page the same
# way. "received": a frame's arrival, before the page's handler runs. "painted": the first
# task after the rendering update (style, layout, paint) of the frame that shows the
# board's new position: a MutationObserver sees the change; made inside an animation
# frame callback, that frame's rendering follows it, otherwise the next frame's does.
MEASURE = """
(() => {
  const CUT = (event) => event;
  const raf = window.requestAnimationFrame.bind(window);
  let inFrame = false;
  const seen = new Set();
  const done = new MessageChannel();
  done.port1.onmessage = (event) => {
    if (event.data === null) { inFrame = false; return; }
    performance.mark(`bench-painted-${event.data}`);
  };
  window.requestAnimationFrame = (callback) => raf((ts) => {
    inFrame = true;
    try { callback(ts); } finally { done.port2.postMessage(null); }
  });
  const add = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (type, listener, ...rest) {
    if (["open", "error", "state"].includes(type)) return add.call(this, type, listener, ...rest);
    return add.call(this, type, (event) => {
      const at = performance.now();
      performance.mark(`bench-received-${JSON.parse(event.data).position}`, { startTime: at });
      listener(CUT(event));
    }, ...rest);
  };
  addEventListener("DOMContentLoaded", () => {
    const board = document.getElementById("board");
    new MutationObserver(() => {
      const position = board.dataset.position;
      if (seen.has(position)) return;
      seen.add(position);
      if (inFrame) done.port2.postMessage(position);
      else raf(() => done.port2.postMessage(position));
    }).observe(board, { subtree: true, childList: true, attributes: true, characterData: true });
  });
})();
"""


class HandFeed:
    """The wall's notice follower, fed by the bench instead of NATS."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.on_notice = None

    async def run(self, on_notice, on_state) -> None:
        self.loop, self.on_notice = asyncio.get_running_loop(), on_notice
        on_state("live")
        await asyncio.Event().wait()

    def deliver(self, notice: Notice) -> None:
        self.loop.call_soon_threadsafe(self.on_notice, notice)


def remote_screens(url: str, count: int, ready, stop, results) -> None:
    """Screens whose browser runs on another device: `count` event streams with the viewer
    token, each frame read and decoded; at `stop`, the arrival times per position."""
    asyncio.run(_remote_screens(url, count, ready, stop, results))


async def _remote_screens(url: str, count: int, ready, stop, results) -> None:
    arrivals: dict[int, list[float]] = {}
    live = 0

    async def screen(client: httpx.AsyncClient) -> None:
        nonlocal live
        headers = {"authorization": f"Bearer {TOKEN}"}
        async with client.stream("GET", url, headers=headers) as response:
            response.raise_for_status()
            live += 1
            event = None
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event in ("board", "patch"):
                    at = time.time() * 1000
                    position = json.loads(line.removeprefix("data: "))["position"]
                    arrivals.setdefault(position, []).append(at)

    limits = httpx.Limits(max_connections=count + 1)
    async with httpx.AsyncClient(timeout=None, limits=limits) as client:
        tasks = [asyncio.create_task(screen(client)) for _ in range(count)]
        while live < count:
            failed = [t for t in tasks if t.done()]
            if failed:
                raise RuntimeError(f"a remote screen's stream ended: {failed[0].exception()}")
            await asyncio.sleep(0.05)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
    results.put(arrivals)


def win(i: int, rep: str) -> list[str]:
    deal = {
        "deal_id": f"B{i}",
        "rep_id": rep,
        "customer_id": "c001",
        "product_line": "A",
        "amount": str(20_000 + i),
    }
    return [
        json.dumps(
            {
                "id": f"bench-{i}-c",
                "type": "deal.created",
                "occurred_at": "2026-08-18T10:00:00+08:00",
                "data": deal,
            }
        ),
        json.dumps(
            {
                "id": f"bench-{i}-w",
                "type": "deal.won",
                "occurred_at": "2026-08-19T10:00:00+08:00",
                "data": {"deal_id": f"B{i}"},
            }
        ),
    ]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def summary(values: list[float]) -> str:
    if not values:
        return "none"
    return f"p50 {pct(values, 0.5):.0f} ms, p95 {pct(values, 0.95):.0f} ms, p99 {pct(values, 0.99):.0f} ms"


def measure_script(drop: list[str]) -> str:
    """MEASURE, handing the page each patch without the slots whose keys start with one of
    `drop` ("order": without the rows' moves; "all": no frame at all): what a page's
    parts cost (`--drop`, docs/performance.md)."""
    if not drop:
        return MEASURE
    if drop == ["all"]:
        return MEASURE.replace("listener(CUT(event));", "/* dropped unread */")
    cut = f"""const CUT = (event) => {{
    const frame = JSON.parse(event.data);
    if (frame.set) frame.set = frame.set.filter(([key]) => !{json.dumps(drop)}.some((p) => key.startsWith(p)));
    if (frame.order && {json.dumps("order" in drop)}) frame.order = {{}};
    return new MessageEvent(event.type, {{ data: JSON.stringify(frame) }});
  }};"""
    return MEASURE.replace("const CUT = (event) => event;", cut)


async def open_page(browser: Browser, url: str, script: str = MEASURE):
    """A page on its own host name, live (the board's event stream open)."""
    page = await browser.page(1920, 1080)
    await page.send("Page.addScriptToEvaluateOnNewDocument", source=script)
    await page.goto(url, SETUP_TIMEOUT)
    await page.send("Network.disable")  # each event would also come back over DevTools
    await page.wait_for(
        "document.getElementById('conn').dataset.state === 'live'", SETUP_TIMEOUT, 0.2
    )
    return page


async def run(
    pages: int,
    chromium: int,
    updates: int,
    interval: float,
    binary: str | None,
    drop: list[str] | None = None,
) -> dict:
    data = Path(tempfile.mkdtemp(prefix="bench-wall-")) / "data"
    folded = FoldedStore(data)
    org = organisation(7, NOW)
    folded.apply_raw(json.dumps(e, ensure_ascii=False) for e in org.events)
    feed = HandFeed()
    settings = load_settings(data, env={"QUOTABOARD_VIEWER_TOKEN": TOKEN})
    port = free_port()
    wall = Wall(settings, feed=feed, clock=lambda: NOW, poll=3600)
    renders: list[float] = []
    publish = wall.hub.publish

    def timed():
        start = time.perf_counter()
        publish()
        renders.append((time.perf_counter() - start) * 1000)

    wall.hub.publish = timed
    server = uvicorn.Server(
        uvicorn.Config(
            wall,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started or feed.loop is None:
        await asyncio.sleep(0.02)
    browser = Browser(
        "--renderer-process-limit=4",
        "--host-resolver-rules=MAP *.bench.test 127.0.0.1",
        "--disable-renderer-backgrounding",
        "--disable-background-timer-throttling",
        "--disable-backgrounding-occluded-windows",
        binary=binary,
    )
    opened = []
    spawn = multiprocessing.get_context("spawn")
    ready, stop, results = spawn.Event(), spawn.Event(), spawn.Queue()
    remote = spawn.Process(
        target=remote_screens,
        args=(f"http://127.0.0.1:{port}/wall/events?period={PERIOD}", pages - chromium),
        kwargs={"ready": ready, "stop": stop, "results": results},
        daemon=True,
    )
    try:
        started = time.monotonic()
        if chromium < pages:
            remote.start()
            while not ready.wait(0.1):
                if not remote.is_alive() or time.monotonic() - started > SETUP_TIMEOUT:
                    raise RuntimeError("the remote screens did not connect")
        while len(opened) < chromium:
            batch = min(BATCH, chromium - len(opened))
            urls = [
                f"http://wall-{n}.bench.test:{port}/wall?period={PERIOD}&token={TOKEN}"
                for n in range(len(opened), len(opened) + batch)
            ]
            script = measure_script(drop or [])
            opened += await asyncio.gather(*(open_page(browser, url, script) for url in urls))
        print(
            f"{pages} pages open and live ({len(opened)} in Chromium, {pages - chromium} remote)"
            f" in {time.monotonic() - started:.1f} s"
        )
        await asyncio.sleep(2.0)
        renders.clear()
        sent: dict[int, float] = {}
        busy_from, busy_start = browser.cpu_seconds(), time.monotonic()
        reps = [r["rep_id"] for r in org.reps]
        for i in range(updates):
            changes = folded.apply_raw(win(i, reps[(i * 7) % len(reps)]))
            sent[changes.position] = time.time() * 1000
            feed.deliver(Notice(changes.position, {PERIOD}, set()))
            await asyncio.sleep(interval)
        await asyncio.sleep(2.0)
        busy, busy_for = browser.cpu_seconds() - busy_from, time.monotonic() - busy_start
        idle_from, idle_start = browser.cpu_seconds(), time.monotonic()
        await asyncio.sleep(IDLE)  # after the rounds: opening pages is long done
        idle_rate = (browser.cpu_seconds() - idle_from) / (time.monotonic() - idle_start)
        out = {"painted": [], "received": [], "repaint": [], "missed": 0, "render": renders}
        out["idle"] = idle_rate * 1000 / max(1, chromium)
        out["per_notice"] = (busy - idle_rate * busy_for) * 1000 / (updates * max(1, chromium))
        out["remote"] = []
        if chromium < pages:
            stop.set()
            arrivals = await asyncio.to_thread(results.get, True, 30)
            out["remote_missed"] = sum(
                (pages - chromium) - len(arrivals.get(p, [])) for p in sent
            )
            out["remote"] = [at - t0 for p, t0 in sent.items() for at in arrivals.get(p, [])]
        for page in opened:
            marks = await page.eval(
                "performance.getEntriesByType('mark').map(m => [m.name, performance.timeOrigin + m.startTime])"
            )
            seen = {"painted": {}, "received": {}}
            for name, at in marks:
                if not name.startswith("bench-"):
                    continue
                what, position = name.removeprefix("bench-").rsplit("-", 1)
                seen[what][int(position)] = at
            painted, received = seen["painted"], seen["received"]
            out["missed"] += len(set(sent) - set(painted))
            for p, t0 in sent.items():
                if p in painted:
                    out["painted"].append(painted[p] - t0)
                    if p in received:
                        out["received"].append(received[p] - t0)
                        out["repaint"].append(painted[p] - received[p])
        return out
    finally:
        for page in opened:
            await page.close()
        browser.close()
        stop.set()
        if remote.pid is not None:
            remote.join(10)
        server.should_exit = True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=None, help="one run for each")
    parser.add_argument(
        "--chromium",
        type=int,
        default=None,
        help="how many of the pages are Chromium windows here (default: all); the rest are remote screens",
    )
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between rounds")
    parser.add_argument(
        "--browser",
        default=None,
        help="the Chromium binary (default: chromium on PATH; e.g. chromium-headless-shell)",
    )
    parser.add_argument(
        "--drop",
        default="",
        help="slot-key prefixes dropped from every patch before the page applies it, comma-"
        "separated (e.g. 'row,rank,move,order'), or 'all': frames dropped unread; for the "
        "cost of a page's parts",
    )
    args = parser.parse_args()
    pages_given = args.pages or [50]
    if args.chromium is not None and not 0 < args.chromium <= min(pages_given):
        parser.error(f"--chromium: between 1 and the pages ({min(pages_given)})")
    drop = [k for k in args.drop.split(",") if k]
    if CHROMIUM_MISSING:
        print(f"bench/wall.py: skipped: {CHROMIUM_MISSING}")
        return 0
    if args.pages is None:
        runs = [(8, 8), (50, 50), (50, 5)] if args.chromium is None else [(50, args.chromium)]
    else:
        runs = [(p, args.chromium or p) for p in args.pages]
    for pages, chromium in runs:
        before = os.getloadavg()
        out = asyncio.run(run(pages, chromium, args.updates, args.interval, args.browser, drop))
        after = os.getloadavg()
        painted = out["painted"]
        where = (
            "all in one Chromium on this machine"
            if chromium == pages
            else f"{chromium} Chromium windows here measured, {pages - chromium} remote screens"
        )
        print(
            f"notice -> wall repainted, {pages} pages ({where}), {args.updates} updates "
            f"{args.interval} s apart ({len(painted)} paints, {out['missed']} superseded): "
            f"{summary(painted)}, max {max(painted, default=0):.0f} ms (goal p99 <= 300 ms)"
        )
        if out["remote"]:
            print(
                f"  notice -> frame at the remote screens: {summary(out['remote'])}"
                f" ({len(out['remote'])} frames, {out['remote_missed']} missing)"
            )
        print(f"  server render, diff + hand-off per notice: {summary(out['render'])}")
        print(f"  notice -> frame in the page:   {summary(out['received'])}")
        print(f"  frame -> painted (apply, layout, paint): {summary(out['repaint'])}")
        print(
            f"  Chromium's CPU (all its processes): idle {out['idle']:.1f} ms per page per second, "
            f"{out['per_notice']:.1f} ms per page per notice beyond idle"
        )
        print(
            "  load average (1/5/15 min): before "
            + " ".join(f"{x:.2f}" for x in before)
            + ", after "
            + " ".join(f"{x:.2f}" for x in after),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
