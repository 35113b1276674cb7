"""One chat item: the socket's Chat frame (rooms.protocol.ChatItem) and an item of /chat/history
are the same fields with the same values (chat's serializer mirrors the protocol's struct)."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from chat.views import ChatHistoryView
from rooms.protocol import ChatItem

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]


def test_the_history_serializer_has_the_fields_of_the_protocol_item() -> None:
    fields = ChatHistoryView.OutputSerializer.MessageSerializer().fields
    assert list(fields) == list(ChatItem.__struct_fields__)


async def test_a_chat_frame_is_its_history_item_plus_its_type(
    async_client, room_id, players
) -> None:
    player = await players.connect()
    await player.join(room_id, name="A")
    await player.send({"type": "Chat", "message": "same\nitem"})
    frame = await player.recv_type("Chat")
    response = await async_client.get("/chat/history", {"room_id": room_id})
    assert response.status_code == HTTPStatus.OK
    history_item = {k: v for k, v in frame.items() if k not in ("type", "seq", "ref")}
    assert response.json()["messages"] == [history_item]
