"""Headless Chromium (Debian's `chromium` package) driven over the Chrome DevTools
protocol, for the wall's browser tests, screenshots and benchmark.

No browser is downloaded: `chromium` must be on PATH (.ci/run installs it from Debian's
packages); `CHROMIUM_MISSING` says why the browser tests skip when it is not. A page is
opened with the browser's `/json/new` endpoint and driven over its own websocket
(the `websockets` library): navigate, evaluate, resize, screenshot, and the console and
log entries (a Content-Security-Policy violation shows up there).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import websockets
from procstat import tree_cpu_seconds

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_MISSING = (
    None
    if CHROMIUM
    else (
        "no chromium on PATH: the browser tests need Debian's package (apt-get install chromium; .ci/run does it)"
    )
)


class Browser:
    def __init__(self, *extra: str, binary: str | None = None) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="qb-chromium-"))
        self.proc = subprocess.Popen(
            [
                binary or CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--hide-scrollbars",
                "--font-render-hinting=none",
                *extra,
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # close() ends the browser's whole process group
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        self.port = int(port_file.read_text().split()[0])

    async def page(self, width: int = 1920, height: int = 1080, mobile: bool = False) -> Page:
        """A page in a window of its own: a background tab gets no animation frames."""
        async with httpx.AsyncClient() as client:
            version = (await client.get(f"http://127.0.0.1:{self.port}/json/version")).json()
            async with websockets.connect(version["webSocketDebuggerUrl"]) as ws:
                await ws.send(
                    json.dumps(
                        {
                            "id": 1,
                            "method": "Target.createTarget",
                            "params": {"url": "about:blank", "newWindow": True},
                        }
                    )
                )
                target_id = json.loads(await ws.recv())["result"]["targetId"]
            targets = (await client.get(f"http://127.0.0.1:{self.port}/json/list")).json()
        target = next(t for t in targets if t["id"] == target_id)
        page = Page(await websockets.connect(target["webSocketDebuggerUrl"], max_size=64 * 2**20))
        await page.start(width, height, mobile)
        return page

    def cpu_seconds(self) -> float:
        """User and system CPU of the browser and every process it started, so far."""
        return tree_cpu_seconds(self.proc.pid)

    def close(self) -> None:
        """End the browser and every process it started (renderers outlive a killed parent)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future] = {}
        self.events: list[dict] = []
        self.loaded = asyncio.Event()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message:
                future = self.pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            else:
                self.events.append(message)
                if message.get("method") == "Page.loadEventFired":
                    self.loaded.set()

    async def send(self, method: str, **params) -> dict:
        n = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[n] = future
        await self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        message = await asyncio.wait_for(future, 30)
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message["result"]

    async def start(self, width: int, height: int, mobile: bool) -> None:
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self.send(f"{domain}.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )

    async def goto(self, url: str, timeout: float = 20) -> dict:
        """Navigate and wait for the load event; the main document's response."""
        self.loaded.clear()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(self.loaded.wait(), timeout)
        responses = [
            e["params"]["response"]
            for e in self.events
            if e.get("method") == "Network.responseReceived"
            and e["params"].get("type") == "Document"
        ]
        return responses[-1] if responses else {}

    async def eval(self, expression: str):
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float, interval: float = 0.01) -> float:
        """Seconds until `expression` is truthy in the page (polled)."""
        start = time.monotonic()
        while not await self.eval(expression):
            if time.monotonic() - start > timeout:
                raise AssertionError(f"timed out after {timeout}s waiting for {expression}")
            await asyncio.sleep(interval)
        return time.monotonic() - start

    async def screenshot(self, path: Path) -> None:
        data = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        path.write_bytes(base64.b64decode(data["data"]))

    def console(self) -> list[str]:
        """Log entries and console messages so far (CSP violations are reported there)."""
        out = []
        for e in self.events:
            if e.get("method") == "Log.entryAdded":
                out.append(e["params"]["entry"].get("text", ""))
            elif e.get("method") == "Runtime.consoleAPICalled":
                out.append(" ".join(str(a.get("value")) for a in e["params"].get("args", [])))
            elif e.get("method") == "Runtime.exceptionThrown":
                out.append(json.dumps(e["params"]))
        return out

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()
