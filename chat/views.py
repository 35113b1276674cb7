"""/chat/history: pages of a room's chat, newest page first, messages oldest first."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.models import ChatMessage
from chat.selectors import InvalidCursor, chat_history, parse_cursor
from signight.auth import TokenRequiredWhenAuthRequired
from signight.text import ROOM_ID_MAX_CHARS, ROOM_ID_PATTERN, iso_millis


class ChatHistoryView(APIView):
    """POST {"room_id", "limit", "before"} or GET ?room_id=&limit=&before= (same answer).

    Needs `Authorization: Bearer <jwt>` when WS_AUTH_REQUIRED is on.
    """

    permission_classes = [TokenRequiredWhenAuthRequired]

    class InputSerializer(serializers.Serializer):
        room_id = serializers.RegexField(ROOM_ID_PATTERN, max_length=ROOM_ID_MAX_CHARS)
        limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
        before = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, max_length=64
        )

        def validate_before(self, value: str | None) -> str | None:
            if value:
                try:
                    parse_cursor(value)
                except InvalidCursor as exc:
                    raise serializers.ValidationError(str(exc)) from None
            return value or None

    class OutputSerializer(serializers.Serializer):
        class MessageSerializer(serializers.Serializer):
            """The chat item of the socket protocol (rooms.protocol.ChatItem: a test holds the
            two equal; chat imports nothing from rooms but rooms.models)."""

            id = serializers.CharField(source="pk")
            room_id = serializers.SerializerMethodField()
            client_id = serializers.CharField()
            name = serializers.CharField()
            message = serializers.CharField()
            timestamp = serializers.SerializerMethodField()

            def get_room_id(self, message: ChatMessage) -> str:
                return str(self.context["room_id"])

            def get_timestamp(self, message: ChatMessage) -> str:
                return iso_millis(message.created_at)

        room_id = serializers.CharField()
        messages = MessageSerializer(many=True)
        next_before = serializers.CharField(allow_null=True)

    def _answer(self, data: object) -> Response:
        if not isinstance(data, dict):
            data = {}
        params = self.InputSerializer(data=data)
        params.is_valid(raise_exception=True)
        page = chat_history(**params.validated_data)
        output = self.OutputSerializer(page, context={"room_id": page.room_id})
        return Response(output.data)

    def get(self, request: Request) -> Response:
        return self._answer(request.query_params.dict())

    def post(self, request: Request) -> Response:
        return self._answer(request.data)
