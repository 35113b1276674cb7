"""The wire contract (rooms/protocol.py): what parses, what is refused and with which code."""

from __future__ import annotations

import json

import msgspec
import pytest

from rooms import protocol
from rooms.protocol import ErrorCode, ProtocolError
from rooms.protocol.frames import ServerMessage
from tests import frames
from tests.clients import STATE


def parse(message: object) -> protocol.Message:
    return protocol.parse(json.dumps(message, ensure_ascii=False))


def refused(raw: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        protocol.parse(raw)
    return info.value


def test_join_parses_any_script_name() -> None:
    msg = parse({"type": "Join", "room_id": "room123", "name": "플레이어1", "color": "#FF0000"})
    assert msg == protocol.Join(room_id="room123", name="플레이어1", color="#FF0000")


def test_update_keeps_optional_fields() -> None:
    state = {
        **STATE,
        "animation": "walking",
        "velocity": [0, 0, 1],
        "modelUrl": "https://x.io/m.glb",
    }
    msg = parse({"type": "Update", "state": state})
    assert isinstance(msg, protocol.Update)
    assert json.loads(protocol.state_json(msg.state)) == {
        **state,
        "position": [1.0, 2.0, 3.0],
        "rotation": [1.0, 0.0, 0.0, 0.0],
        "velocity": [0.0, 0.0, 1.0],
    }


def test_chat_is_trimmed_and_nfc_normalised() -> None:
    msg = parse({"type": "Chat", "message": "  cafe\u0301 "})
    assert msg == protocol.Chat(message="caf\u00e9")


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "Join", "room_id": "bad id", "name": "a"}, "room_id: 1–64 of A–Z a–z 0–9 _ -"),  # noqa: RUF001
        ({"type": "Join", "room_id": "x" * 65, "name": "a"}, "room_id: 1–64"),  # noqa: RUF001
        ({"type": "Join", "room_id": "r", "name": ""}, "$.name"),
        ({"type": "Join", "room_id": "r", "name": "n" * 33}, "$.name"),
        ({"type": "Join", "room_id": "r", "name": "a", "color": "red"}, "color: #RRGGBB"),
        ({"type": "Update", "state": {**STATE, "position": [1, 2]}}, "$.state.position"),
        ({"type": "Update", "state": {**STATE, "rotation": [1, 0, 0]}}, "$.state.rotation"),
        ({"type": "Update", "state": {**STATE, "position": [1e7, 0, 0]}}, "$.state.position[0]"),
        ({"type": "Update", "state": {**STATE, "modelUrl": "ftp://x"}}, "state.modelUrl: an http"),
        ({"type": "Update", "state": {**STATE, "animation": "run\x00"}}, "animation"),
        (
            {"type": "Update", "state": {**STATE, "modelUrl": "https://a/\x1b"}},
            "state.modelUrl: an",
        ),
        (
            {"type": "Update", "state": {**STATE, "modelUrl": "https://a/\x85"}},
            "state.modelUrl: an",
        ),
        ({"type": "Join", "room_id": "r", "name": "a", "id": "x" * 65}, "$.id"),
        ({"type": "Update", "state": {**STATE, "animation": ""}}, "$.state.animation"),
        (
            {"type": "Update", "state": {k: v for k, v in STATE.items() if k != "position"}},
            "position",
        ),
        ({"type": "Update", "state": {**STATE, "hp": 3}}, "hp"),
        ({"type": "Chat", "message": "   "}, "message"),
        ({"type": "Chat", "message": "x" * 501}, "message"),
        ({"type": "Chat", "message": 5}, "$.message"),
    ],
)
def test_invalid_messages_name_the_field(message: dict, field: str) -> None:
    error = refused(json.dumps(message))
    assert error.code == ErrorCode.INVALID_MESSAGE
    assert field in str(error)


def test_chat_of_exactly_500_characters_after_trimming_is_accepted() -> None:
    assert parse({"type": "Chat", "message": " " + "x" * 500 + " "}) == protocol.Chat(
        message="x" * 500
    )


def test_unknown_type() -> None:
    error = refused('{"type": "Teleport"}')
    assert error.code == ErrorCode.UNKNOWN_TYPE


@pytest.mark.parametrize("raw", ["{", "", "nul", b"\xff\xfe", '{"type": "Ping"} trailing'])
def test_invalid_json(raw: str | bytes) -> None:
    assert refused(raw).code == ErrorCode.INVALID_JSON


@pytest.mark.parametrize("raw", ["[]", "3", '"Join"', "{}", '{"type": 5}'])
def test_not_a_typed_object_is_invalid_message(raw: str) -> None:
    assert refused(raw).code == ErrorCode.INVALID_MESSAGE


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "Update", "state": {"name": "a", "color": "#FFFFFF", "position": [NaN, 0, 0], '
        '"rotation": [1, 0, 0, 0]}}',
        '{"type": "Update", "state": {"name": "a", "color": "#FFFFFF", "position": [1e999, 0, 0], '
        '"rotation": [1, 0, 0, 0]}}',
        '{"type": "Chat", "message": "\\ud83d"}',
        '{"type": "Chat", "message": "a\\u0000b"}',
        '{"type": "Join", "room_id": "r", "name": "a\\u0007"}',
    ],
)
def test_non_finite_numbers_lone_surrogates_and_control_characters_are_refused(raw: str) -> None:
    assert refused(raw).code == ErrorCode.INVALID_MESSAGE


def test_ping_echoes_any_json_value() -> None:
    msg = parse({"type": "Ping", "t": {"a": [1, "ü", None]}})
    assert json.loads(protocol.pong(msg.t)) == frames.pong({"a": [1, "ü", None]})


def test_every_frame_the_builders_make_is_a_published_server_message() -> None:
    """The builders (what is sent) against the structs the JSON Schema is made of: strict
    decoding (no unknown field, every required one) of each builder's output."""
    sent = frames.one_of_each()
    decoder = msgspec.json.Decoder(ServerMessage)
    kinds = [type(decoder.decode(frame)).__name__ for frame in sent]
    assert kinds == [
        "Welcome",
        "Resumed",
        "Resumed",
        "PlayerJoined",
        "PlayerLeft",
        "ChatFrame",
        "ChatFrame",
        "StateUpdate",
        "Pong",
        "ErrorFrame",
        "ErrorFrame",
    ]


def test_an_update_may_carry_an_id_and_still_hides_no_duplicate_key() -> None:
    body = '"state":{"position":[0,0,0],"rotation":[1,0,0,0]}'
    assert protocol.parse(f'{{"type":"Update","id":"u1",{body}}}').id == "u1"
    with pytest.raises(ProtocolError, match="duplicate key 'id'") as info:
        protocol.parse(f'{{"type":"Update","id":"u1","id":"u2",{body}}}')
    assert info.value.ref == "u2"  # the id msgspec kept (the last): the one the Error echoes
