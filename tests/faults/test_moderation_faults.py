"""Moderation under faults (issue 15), for real: with Redis down an action is stored and audited but
reaches no socket, and the API says so (503 `unavailable`, the audit row's parameters.live is
"failed"); with MongoDB hanging, admission does not wait for the sanctions longer than
LOAD_TIMEOUT: the player is let in on what the process knows."""

from __future__ import annotations

import signal
from http import HTTPStatus

import pytest

from devtools.services import Service
from tests import frames
from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db
from tests.moderation.live import SECRET, Api, audit, create_user, token

pytestmark = pytest.mark.e2e


async def test_an_action_while_redis_is_down_is_audited_as_not_carried(
    redis_server, cluster, database, room_id, live_players
) -> None:
    (server,) = cluster.start(1, REDIS_URL=redis_server.url, JWT_SECRET=SECRET)
    env = server_env(MONGODB_DB_NAME=database, JWT_SECRET=SECRET)
    moderator = Api(server, token(create_user(env, f"mod-{room_id}", moderator=True), "mod"))
    player = await live_players.connect(server.ws_url)
    await player.join(room_id, "P")

    redis_server.stop(kill=True)
    status, body = moderator.post("/moderation/kick", {"client_id": player.client_id})

    assert status == HTTPStatus.SERVICE_UNAVAILABLE
    assert body["code"] == "unavailable"
    (row,) = [r for r in audit(env) if r["client_id"] == player.client_id]
    assert (row["action"], row["reached"], row["parameters"]) == ("kick", 0, {"live": "failed"})


@pytest.fixture
def hanging_db_server(mongodb: Service, cluster) -> ServerProcess:
    name = unique_db()
    migrate(server_env(MONGODB_URL=mongodb.url, MONGODB_DB_NAME=name))
    (process,) = cluster.start(
        1, MONGODB_URL=mongodb.url, MONGODB_DB_NAME=name, MONGODB_TIMEOUT_MS="20000"
    )
    return process


async def test_admission_does_not_wait_for_a_hanging_mongodb(
    mongodb, hanging_db_server, live_players
) -> None:
    # Before the first socket: no sanctions loaded yet. MongoDB's own deadline (20 s) is past
    # the client's handshake timeout (10 s): only LOAD_TIMEOUT (2 s) lets the player in.
    mongodb.proc.send_signal(signal.SIGSTOP)
    player = await live_players.connect(hanging_db_server.ws_url)
    await player.send({"type": "Ping", "t": 1})
    assert await player.recv_first("Pong") == frames.pong(1)
    mongodb.proc.send_signal(signal.SIGCONT)  # the server's shutdown need not wait for it
