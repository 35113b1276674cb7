"""Shared fixtures. The private Redis and SecantusDB are started by devtools.pytest_services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from rooms.hub import hub
from signight.redis import get_sync
from tests.clients import LivePlayers, Players


@pytest.fixture
def room_id() -> str:
    """A room of this test alone (tests share one Redis and never flush it under each other)."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture(autouse=True)
def no_login_failures() -> None:
    """The login throttle's counts (django-axes, in the session's Redis) start at zero in every
    test: failed logins of one test, all from 127.0.0.1, must not lock another out."""
    client = get_sync()
    keys = list(client.scan_iter("sn:logins*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def clean_redis() -> None:
    """For tests that read global live state (GET /rooms): start from an empty Redis."""
    get_sync().flushdb()


@pytest.fixture
async def fresh_hub() -> AsyncIterator[None]:
    """Each socket test gets a hub with no rooms; it is stopped (players left away) afterwards.
    No keyframes: a test sees only the StateUpdates its players cause (tests/rooms/test_resume
    turns them on)."""
    keyframes, hub.tick.keyframe_every = hub.tick.keyframe_every, 0
    yield
    await hub.stop()
    hub.tick.keyframe_every = keyframes


@pytest.fixture
async def players(fresh_hub: None) -> AsyncIterator[Players]:
    """Opens in-process sockets (`await players.connect(...)`) and closes every one after the
    test, pass or fail, before the hub stops."""
    opened = Players()
    yield opened
    await opened.close_all()


@pytest.fixture
async def live_players() -> AsyncIterator[LivePlayers]:
    """Opens sockets to real servers (`await live_players.connect(url)`, `live_players.raw(port)`)
    and closes every one after the test, pass or fail."""
    opened = LivePlayers()
    yield opened
    await opened.close_all()


@pytest.fixture
def moderators_group() -> Any:
    """The "Moderators" group as moderation's migration 0002 makes it (a flushed test database
    keeps Django's permissions, which post_migrate makes again, but not the migration's rows)."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from moderation.models import ModerationAction

    content_type = ContentType.objects.get_for_model(ModerationAction)
    group, _ = Group.objects.get_or_create(name="Moderators")
    group.permissions.add(
        *Permission.objects.filter(content_type=content_type).exclude(
            codename__in=[
                "add_moderationaction",
                "change_moderationaction",
                "delete_moderationaction",
            ]
        )
    )
    return group
