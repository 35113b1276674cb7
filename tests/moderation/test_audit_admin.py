"""The audit trail in the admin (issue 15): moderators read it, nobody changes or deletes a row,
and the live rooms page wants the moderation permission."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model

from moderation.models import ModerationAction

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a-long-password-1"


@pytest.fixture
def moderator(client, moderators_group):
    user = get_user_model().objects.create_user("mod", password=PASSWORD, is_staff=True)
    user.groups.add(moderators_group)
    client.force_login(user)  # Client.login passes no request, which the login throttle needs
    return client


@pytest.fixture
def action() -> ModerationAction:
    return ModerationAction.objects.create(
        actor_name="mod", action="kick", client_id="c-1", reason="grief", reached=1
    )


def test_moderators_read_the_audit_trail(moderator, action) -> None:
    listing = moderator.get("/admin/moderation/moderationaction/", {"action__exact": "kick"})
    assert listing.status_code == HTTPStatus.OK
    assert b"c-1" in listing.content
    detail = moderator.get(f"/admin/moderation/moderationaction/{action.pk}/change/")
    assert detail.status_code == HTTPStatus.OK
    assert b"grief" in detail.content and b'name="_save"' not in detail.content


def test_nobody_changes_or_deletes_an_audit_row(moderator, action) -> None:
    base = f"/admin/moderation/moderationaction/{action.pk}"
    assert (
        moderator.post(f"{base}/change/", {"reason": "nothing"}).status_code == HTTPStatus.FORBIDDEN
    )
    assert moderator.post(f"{base}/delete/", {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN
    assert (
        moderator.get("/admin/moderation/moderationaction/add/").status_code == HTTPStatus.FORBIDDEN
    )
    assert ModerationAction.objects.get(pk=action.pk).reason == "grief"


def test_the_live_rooms_page_wants_the_moderation_permission(client, moderator) -> None:
    assert moderator.get("/admin/moderation/moderationaction/live/").status_code == HTTPStatus.OK
    ops = get_user_model().objects.create_user("ops", password=PASSWORD, is_staff=True)
    client.logout()
    client.force_login(ops)
    assert (
        client.get("/admin/moderation/moderationaction/live/").status_code == HTTPStatus.FORBIDDEN
    )


def test_the_live_rooms_page_bans_and_unbans_a_subject(moderator) -> None:
    from rooms.models import Sanction

    page = "/admin/moderation/moderationaction/live/"
    banned = moderator.post(page, {"action": "ban", "subject": "carol", "reason": "cheat"})
    assert banned.status_code == HTTPStatus.FOUND
    assert Sanction.objects.filter(kind="ban", subject="carol", lifted_at=None).count() == 1
    assert moderator.post(page, {"action": "unban", "subject": "carol"}).status_code == 302
    assert not Sanction.objects.filter(kind="ban", subject="carol", lifted_at=None).exists()
    assert {(a.action, a.subject, a.actor_name) for a in ModerationAction.objects.all()} == {
        ("unban", "carol", "mod"),
        ("ban", "carol", "mod"),
    }
