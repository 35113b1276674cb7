"""The published JSON Schema (docs/protocol.schema.json, rooms.protocol.schema) is a valid draft
2020-12 schema that real frames satisfy and invalid ones do not: a client generated from it
speaks the protocol the server enforces."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
import yaml

from rooms import protocol
from rooms.protocol.schema import protocol_schema
from tests import frames
from tests.clients import STATE

SCHEMA = protocol_schema()
ROOT = Path(__file__).resolve().parents[2]


def validator(definition: str) -> jsonschema.Draft202012Validator:
    """Validates one of the schema's definitions (ClientMessage, ServerMessage)."""
    root = {"$schema": SCHEMA["$schema"], "$defs": SCHEMA["$defs"]}
    return jsonschema.Draft202012Validator({**root, "$ref": f"#/$defs/{definition}"})


def test_the_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_it_carries_the_code_tables_with_their_actions() -> None:
    closes = {row["code"]: row for row in SCHEMA["x-close-codes"]}
    assert closes[4408] == {
        "code": 4408,
        "name": "IDLE_TIMEOUT",
        "meaning": "no message for idle_timeout seconds",
        "action": "stop",
    }
    assert {row["action"] for row in closes.values()} <= {a.value for a in protocol.CloseAction}
    assert [row["code"] for row in SCHEMA["x-error-codes"]] == [c.value for c in protocol.ErrorCode]


CLIENT_MESSAGES: list[dict[str, Any]] = [
    {"type": "Join", "room_id": "lobby", "name": "Ann"},
    {"type": "Join", "room_id": "lobby", "name": "Ann", "color": "#00FF00", "id": "j1"},
    {
        "type": "Join",
        "room_id": "r",
        "name": "A",
        "state": {"position": [1, 2, 3], "rotation": [1, 0, 0, 0]},
    },
    {"type": "Update", "state": STATE},
    {"type": "Update", "state": {"position": [0, 0, 0], "rotation": [1, 0, 0, 0]}, "id": "u"},
    {"type": "Chat", "message": "hi", "id": "c-1"},
    {"type": "Leave"},
    {"type": "Ping"},
    {"type": "Ping", "t": {"sent": 1.5}},
]


@pytest.mark.parametrize("message", CLIENT_MESSAGES)
def test_messages_the_server_accepts_are_valid_client_messages(message) -> None:
    protocol.parse(msgspec.json.encode(message))
    validator("ClientMessage").validate(message)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "Join", "room_id": "bad id", "name": "A"},
        # Not "lobby\n": the schema's `$` is ECMA-262's end of input (where "lobby\n" fails),
        # but python-jsonschema runs patterns with Python's re, where `$` also matches before a
        # final newline. The server refuses it (tests/security/test_input_limits.py).
        {"type": "Join", "room_id": "r", "name": "A", "color": "red"},
        {"type": "Update", "state": {"position": [0, 0], "rotation": [1, 0, 0, 0]}},
        {"type": "Update", "state": {**STATE, "hp": 3}},
        {"type": "Chat", "message": "hi", "id": "x" * 65},
        {"type": "Teleport"},
    ],
)
def test_messages_the_server_refuses_for_their_shape_are_invalid_too(message) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.parse(msgspec.json.encode(message))
    assert not validator("ClientMessage").is_valid(message)


def test_every_frame_the_server_builds_is_a_valid_server_message() -> None:
    check = validator("ServerMessage")
    for frame in frames.one_of_each():
        check.validate(msgspec.json.decode(frame))
    assert not check.is_valid({"type": "Error", "code": "no_such_code", "message": "m"})


def test_the_asyncapi_document_is_served_with_refs_to_the_served_schema(client) -> None:
    response = client.get("/protocol/asyncapi.yaml")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/vnd.aai.asyncapi+yaml;version=3.0.0"
    document = yaml.safe_load(response.content)
    committed = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text(encoding="utf-8"))
    refs = sorted(_refs(document))
    assert refs == sorted(
        ref.replace("./protocol.schema.json#", "./schema.json#") for ref in _refs(committed)
    )
    payloads = [ref for ref in refs if ref.startswith("./schema.json#")]
    assert payloads, "the messages' payloads point at the served schema"
    for ref in payloads:  # each resolves in GET /protocol/schema.json (a sibling URL)
        assert ref.removeprefix("./schema.json#/$defs/") in SCHEMA["$defs"], ref


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
