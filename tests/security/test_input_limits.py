"""Every limit on what a client may send, at the boundary and one past it.

A refused message gets one Error frame and the connection stays open: the next good message
works. Nesting depth counts containers: the top-level object is level 1, each object or array
inside it one more (scalars add nothing), so {"type": "Ping", "t": [[0]]} is 3 levels deep.
Frame size is uvicorn's to enforce (ws_max_size), so it is tested against a real server.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from django.test import override_settings

from tests import frames
from tests.clients import STATE, Players, Socket
from tests.e2e.servers import ServerProcess, server_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]

MAX = 1e6


def nested(levels: int, *, leaf: Any = 0, kind: str = "list") -> Any:
    value = leaf
    for i in range(levels):
        value = [value] if kind == "list" else {f"k{i}": value}
    return value


def error(message: str, code: str = "invalid_message") -> dict[str, str]:
    return {"type": "Error", "code": code, "message": message}


async def refused(socket: Socket, frame: str, expected: dict[str, str]) -> None:
    """The frame gets exactly `expected`, and the socket still answers a Ping after it."""
    await socket.send_text(frame)
    assert await socket.recv() == expected
    await socket.ping()


@pytest.fixture
async def player(players: Players) -> Socket:
    """An open socket in no room."""
    return await players.connect()


# --- nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["list", "object"])
async def test_8_levels_are_accepted_and_9_refused(player, kind) -> None:
    t = nested(7, kind=kind)  # the Ping object is level 1: 8 levels
    await player.send({"type": "Ping", "t": t})
    assert await player.recv() == frames.pong(t)
    frame = json.dumps({"type": "Ping", "t": nested(8, kind=kind)})
    await refused(player, frame, error("message is nested deeper than 8 levels"))


async def test_the_depth_limit_follows_ws_max_json_depth(player) -> None:
    with override_settings(WS_MAX_JSON_DEPTH=3):
        await player.send({"type": "Ping", "t": [[0]]})
        assert await player.recv() == frames.pong([[0]])
        frame = json.dumps({"type": "Ping", "t": [[[0]]]})
        await refused(player, frame, error("message is nested deeper than 3 levels"))


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"type": "Chat", "message": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"type": "Join", "x": ' + '{"a":' * 5000 + "0" + "}" * 5000 + "}",
    ],
    ids=["bare arrays", "Chat", "Join"],
)
async def test_a_nesting_bomb_is_refused_without_a_crash(player, frame) -> None:
    await refused(player, frame, error("message is nested too deeply"))


@pytest.mark.parametrize("levels", [1000, 8000])
async def test_a_nesting_bomb_in_a_ping_is_refused_without_a_crash(player, levels) -> None:
    """Ping's `t` is echoed raw, so msgspec walks it; 1000 levels fit in 2 KB."""
    frame = '{"type": "Ping", "t": ' + "[" * levels + "]" * levels + "}"
    await player.send_text(frame)
    event = await player.event()
    assert event["type"] == "websocket.send", f"the server crashed on the frame: {event}"
    assert json.loads(event["text"]) in (
        error("message is nested too deeply"),
        error("message is nested deeper than 8 levels"),
    )
    await player.ping()


# --- duplicate keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "key"),
    [
        ('{"type": "Ping", "type": "Ping"}', "type"),
        ('{"type": "Ping", "t": {"a": 1, "a": 2}}', "a"),
        ('{"type": "Join", "room_id": "r", "name": "A", "name": "B"}', "name"),
        (
            '{"type": "Update", "state": {"name": "A", "name": "B", "color": "#00FF00", '
            '"position": [0, 0, 0], "rotation": [1, 0, 0, 0]}}',
            "name",
        ),
        ('{"type": "Chat", "message": "a", "message": "b"}', "message"),
    ],
)
async def test_duplicate_keys_are_refused(player, frame, key) -> None:
    await refused(player, frame, error(f"duplicate key {key!r}"))


async def test_a_duplicate_key_written_with_a_space_before_its_colon_is_refused(
    player, room_id
) -> None:
    """The Update fast path counts `":` to rule duplicates out; `"name" :` is not counted."""
    await player.join(room_id, name="A")
    frame = (
        '{"type":"Update","state":{"name" :"Admin","name":"B","color":"#00FF00",'
        '"position":[0,0,0],"rotation":[1,0,0,0]}}'
    )
    await player.send_text(frame)
    assert await player.recv() == error("duplicate key 'name'")


async def test_finding_a_duplicate_key_takes_one_pass_over_the_keys() -> None:
    """A 16 KB frame holds ~2300 keys; a quadratic search for the duplicate costs ~0.1 s of the
    event loop per frame, and invalid frames are not rate limited."""
    from rooms.protocol import inbound

    compared = 0

    class Key(str):
        __hash__ = str.__hash__

        def __eq__(self, other: object) -> bool:
            nonlocal compared
            compared += 1
            return str.__eq__(self, other)

    keys = [Key(f"k{i}") for i in range(2000)]
    pairs = [(key, 0) for key in keys] + [(Key("k1999"), 0)]
    with pytest.raises(inbound.ProtocolError, match="duplicate key 'k1999'"):
        inbound._no_duplicates(pairs)
    assert compared <= 4 * len(pairs), f"{compared} key comparisons for {len(pairs)} keys"


# --- numbers ---------------------------------------------------------------------------------


def update_frame(position: str) -> str:
    return (
        '{"type": "Update", "state": {"name": "p", "color": "#00FF00", '
        f'"position": [{position}, 0, 0], "rotation": [1, 0, 0, 0]}}}}'
    )


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("NaN", "frame contains NaN, Infinity or an invalid unicode escape"),
        ("Infinity", "frame contains NaN, Infinity or an invalid unicode escape"),
        ("-Infinity", "frame contains NaN, Infinity or an invalid unicode escape"),
        ("1e999", "Number out of range - at `$.state.position[0]`"),
        ("-1e999", "Number out of range - at `$.state.position[0]`"),
    ],
)
async def test_nan_infinity_and_overflowing_numbers_are_refused(player, number, message) -> None:
    await refused(player, update_frame(number), error(message))


async def test_coordinates_of_plus_minus_1e6_are_accepted_and_one_float_beyond_refused(
    player, room_id
) -> None:
    await player.join(room_id)
    edge = {
        **STATE,
        "position": [MAX, -MAX, 0],
        "rotation": [-MAX, MAX, 0, 0],
        "velocity": [MAX, 0, -MAX],
    }
    await player.send({"type": "Update", "state": edge})
    update = await player.recv_type("StateUpdate")
    assert update["players"] == [
        {
            "client_id": player.client_id,
            "state": {
                **STATE,
                "position": [MAX, -MAX, 0.0],
                "rotation": [-MAX, MAX, 0.0, 0.0],
                "velocity": [MAX, 0.0, -MAX],
            },
        }
    ]
    above, below = math.nextafter(MAX, math.inf), math.nextafter(-MAX, -math.inf)
    for field, index, value, bound in [
        ("position", 0, above, "<= 1000000.0"),
        ("rotation", 3, below, ">= -1000000.0"),
        ("velocity", 1, above, "<= 1000000.0"),
    ]:
        state = {**edge, field: [value if i == index else 0 for i in range(len(edge[field]))]}
        await refused(
            player,
            json.dumps({"type": "Update", "state": state}),
            error(f"Expected `float` {bound} - at `$.state.{field}[{index}]`"),
        )


# --- patterns: anchored at the very end --------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "field", "words"),
    [
        (
            {"type": "Join", "room_id": "lobby\n", "name": "A"},
            "room_id",
            "1–64 of A–Z a–z 0–9 _ -",  # noqa: RUF001
        ),
        (
            {"type": "Join", "room_id": "lobby", "name": "A", "color": "#00FF00\n"},
            "color",
            "#RRGGBB, six hex digits",
        ),
        (
            {"type": "Update", "state": {**STATE, "color": "#00FF00\n"}},
            "state.color",
            "#RRGGBB, six hex digits",
        ),
        (
            {"type": "Update", "state": {**STATE, "modelUrl": "https://cdn.example/m.glb\n"}},
            "state.modelUrl",
            "an http:// or https:// URL without spaces or control characters",
        ),
    ],
    ids=["room_id", "Join color", "Update color", "modelUrl"],
)
async def test_a_trailing_newline_does_not_match_a_pattern(player, message, field, words) -> None:
    """`$` in a Python regex also matches before a final newline: "lobby\n" would be a second,
    look-alike room, and "#00FF00\n" a color other clients must parse. The error says the rule
    in words, never the regular expression."""
    await refused(player, json.dumps(message), error(f"{field}: {words}"))


# --- text: surrogates, control characters, normalisation --------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "Join", "room_id": "r", "name": "\\ud800"}',
        '{"type": "Join", "room_id": "r", "name": "a\\udfffb"}',
        '{"type": "Chat", "message": "\\ude00\\ud83d"}',  # a pair in the wrong order
    ],
)
async def test_a_lone_surrogate_escape_is_refused(player, frame) -> None:
    await refused(player, frame, error("frame contains NaN, Infinity or an invalid unicode escape"))


async def test_a_surrogate_pair_escape_is_one_character(player, room_id) -> None:
    await player.send_text(f'{{"type": "Join", "room_id": "{room_id}", "name": "\\ud83d\\ude00"}}')
    welcome = await player.recv_type("Welcome")
    assert welcome["room_state"][0]["state"]["name"] == "\U0001f600"


async def test_a_raw_lone_surrogate_in_a_text_event_gets_invalid_message(player) -> None:
    """uvicorn never delivers one (invalid UTF-8 closes with 1007), but the parser must not treat
    the ASGI text it is given as a crash: an Error frame, not close 1011 and a logged traceback."""
    await player.send_text('{"type": "Chat", "message": "\udcff"}')
    event = await player.event()
    assert event["type"] == "websocket.send", f"the server crashed on the frame: {event}"
    assert json.loads(event["text"])["code"] in ("invalid_json", "invalid_message")
    await player.ping()


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\n", "\t", "\r"])
async def test_a_control_character_in_a_name_is_refused(player, char) -> None:
    frame = json.dumps({"type": "Join", "room_id": "r", "name": f"A{char}B"})
    await refused(player, frame, error("name contains a control character"))


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\t", "\x85"])
async def test_a_control_character_in_chat_is_refused(player, room_id, char) -> None:
    await player.join(room_id)
    frame = json.dumps({"type": "Chat", "message": f"hi{char}there"})
    await refused(player, frame, error("message contains a control character"))


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
async def test_windows_and_old_mac_newlines_in_chat_become_newlines(player, room_id, newline):
    await player.join(room_id)
    await player.send({"type": "Chat", "message": f"line one{newline}line two"})
    assert (await player.recv_type("Chat"))["message"] == "line one\nline two"


async def test_newlines_in_chat_are_kept(player, room_id) -> None:
    await player.join(room_id)
    await player.send({"type": "Chat", "message": "line one\nline two"})
    assert (await player.recv_type("Chat"))["message"] == "line one\nline two"


@pytest.mark.parametrize("name", ["\u200b", "\u202eevil", "a\u200db", "\U0001f600"])
async def test_format_characters_and_emoji_are_names(player, room_id, name) -> None:
    """Only Cc is refused: zero-width and bidi controls (Cf) pass; clients render names safely."""
    welcome = await player.join(room_id, name=name)
    assert welcome["room_state"][0]["state"]["name"] == name


@pytest.mark.parametrize("name", ["   ", ""])
async def test_a_blank_name_is_refused(player, name) -> None:
    frame = json.dumps({"type": "Join", "room_id": "r", "name": name})
    expected = "name must not be blank" if name else "Expected `str` of length >= 1 - at `$.name`"
    await refused(player, frame, error(expected))


async def test_names_and_chat_are_nfc_normalised(player, room_id) -> None:
    welcome = await player.join(room_id, name="Rene\u0301e")
    assert welcome["room_state"][0]["state"]["name"] == "Ren\u00e9e"
    await player.send({"type": "Chat", "message": "cafe\u0301"})
    assert (await player.recv_type("Chat"))["message"] == "caf\u00e9"


async def test_lengths_are_bounded(player, room_id) -> None:
    await refused(
        player,
        json.dumps({"type": "Join", "room_id": "r", "name": "x" * 33}),
        error("Expected `str` of length <= 32 - at `$.name`"),
    )
    await refused(
        player,
        json.dumps({"type": "Join", "room_id": "r" * 65, "name": "x"}),
        error("room_id: 1–64 of A–Z a–z 0–9 _ -"),  # noqa: RUF001
    )
    await player.join(room_id, name="x" * 32)
    await refused(
        player,
        json.dumps({"type": "Chat", "message": "x" * 501}),
        error("message must be 1-500 characters after trimming"),
    )
    await player.send({"type": "Chat", "message": "x" * 500})
    assert (await player.recv_type("Chat"))["message"] == "x" * 500


async def test_a_binary_frame_gets_invalid_message(player) -> None:
    await player.send_bytes(b'{"type": "Ping"}')
    assert await player.recv() == error("binary frames are not supported; send JSON text")
    await player.ping()


# --- frame size: uvicorn's ws_max_size on a real server ----------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    # WS_MAX_MESSAGE_BYTES: the default, 16384
    server = ServerProcess(server_env(SHUTDOWN_DRAIN_SECONDS="0")).start()
    yield server
    server.stop()


def ping_of(size: int, filler: str) -> str:
    """A Ping frame of exactly `size` UTF-8 bytes."""
    frame = '{"type":"Ping","t":""}'
    room = size - len(frame.encode())
    width = len(filler.encode())
    text = filler * (room // width) + "x" * (room % width)
    frame = '{"type":"Ping","t":"' + text + '"}'
    assert len(frame.encode()) == size
    return frame


@pytest.mark.e2e
@pytest.mark.parametrize("filler", ["x", "\ud55c"], ids=["ascii", "3-byte characters"])
async def test_16384_bytes_are_served_and_16385_close_with_1009(
    server, filler, live_players
) -> None:
    client = await live_players.connect(server.ws_url)
    frame = ping_of(16384, filler)
    await client.ws.send(frame)
    assert await client.recv() == frames.pong(json.loads(frame)["t"])
    await client.ws.send(ping_of(16385, filler))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(client.ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


@pytest.mark.e2e
async def test_a_message_fragmented_past_the_limit_closes_with_1009(server, live_players) -> None:
    client = await live_players.connect(server.ws_url)
    await client.ws.send(["x" * 10_000, "y" * 10_000])  # two frames, each under the limit
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(client.ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


@pytest.mark.e2e
async def test_invalid_utf8_in_a_text_frame_closes_with_1007(server, live_players) -> None:
    raw = live_players.raw(server.ws_port)
    raw.send_frame(b'{"type": "Chat", "message": "\xff"}')
    assert raw.close_code() == 1007
