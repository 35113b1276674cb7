"""A release's hand-over on real processes (issue 16): two `manage.py serve` processes labelled as
two versions share Redis and MongoDB behind a TCP proxy of the test's own, which plays the
VirtualService: it sends new connections to the old version, then to the new one. The old one is
sent SIGTERM: its drain closes each socket with 1001, each player reconnects through the proxy,
lands on the new version and resumes there, recovered; nobody in the room sees anyone leave."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.faults.players import Player, connect

pytestmark = pytest.mark.e2e

PLAYERS = 6
OLD, NEW = "1.0.0", "1.1.0"


def version_of(metrics_text: str) -> set[str]:
    return {
        line.split('version="', 1)[1].split('"', 1)[0]
        for line in metrics_text.splitlines()
        if line.startswith("signight_build_info{")
    }


async def test_a_release_moves_every_player_to_the_new_version_and_none_leaves(
    cluster, room_id, live_players
) -> None:
    timing = {"SHUTDOWN_DRAIN_SECONDS": "2", "RESUME_GRACE_SECONDS": "20"}
    old, new = cluster.start_each(
        {"SIGNIGHT_VERSION": OLD, **timing}, {"SIGNIGHT_VERSION": NEW, **timing}
    )
    route = cluster.proxy(old.http_port)  # the VirtualService: every new connection to OLD
    url = f"ws://127.0.0.1:{route.port}/ws/"
    players = [await connect(live_players, url) for _ in range(PLAYERS)]
    for number, player in enumerate(players):
        await player.join(room_id, f"P{number}")
    for player in players:  # each has heard every other join: the room is whole
        while len(player.room) < PLAYERS:
            await player.recv(timeout=10)
    assert old.player_count(room_id) == PLAYERS

    route.target_port = new.http_port  # the switch: new connections go to NEW
    old.signal(signal.SIGTERM)

    async def hand_over(gone: Player) -> Player:
        code, _ = await gone.closed()
        assert code == 1001, f"{gone.name}: closed {code}, not the drain's 1001"
        back = await connect(live_players, url)
        resumed = await back.resume(gone)
        assert resumed["type"] == "Resumed" and resumed["recovered"] is True, resumed
        return back

    moved = await asyncio.gather(*(hand_over(player) for player in players))
    assert old.proc is not None and old.proc.wait(30) == 0
    assert new.player_count(room_id) == PLAYERS
    _, metrics = new.get_text("/metrics")
    assert version_of(metrics) == {NEW}

    for player in moved:  # a while longer: no late PlayerLeft either
        await player.listen(1.0)
    seen = [
        (player.name, event["client_id"])
        for player in [*players, *moved]
        for event in player.events
        if event["type"] == "PlayerLeft"
    ]
    assert seen == [], f"players seen leaving: {seen}"
    assert all(not player.surprises for player in [*players, *moved])
    assert {p.client_id for p in moved} == {p.client_id for p in players}
