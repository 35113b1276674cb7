"""Real-browser helpers for the /play/ tests: Debian's Chromium driven by Playwright (it cannot
download browsers of its own here), and PlayPage, one page with its console errors and the
page's debug hook (`window.signight`, play/static/play/play.js)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from tests.e2e.servers import ROOT

CHROMIUM = "/usr/bin/chromium"  # `apt-get install chromium`; `make test` installs it
# WebGL in a headless browser on a machine without a GPU: ANGLE over SwiftShader, on purpose.
ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
VIEWPORT = {"width": 960, "height": 540}
ARTIFACTS = ROOT / ".artifacts" / "play"  # screenshots and timings; gitignored
TIMEOUT_MS = 15_000


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class PlayPage:
    """One tab of its own (a browser context each: nothing shared but the browser)."""

    page: Page
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # reported, not failed on

    @classmethod
    async def open(cls, browser: Browser, url: str) -> PlayPage:
        context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        context.set_default_timeout(TIMEOUT_MS)
        page = cls(await context.new_page())
        page.page.on("console", page._console)
        page.page.on("pageerror", lambda error: page.errors.append(f"pageerror: {error}"))
        await page.page.goto(url)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console.error: {message.text} ({message.location})")
        elif message.type == "warning":
            self.warnings.append(message.text)

    async def close(self) -> None:
        await self.page.context.close()

    async def hook(self, expression: str, arg: Any = None) -> Any:
        """`expression` is a function of (hook, arg): `(s, arg) => s.client.clientId`."""
        return await self.page.evaluate(f"(arg) => ({expression})(window.signight, arg)", arg)

    async def until(self, expression: str, arg: Any = None, timeout_ms: int = TIMEOUT_MS) -> Any:
        """Wait until `expression` (as in `hook`) is truthy; its value."""
        handle = await self.page.wait_for_function(
            f"(arg) => window.signight && ({expression})(window.signight, arg)",  # loaded yet?
            arg=arg,
            timeout=timeout_ms,
        )
        return await handle.json_value()

    async def status(self) -> str:
        return (await self.page.locator("#status-state").text_content()) or ""

    async def statuses(self) -> list[str]:
        return await self.hook("(s) => s.statusLog.map((e) => e.status)")

    async def client_id(self) -> str:
        return await self.until("(s) => s.client?.clientId")

    async def position_of(self, client_id: str) -> list[float]:
        return await self.until("(s, id) => s.avatars()[id]?.position", client_id)

    async def moved(self, client_id: str, start: list[float], metres: float) -> list[float]:
        """Wait until this page shows the avatar `metres` away from `start`; where it is."""
        return await self.until(
            """(s, [id, x, z, d]) => { const a = s.avatars()[id]?.position;
                 return a && Math.hypot(a[0] - x, a[2] - z) > d && a; }""",
            [client_id, start[0], start[2], metres],
        )

    async def hold(self, key: str, seconds: float) -> None:
        await self.page.keyboard.down(key)
        await self.page.wait_for_timeout(seconds * 1000)
        await self.page.keyboard.up(key)

    async def say(self, text: str) -> None:
        await self.page.locator("#chat-input").fill(text)
        await self.page.locator("#chat-input").press("Enter")

    async def chat(self) -> list[str]:
        return [f"{i['name']}: {i['message']}" for i in await self.hook("(s) => s.chat()")]

    async def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=ARTIFACTS / f"{name}.png")


def write_timings(name: str, figures: dict[str, Any]) -> None:
    """Print the measured figures (not asserted) and keep them beside the screenshots."""
    print(f"play timings, {name}: {json.dumps(figures)}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"timings-{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
