"""Ghosts do not outlive the reconcile interval (issue 11, part): a player that Redis lists for
this process with no socket behind it (a join or leave cut short by a Redis error or stall) is
removed, and its room is told; the players that are here stay."""

from __future__ import annotations

import pytest

from rooms import presence
from rooms.hub import hub

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]


async def test_a_player_listed_for_this_process_with_no_socket_is_removed(room_id, players) -> None:
    watcher = await players.connect()
    await watcher.join(room_id, "Watcher")
    await presence.player_join(
        room_id=room_id,
        client_id="ghost",
        owner=presence.owner(hub.node_id, "a-socket-that-is-gone"),
        state=b"{}",
        max_players=16,
    )
    assert await hub.reconcile() == 1
    assert await watcher.recv_type("PlayerLeft") == {"type": "PlayerLeft", "client_id": "ghost"}
    assert presence.room_counts().count((room_id, 1)) == 1, "the watcher stays"
    assert await hub.reconcile() == 0
