"""The live rooms page in a real browser (issue 15): a moderator logs in to the admin of process
one and kicks, mutes, redacts and closes a room whose players play on process two; each reaches
them, and each leaves an audit row that the read-only audit list shows. Screenshots of both pages
go to .artifacts/moderation/ (docs/moderation-live.png is one of them, committed small)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from tests.e2e.servers import ROOT, ServerProcess
from tests.moderation.live import PASSWORD, audit, create_user
from tests.moderation.test_actions import closed_with
from tests.play.browser import chromium

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ARTIFACTS = ROOT / ".artifacts" / "moderation"


@pytest.fixture(scope="module", autouse=True)
def users(env) -> None:
    create_user(env, "moderator", moderator=True)
    create_user(env, "staff", moderator=False)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def logged_in(browser: Browser, server: ServerProcess, username: str) -> Page:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 720})).new_page()
    live = "/admin/moderation/moderationaction/live/"
    await page.goto(f"http://127.0.0.1:{server.http_port}/admin/login/?next={live}")
    await page.fill("#id_username", username)
    await page.fill("#id_password", PASSWORD)
    await page.click("input[type=submit]")
    await page.wait_for_load_state()
    return page


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    await page.screenshot(path=str(path), full_page=True)
    return path


async def test_a_moderator_acts_on_live_rooms_from_the_admin(
    env, servers, browser, live_players
) -> None:
    one, two = servers
    room = f"arena-{uuid.uuid4().hex[:6]}"
    ada = await live_players.connect(two.ws_url)
    bob = await live_players.connect(two.ws_url)
    await ada.join(room, "Ada")
    await bob.join(room, "Bob")
    await bob.send({"type": "Chat", "message": "buy gold at example.com"})
    spam = await ada.recv_type("Chat")

    page = await logged_in(browser, one, "moderator")
    room_section = page.locator(f'section.live-room[data-room="{room}"]')
    assert "2 players" in await room_section.locator("h2").inner_text()
    rows = room_section.locator("tr.live-player")
    assert sorted(await rows.locator("td:first-child").all_inner_texts()) == ["Ada", "Bob"]
    ages = await rows.locator("td.connection-age").all_inner_texts()
    assert all(age.startswith("0 min ") for age in ages), ages  # told by process two
    assert "buy gold" in await room_section.locator("tr.live-chat").inner_text()
    print(f"live rooms page: {await screenshot(page, 'live.png')}")

    bob_row = room_section.locator(f'tr.live-player[data-client="{bob.client_id}"]')
    await bob_row.locator("input[name=reason]").fill("spam")
    await bob_row.locator("button[value=kick]").click()
    await page.wait_for_load_state()
    assert "Kick: reached 1 socket(s)" in (await page.locator(".messagelist").text_content() or "")
    assert (await closed_with(bob))[0] == 4403
    assert (await ada.recv_type("PlayerLeft"))["client_id"] == bob.client_id

    ada_row = room_section.locator(f'tr.live-player[data-client="{ada.client_id}"]')
    await ada_row.locator("input[name=minutes]").fill("3")
    await ada_row.locator("button[value=mute]").click()
    await page.wait_for_load_state()
    await ada.send({"type": "Chat", "message": "hello?"})
    assert (await ada.recv_type("Error"))["code"] == "muted"

    chat_row = room_section.locator(f'tr.live-chat[data-message="{spam["id"]}"]')
    await chat_row.locator("button").click()
    await page.wait_for_load_state()
    assert (await ada.recv_type("ChatRedacted"))["id"] == spam["id"]
    assert await room_section.locator(f'tr.live-chat[data-message="{spam["id"]}"]').count() == 0

    await room_section.locator("input[name=reason]").first.fill("maintenance")
    await room_section.locator("button[name=close]").click()
    await page.wait_for_load_state()
    closed = await ada.recv_type("RoomClosed")
    assert closed == {"type": "RoomClosed", "room_id": room, "reason": "maintenance"}

    rows_by_action = {row["action"]: row for row in audit(env)}
    assert {a: (r["actor"], r["reached"]) for a, r in rows_by_action.items()} == {
        "kick": ("moderator", 1),
        "mute": ("moderator", 1),
        "redact": ("moderator", 1),
        "close_room": ("moderator", 1),
    }
    await page.goto(f"http://127.0.0.1:{one.http_port}/admin/moderation/moderationaction/")
    listed = await page.locator("#result_list tbody tr").count()
    assert listed == 4
    assert await page.locator("a.addlink").count() == 0  # nobody adds audit rows by hand
    assert await page.locator("select[name=action] option[value=delete_selected]").count() == 0
    print(f"audit page: {await screenshot(page, 'audit.png')}")
    await page.context.close()


async def test_the_live_rooms_page_needs_the_moderation_permission(servers, browser) -> None:
    one, _ = servers
    page = await logged_in(browser, one, "staff")  # staff, not a moderator
    response = await page.goto(
        f"http://127.0.0.1:{one.http_port}/admin/moderation/moderationaction/live/"
    )
    assert response is not None and response.status == 403
    await page.context.close()
