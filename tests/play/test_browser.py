"""The /play/ demo in a real browser (issue 14): Chromium pages against real `manage.py serve`
processes on the session's Redis and database.

Two servers share one database; the pages load from a TCP proxy (tests/faults/proxy.py) in front
of the first, so their own origin (the proxy's) is where they connect, and after the first is
sent SIGTERM the proxy forwards to the second. The servers admit the pages by the same-origin
rule alone: ALLOWED_ORIGINS names another origin. Screenshots and the measured timings go to
.artifacts/play/ (printed, not asserted).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import math
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import jwt
import pymongo
import pytest
from playwright.async_api import Browser

from rooms.models import Room
from tests.clients import LivePlayers, LiveSocket
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
    auth: ServerProcess  # WS_AUTH_REQUIRED, beside them on the same database
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
    auth = ServerProcess({**env, "WS_AUTH_REQUIRED": "1", "JWT_SECRET": JWT_SECRET})
    try:
        start_all(one, two, auth)
        with TcpProxy(one.http_port) as proxy:
            yield Cluster(one, two, auth, proxy, database)
    finally:
        for server in (one, two, auth):
            server.stop()


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
        if page.warnings:
            print(f"console warnings of {page.page.url}: {page.warnings}")
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
    # Of which the page's own loading (three.js is 2 MB, unminified): until it began to connect.
    connecting_ms = [await page.hook("(s) => s.statusLog[0].at") for page in (a, b)]
    assert await a.status() == "open" and await b.status() == "open"
    assert await a.statuses() == ["connecting", "open"]
    # The status bar: connection state, room, players, ping (ms) and tick rate.
    await a.until("() => /^[0-9]+$/.test(document.querySelector('#status-ping').textContent)")
    bar = "['room', 'players', 'tick'].map((f) => document.getElementById(`status-${f}`))"
    bar = f"{bar}.map((e) => e.textContent)"
    await a.until(f"(s, want) => {bar}.join() === want", f"{room},2,20")
    # The name tags are DOM elements, with the names as text.
    await b.until("(s, id) => s.avatars()[id]", a_id)
    tag = b.page.locator(f'.nametag[data-client-id="{a_id}"]')
    assert await tag.text_content() == "Ada"  # in view or not (then display: none)

    # A holds a key for a second: B sees A's avatar move, and the reverse.
    start = await b.position_of(a_id)
    await a.hold("w", 1)
    await b.moved(a_id, start, 2)
    start = await a.position_of(b_id)
    await b.hold("ArrowRight", 1)
    await a.moved(b_id, start, 2)
    # The mouse turns (a drag: a headless browser refuses the pointer lock a click asks for).
    yaw = await a.hook("(s) => s.me().yaw")
    await a.page.mouse.move(480, 300)
    await a.page.mouse.down()
    await a.page.mouse.move(600, 300, steps=4)
    await a.page.mouse.up()
    assert await a.hook("(s) => s.me().yaw") < yaw - 0.3  # to the right

    # Chat typed in A appears in B; after a reload B resumes (the same player) and still has it.
    await a.say("hello from Ada")
    await b.until("(s) => s.chat().some((c) => c.message === 'hello from Ada')")
    await b.page.reload()
    await b.until("(s) => s.client?.status === 'resumed'")
    assert await b.client_id() == b_id
    assert "Ada: hello from Ada" in await b.chat()
    assert await b.statuses() == ["connecting", "resumed"]
    assert await a.page.locator("#chat-log .system").all_text_contents() == ["Bob joined"]

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
    assert await a.status() == "resumed" and await b.status() == "resumed"
    await a.until("(s) => s.chat().some((c) => c.message === 'said during the drain')")
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
            "connecting_ms_since_navigation": connecting_ms,
            "resume_after_sigterm_s": round(resumed_after, 3),
            "page_reconnecting_to_resumed_ms": [
                await a.hook("(s) => s.timings.resumed"),
                await b.hook("(s) => s.timings.resumed"),
            ],
            "test_s": round(time.monotonic() - opened_at, 1),
        },
    )


def token(sub: str, name: str) -> str:
    now = int(time.time())
    claims = {"iss": "https://auth.signite.com", "sub": sub, "name": name, "iat": now}
    return jwt.encode({**claims, "exp": now + 300}, JWT_SECRET, algorithm="HS256")


async def test_with_auth_required_the_page_sends_the_token_as_a_subprotocol_never_in_the_url(
    cluster: Cluster, browser: Browser, pages: list[PlayPage]
) -> None:
    room = room_id()
    port = cluster.auth.http_port
    # From the URL's fragment, which never reaches a server...
    a = await PlayPage.open(
        browser, cluster.page_url(room, "Ada", port) + f"#token={token('ada', 'Ada L.')}"
    )
    pages.append(a)
    await a.until("(s) => s.client?.status === 'open'")
    # ...or typed into the field the Join form shows when the server wants a token.
    b = await PlayPage.open(browser, cluster.page_url(room, "Bob", port))
    pages.append(b)
    assert await b.page.locator("#join-token").is_visible()
    await b.page.locator("#join input[name=token]").fill(token("bob", "Bob T."))
    async with b.page.expect_navigation():
        await b.page.locator("#join button").click()
    await b.until("(s) => s.client?.status === 'open'")

    for page, name in ((a, "Ada L."), (b, "Bob T.")):
        socket = await page.hook("(s) => [s.client.url, s.client._ws.protocol, location.href]")
        assert socket[0] == f"ws://127.0.0.1:{port}/ws/"  # no token in the socket's URL
        assert socket[1] == "bearer"  # the server selected the subprotocol carrier
        assert "token" not in socket[2]  # the fragment is dropped once read
        own = await page.until("(s) => s.avatars()[s.client.clientId]?.name")
        assert own == name  # the name is the token's


async def test_a_page_from_an_origin_the_server_refuses_is_closed_with_4503_and_does_not_retry(
    cluster: Cluster, browser: Browser, pages: list[PlayPage]
) -> None:
    # Served by the second server's HTTP port, pointed at its socket port: another origin.
    elsewhere = f"&server=ws://127.0.0.1:{cluster.two.ws_port}/ws/"
    page = await PlayPage.open(
        browser, cluster.page_url(room_id(), "Eve", cluster.two.http_port, elsewhere)
    )
    pages.append(page)
    await page.until("(s) => s.client?.status === 'closed'")
    await page.page.wait_for_timeout(1500)  # longer than a first back-off

    assert await page.hook("(s) => s.statusLog.map((e) => [e.status, e.code])") == [
        ["connecting", None],
        ["open", None],  # the server accepts, then closes with the code (a browser reads it)
        ["closed", 4503],
    ]
    assert "4503" in (await page.page.locator("#status-note").text_content() or "")


async def bot(socket: LiveSocket, index: int, room: str, stop: asyncio.Event) -> None:
    """A player walking a circle round the origin at the tick rate, reading every frame."""
    await socket.join(room, f"bot-{index:02d}", f"#{80 + index * 8:02X}8CDC")

    async def read() -> None:
        with contextlib.suppress(Exception):
            async for _ in socket.ws:
                pass

    reader = asyncio.create_task(read())
    try:
        begun = time.monotonic()
        while not stop.is_set():
            angle = index * 2 * math.pi / BOTS + (time.monotonic() - begun) * 0.4
            yaw = -angle
            state = {
                "position": [7 * math.cos(angle), 0, 7 * math.sin(angle)],
                "rotation": [math.cos(yaw / 2), 0, math.sin(yaw / 2), 0],
                "animation": "walk",
            }
            await socket.send({"type": "Update", "state": state})
            await asyncio.sleep(0.05)
    finally:
        reader.cancel()


async def frame_rate(page: PlayPage, seconds: float) -> float:
    """requestAnimationFrame callbacks per second over `seconds`, by the page's clock."""
    return await page.page.evaluate(
        """async (ms) => { const f0 = window.signight.frames, t0 = performance.now();
             await new Promise((done) => setTimeout(done, ms));
             return (window.signight.frames - f0) * 1000 / (performance.now() - t0); }""",
        seconds * 1000,
    )


async def test_the_page_frame_rate_with_20_bots_in_the_room(
    cluster: Cluster, browser: Browser, pages: list[PlayPage], live_players: LivePlayers
) -> None:
    room = room_id()
    # 20 bots and the page: more than a room's default 16 players, as an operator would allow.
    with pymongo.MongoClient(os.environ["MONGODB_URL"]) as mongo:
        mongo[cluster.database][Room._meta.db_table].insert_one(
            {
                "room_id": room,
                "created_at": datetime.datetime.now(datetime.UTC),
                "max_players": BOTS + 4,
                "is_closed": False,
            }
        )
    # Opened without ?room= and ?name=: the page asks for them.
    page = await PlayPage.open(browser, f"http://127.0.0.1:{cluster.two.http_port}/play/")
    pages.append(page)
    assert await page.status() == "closed"
    assert not await page.page.locator("#join-token").is_visible()  # no token wanted here
    await page.screenshot("join-form")
    await page.page.locator("#join input[name=name]").fill("Watcher")
    await page.page.locator("#join input[name=room]").fill(room)
    async with page.page.expect_navigation():
        await page.page.locator("#join input[name=room]").press("Enter")
    assert page.page.url.endswith(f"/play/?room={room}&name=Watcher")
    await page.until("(s) => s.client?.status === 'open'")
    alone = await frame_rate(page, 1.5)
    await page.hold("w", 2.5)  # 10 m ahead: then about half the circle is behind the camera

    stop = asyncio.Event()
    sockets = [await live_players.connect(cluster.two.ws_url) for _ in range(BOTS)]
    bots = [asyncio.create_task(bot(s, i, room, stop)) for i, s in enumerate(sockets)]
    try:
        await page.until("(s, n) => Object.keys(s.avatars()).length === n", BOTS + 1)
        # A tag per player from its first frame, those behind the camera too (hidden, in the DOM).
        assert await page.hook("() => document.querySelectorAll('.nametag').length") == BOTS + 1
        await page.hold("s", 2.5)  # back where it was: the whole circle ahead
        crowded = await frame_rate(page, 3)
        await page.say("twenty of you, hello")
        await page.until("(s) => s.chat().length === 1")
        await page.screenshot("twenty-bots")
    finally:
        stop.set()
        await asyncio.gather(*bots)

    write_timings(
        "twenty-bots",
        {"fps_alone": round(alone, 1), "fps_with_20_bots": round(crowded, 1), "bots": BOTS},
    )
