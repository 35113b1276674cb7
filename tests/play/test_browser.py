"""The /play/ demo in a real browser (issue 14): Chromium pages against real `manage.py serve`
processes on the session's Redis and database.

Two servers share one database; the pages load from a TCP proxy (tests/faults/proxy.py) in front
of the first, so their own origin (the proxy's) is where they connect, and after the first is
sent SIGTERM the proxy forwards to the second. The servers admit the pages by the same-origin
rule alone: ALLOWED_ORIGINS names another origin. Screenshots and the measured timings go to
.artifacts/play/ (printed, not asserted).
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from playwright.async_api import Browser

from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db
from tests.faults.proxy import TcpProxy
from tests.play.browser import PlayPage, chromium, write_timings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

ELSEWHERE = "https://elsewhere.example"  # the only origin in ALLOWED_ORIGINS
JWT_SECRET = "play-test-secret-of-at-least-32-bytes!"
BOTS = 20


@dataclass
class Cluster:
    one: ServerProcess
    two: ServerProcess
    proxy: TcpProxy
    database: str

    def page_url(self, room: str, name: str, port: int | None = None, extra: str = "") -> str:
        return f"http://127.0.0.1:{port or self.proxy.port}/play/?room={room}&name={name}{extra}"


def start_all(*servers: ServerProcess) -> None:
    """Start the servers side by side (each takes a second or two to come up)."""
    for server in servers:
        server.proc = server.spawn(server.argv())
    for server in servers:
        deadline = time.monotonic() + 30
        while True:
            assert server.proc is not None and server.proc.poll() is None, server.died()
            try:
                if server.get("/rooms")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    database = unique_db()
    env = server_env(
        MONGODB_DB_NAME=database,
        ALLOWED_ORIGINS=ELSEWHERE,
        SHUTDOWN_DRAIN_SECONDS="0.5",
    )
    migrate(env)
    one, two = ServerProcess(env), ServerProcess(env)
    try:
        start_all(one, two)
        with TcpProxy(one.http_port) as proxy:
            yield Cluster(one, two, proxy, database)
    finally:
        one.stop()
        two.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def pages() -> AsyncIterator[list[PlayPage]]:
    """Pages a test opened; each is checked for console errors and closed, pass or fail."""
    opened: list[PlayPage] = []
    yield opened
    errors = {index: page.errors for index, page in enumerate(opened) if page.errors}
    for page in opened:
        await page.close()
    assert not errors, f"console errors: {errors}"


def room_id() -> str:
    return f"play-{uuid.uuid4().hex[:8]}"


async def test_two_pages_see_each_other_move_chat_reload_and_survive_a_server_sigterm(
    cluster: Cluster, browser: Browser, pages: list[PlayPage]
) -> None:
    room = room_id()
    opened_at = time.monotonic()
    a = await PlayPage.open(browser, cluster.page_url(room, "Ada"))
    pages.append(a)
    b = await PlayPage.open(browser, cluster.page_url(room, "Bob"))
    pages.append(b)
    a_id, b_id = await a.client_id(), await b.client_id()
    welcome_ms = [await page.hook("(s) => s.timings.welcome") for page in (a, b)]
    assert await a.status() == "open" and await b.status() == "open"
    assert await a.statuses() == ["connecting", "open"]
    # The name tags are DOM elements, with the names as text.
    await b.until("(s, id) => s.avatars()[id]", a_id)
    tag = b.page.locator(f'.nametag[data-client-id="{a_id}"]')
    assert await tag.text_content() == "Ada"

    # A holds a key for a second: B sees A's avatar move, and the reverse.
    start = await b.position_of(a_id)
    await a.hold("w", 1)
    await b.moved(a_id, start, 2)
    start = await a.position_of(b_id)
    await b.hold("ArrowRight", 1)
    await a.moved(b_id, start, 2)

    # Chat typed in A appears in B; after a reload B resumes (the same player) and still has it.
    await a.say("hello from Ada")
    await b.until("(s) => s.chat().some((c) => c.message === 'hello from Ada')")
    await b.page.reload()
    await b.until("(s) => s.client?.status === 'resumed'")
    assert await b.client_id() == b_id
    assert "Ada: hello from Ada" in await b.chat()
    assert await b.statuses() == ["connecting", "resumed"]

    # SIGTERM to the first server; the proxy now leads to the second. A chat sent meanwhile is
    # delivered once, on whichever server takes it.
    cluster.proxy.target_port = cluster.two.http_port
    sigterm_at = time.monotonic()
    cluster.one.signal(signal.SIGTERM)
    await a.say("said during the drain")
    for page in (a, b):
        await page.until(
            """(s) => { const log = s.statusLog.map((e) => e.status);
                 const lost = log.lastIndexOf('reconnecting');
                 return lost > 0 && log.indexOf('resumed', lost) > lost; }"""
        )
    resumed_after = time.monotonic() - sigterm_at
    await b.say("hello after the drain")
    expected = ["Ada: hello from Ada", "Ada: said during the drain", "Bob: hello after the drain"]
    for page in (a, b):
        await page.until("(s) => s.chat().some((c) => c.message === 'hello after the drain')", None)
        assert await page.chat() == expected
    # They still see each other, and each other's moves.
    assert set(await a.hook("(s) => Object.keys(s.avatars())")) == {a_id, b_id}
    assert set(await b.hook("(s) => Object.keys(s.avatars())")) == {a_id, b_id}
    start = await b.position_of(a_id)
    await a.hold("s", 0.6)
    await b.moved(a_id, start, 1)
    assert cluster.one.proc is not None and cluster.one.proc.wait(15) == 0

    await a.screenshot("two-pages-a")
    await b.screenshot("two-pages-b")
    write_timings(
        "two-pages",
        {
            "first_welcome_ms_since_navigation": welcome_ms,
            "resume_after_sigterm_s": round(resumed_after, 3),
            "page_reconnecting_to_resumed_ms": [
                await a.hook("(s) => s.timings.resumed"),
                await b.hook("(s) => s.timings.resumed"),
            ],
            "test_s": round(time.monotonic() - opened_at, 1),
        },
    )
