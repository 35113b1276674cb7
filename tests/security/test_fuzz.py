"""Property tests: whatever a client sends, a recoverable error stays recoverable.

For arbitrary JSON, messages of a known type with fields of the wrong type, unicode edge cases
and random bytes, the server answers exactly one Error frame (valid, strict JSON with a
documented code and no traceback) and keeps the connection: a Ping right after gets its Pong.
Each example gets a fresh socket that is in no room, so no message can succeed silently; the
limits that would close a flooding client are lifted for these sockets.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rooms.protocol import MESSAGE_TYPES
from tests.clients import STATE, Socket, strict_json
from tests.security.sockets import ERROR_CODES

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NO_LIMITS = override_settings(
    WS_UPDATE_RATE=10**9, WS_CHAT_BURST=10**9, WS_FLOOD_CLOSE_SECONDS=3600
)

# --- strategies ------------------------------------------------------------------------------

CONTROL = ["\x00", "\x1b", "\x7f", "\u0085"]  # category Cc: refused in names and chat
INVISIBLE = ["\u200b", "\u200d", "\ufeff"]  # zero-width space and joiner, BOM
BIDI = ["\u202e", "\u2066", "\u061c", "\u05d0", "\u0627"]  # overrides, isolates, RTL letters
EMOJI = ["\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467"]  # one, a ZWJ family
COMPOSED = ["e\u0301", "\ufb01", "\u2028", "\u2029"]  # combining accent, ligature, separators
SURROGATES = ["\ud800", "\udfff"]  # lone: a real client can send them only as JSON escapes
NONCHARACTERS = ["\uffff", "\U0010ffff"]
EDGE_CHARACTERS = [*CONTROL, *INVISIBLE, *BIDI, *EMOJI, *COMPOSED, *SURROGATES, *NONCHARACTERS]
edge_text = st.lists(
    st.sampled_from(EDGE_CHARACTERS) | st.text(max_size=3), min_size=1, max_size=12
).map("".join)
any_text = st.text(max_size=40) | edge_text
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(any_text, children, max_size=5)
    ),
    max_leaves=30,
)


def not_a_message(value: Any) -> bool:
    return not (isinstance(value, dict) and value.get("type") in MESSAGE_TYPES)


def wrong_type_for(correct: type | tuple[type, ...]) -> st.SearchStrategy[Any]:
    return json_values.filter(
        lambda v: not isinstance(v, correct) or (isinstance(v, bool) and correct is not bool)
    )


# Messages of every type, each with one field of a wrong type or an unknown field.
wrong_fields = st.one_of(
    st.builds(
        lambda room_id, name: {"type": "Join", "room_id": room_id, "name": name},
        wrong_type_for(str),
        any_text,
    ),
    st.builds(lambda name: {"type": "Join", "room_id": "r", "name": name}, wrong_type_for(str)),
    st.builds(
        lambda color: {"type": "Join", "room_id": "r", "name": "n", "color": color},
        wrong_type_for(str),
    ),
    st.builds(lambda state: {"type": "Update", "state": state}, wrong_type_for(dict)),
    st.builds(
        lambda key, value: {"type": "Update", "state": {**STATE, key: value}},
        st.sampled_from(["name", "color", "position", "rotation", "velocity", "modelUrl"]),
        wrong_type_for((str, list)),
    ),
    st.builds(
        lambda index, value: {
            "type": "Update",
            "state": {**STATE, "position": [value if i == index else 0 for i in range(3)]},
        },
        st.integers(0, 2),
        wrong_type_for((int, float)),
    ),
    st.builds(lambda message: {"type": "Chat", "message": message}, wrong_type_for(str)),
    st.builds(
        lambda kind, key, value: {"type": kind, key: value},
        st.sampled_from(sorted(MESSAGE_TYPES)),
        any_text.filter(
            lambda k: k not in {"type", "room_id", "name", "color", "state", "message", "t"}
        ),
        json_values,
    ),
)

# Unicode edge cases where text is expected: in names, chat, room ids and message types.
unicode_messages = st.one_of(
    st.builds(lambda name: {"type": "Join", "room_id": "bad room!", "name": name}, edge_text),
    st.builds(
        lambda room: {"type": "Join", "room_id": room, "name": "n"},
        # Not a valid id, nor one with a trailing newline (that one is test_input_limits').
        edge_text.filter(lambda room: not re.fullmatch(r"[A-Za-z0-9_-]{1,64}\n?", room)),
    ),
    st.builds(lambda message: {"type": "Chat", "message": message}, edge_text),
    st.builds(lambda name: {"type": "Update", "state": {**STATE, "name": name}}, edge_text),
    st.builds(lambda kind: {"type": kind}, edge_text.filter(lambda k: k not in MESSAGE_TYPES)),
)


# --- the property ----------------------------------------------------------------------------


async def answers_once_and_stays_open(send: Any) -> None:
    """Open a socket, let `send` send one bad frame, check the answer, then Ping. The socket is
    closed at the end of each example (a test's `players` would keep all 150 open to its end)."""
    with NO_LIMITS:
        socket = Socket()
        await socket.open()
    try:
        await send(socket)
        event = await socket.event()
        assert event["type"] == "websocket.send", f"the server closed the socket: {event}"
        text = event["text"]
        frame = strict_json(text)  # no NaN, no Infinity, no 1e999
        assert frame["type"] == "Error", frame
        assert frame["code"] in ERROR_CODES, frame
        assert set(frame) == {"type", "code", "message"}, frame
        assert isinstance(frame["message"], str) and len(frame["message"]) <= 1000, frame
        assert "Traceback" not in text and 'File "' not in text, frame
        await socket.ping("after")
        assert await socket.nothing_more(0.05)
    finally:
        await socket.close()


def dumps(value: Any) -> str:
    """JSON as a careless client writes it: NaN and Infinity allowed, non-ASCII escaped."""
    return json.dumps(value, allow_nan=True)


@FUZZ
@given(value=json_values.filter(not_a_message))
async def test_arbitrary_json_gets_one_error_and_the_socket_stays_open(value) -> None:
    async def send(socket: Socket) -> None:
        await socket.send_text(dumps(value))

    await answers_once_and_stays_open(send)


@FUZZ
@given(message=wrong_fields)
async def test_fields_of_the_wrong_type_get_one_error_and_the_socket_stays_open(message) -> None:
    async def send(socket: Socket) -> None:
        await socket.send_text(dumps(message))

    await answers_once_and_stays_open(send)


@FUZZ
@given(message=unicode_messages, ascii_only=st.booleans())
async def test_unicode_edge_cases_get_one_error_and_the_socket_stays_open(
    message, ascii_only
) -> None:
    async def send(socket: Socket) -> None:
        if ascii_only or any(
            "\ud800" <= c <= "\udfff" for c in json.dumps(message, ensure_ascii=False)
        ):
            # Lone surrogates cannot be UTF-8: a real client can only send them escaped.
            await socket.send_text(json.dumps(message))
        else:
            await socket.send_text(json.dumps(message, ensure_ascii=False))

    await answers_once_and_stays_open(send)


@FUZZ
@given(data=st.binary(min_size=1, max_size=300))
async def test_random_binary_frames_get_one_error_and_the_socket_stays_open(data) -> None:
    async def send(socket: Socket) -> None:
        await socket.send_bytes(data)

    await answers_once_and_stays_open(send)


@FUZZ
@given(data=st.binary(max_size=300))
@example(data=b'{"type": "Chat", "message": "\xff"}')
async def test_random_bytes_as_text_get_one_error_and_the_socket_stays_open(data) -> None:
    """Bytes that are not UTF-8 become lone surrogates (surrogateescape): text no real server
    delivers (uvicorn closes with 1007), but the parser must still answer, not crash."""
    text = data.decode("utf-8", errors="surrogateescape")

    async def send(socket: Socket) -> None:
        await socket.send_text(text)

    await answers_once_and_stays_open(send)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
async def test_a_pong_never_carries_nan_or_infinity(number, players) -> None:
    """Ping's `t` is echoed as sent (the server never reads it); what is not JSON is refused."""
    with NO_LIMITS:
        socket = await players.connect()
    await socket.send_text(f'{{"type": "Ping", "t": {number}}}')
    assert await socket.recv() == {
        "type": "Error",
        "code": "invalid_message",
        "message": "frame contains NaN, Infinity or an invalid unicode escape",
    }
