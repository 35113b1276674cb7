"""Schemathesis against a real server (`manage.py serve` on the suite's Redis and SecantusDB):
every operation of the live GET /api/schema/, with generated requests, answers without a 5xx and
as its schema says (status code, content type, body, headers). Authenticated like a client: a
Django superuser's token from /api/token/ (staff and a moderator: POST /rooms and the moderation
actions answer it), on a server that requires one (WS_AUTH_REQUIRED=1); a
player is in a room with chat, so /rooms and /chat/history answer with items, not only [].

schemathesis' own pytest loader (`schemathesis.pytest.from_fixture`) does not run on pytest 9.2
(it sets the removed `Node._nodeid`), so the operations are driven through its Python API:
`operation.as_strategy()` under Hypothesis, and `case.call_and_validate()` with every check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode

from tests.clients import RawSocket
from tests.e2e.servers import ROOT, ServerProcess, migrate, server_env, unique_db

pytestmark = pytest.mark.e2e

USERNAME = "schemathesis"
PASSWORD = "correct horse battery staple"
JWT_SECRET = "signight-api-tests-hs256-secret-0123456789abcdef"  # 48 bytes
ROOM = "schemathesis-lobby"
CHATS = 3
# Generated cases per operation and mode: the run stays well under a minute on two cores.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "20"))
OPERATIONS = {
    "POST /api/token/",
    "POST /api/token/refresh/",
    "GET /chat/history",
    "POST /chat/history",
    "GET /health",
    "GET /health/live",
    "GET /health/ready",
    "GET /rooms",
    "POST /rooms",
    *(
        f"POST /moderation/{action}"
        for action in ("kick", "ban", "unban", "mute", "close-room", "redact")
    ),
}
NO_INPUT = {"GET /health", "GET /health/live", "GET /health/ready", "GET /rooms"}
# Valid requests to every operation; invalid ones where there is an input to get wrong (without
# one no request is invalid, and Hypothesis finds nothing to generate).
RUNS = [(label, GenerationMode.POSITIVE) for label in sorted(OPERATIONS)] + [
    (label, GenerationMode.NEGATIVE) for label in sorted(OPERATIONS - NO_INPUT)
]

cases: Counter[str] = Counter()  # operation -> cases run, for the last test


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    env = server_env(
        MONGODB_DB_NAME=unique_db(),
        WS_AUTH_REQUIRED="1",
        JWT_SECRET=JWT_SECRET,
        WS_IDLE_TIMEOUT="600",  # the seeded player sends nothing while the cases run
        LOG_LEVEL="error",  # not a line per 400 and 401: those are what the test asks for
    )
    migrate(env)
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "createsuperuser", "--noinput"],
        env={
            **env,
            "DJANGO_SUPERUSER_USERNAME": USERNAME,
            "DJANGO_SUPERUSER_EMAIL": "schemathesis@example.com",
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        },
        check=True,
        timeout=60,
    )
    process = ServerProcess(env).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def token(server: ServerProcess) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.http_port}/api/token/",
        data=json.dumps({"username": USERNAME, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["access"]


def recv_type(socket: RawSocket, kind: str) -> dict[str, Any]:
    while True:
        opcode, payload = socket.recv_frame()
        assert opcode == 0x1, (opcode, payload)
        frame = json.loads(payload)
        if frame["type"] == kind:
            return frame


@pytest.fixture(scope="module")
def player(server: ServerProcess, token: str) -> Iterator[RawSocket]:
    """A player in ROOM who has said CHATS things, connected while the module runs."""
    socket = RawSocket(server.http_port, f"/ws/?token={token}")
    socket.send_json({"type": "Join", "room_id": ROOM, "name": "ignored", "color": "#00FF00"})
    recv_type(socket, "Welcome")
    for n in range(CHATS):
        socket.send_json({"type": "Chat", "message": f"hello {n}"})
        recv_type(socket, "Chat")
    yield socket
    socket.close()


@pytest.fixture(scope="module")
def api_schema(server: ServerProcess, token: str, player: RawSocket) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "auth": {"openapi": {"bearerAuth": {"bearer": token}}},
        }
    )
    return schemathesis.openapi.from_url(
        f"http://127.0.0.1:{server.http_port}/api/schema/",
        config=config,
        headers={"Accept": "application/vnd.oai.openapi+json"},
        timeout=10,
    )


@pytest.mark.parametrize(("label", "mode"), RUNS, ids=[f"{op}-{mode}" for op, mode in RUNS])
def test_operation_answers_as_its_schema_says(api_schema, label, mode) -> None:
    method, path = label.split(" ")

    @hypothesis.given(case=api_schema[path][method].as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(timeout=10)
        cases[label] += 1

    check()


def test_seeded_room_and_its_chat_pages_answer_as_their_schema_says(api_schema, token) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    rooms = api_schema["/rooms"]["GET"].Case().call_and_validate(timeout=10).json()
    assert [room["room_id"] for room in rooms] == [ROOM]

    history = api_schema["/chat/history"]
    first = history["POST"].Case(body={"room_id": ROOM, "limit": CHATS - 1})
    page = first.call_and_validate(headers=auth, timeout=10).json()
    assert [m["message"] for m in page["messages"]] == ["hello 1", "hello 2"]
    assert page["next_before"] is not None

    older = history["GET"].Case(query={"room_id": ROOM, "before": page["next_before"]})
    last = older.call_and_validate(headers=auth, timeout=10).json()
    assert [m["message"] for m in last["messages"]] == ["hello 0"]
    assert last["next_before"] is None
    cases.update(["GET /rooms", "POST /chat/history", "GET /chat/history"])


def test_schemathesis_checked_every_operation_of_the_live_schema(api_schema) -> None:
    live = {f"{op.ok().method.upper()} {op.ok().path}" for op in api_schema.get_all_operations()}
    assert live == OPERATIONS
    assert set(cases) == OPERATIONS
    print(f"schemathesis: {len(cases)} operations, {cases.total()} cases: {dict(cases)}")
