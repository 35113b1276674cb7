"""/chat/history: pages of a room's chat, newest page first, messages oldest first."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import exceptions, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.models import ChatMessage
from chat.selectors import (
    CURSOR_MAX_CHARS,
    CURSOR_PATTERN,
    InvalidCursor,
    chat_history,
    parse_cursor,
    subject_banned,
)
from rooms.selectors import player_in_room_lately
from signight import fields, openapi
from signight.auth import Identity
from signight.permissions import subject_has_perm
from signight.text import ROOM_ID_MAX_CHARS, ROOM_ID_PATTERN, iso_millis

MODERATE = "moderation.moderate"


class HistoryAccess(permissions.BasePermission):
    """CHAT_HISTORY_ACCESS: `public` wants a token only where WS_AUTH_REQUIRED is on; `member`
    and `authenticated` always do (401 without). A banned subject's token is refused (403)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        identity = request.user if isinstance(request.user, Identity) else None
        if identity is not None and subject_banned(identity.subject):
            raise exceptions.PermissionDenied("This token's subject is banned by an operator.")
        return self.token_optional(request.method or "GET") or identity is not None

    def token_optional(self, method: str) -> bool:
        return settings.CHAT_HISTORY_ACCESS == "public" and not settings.WS_AUTH_REQUIRED


def check_member(request: Request, room_id: str) -> None:
    """CHAT_HISTORY_ACCESS=member: the caller plays in the room (or did within the hour), or may
    moderate; anyone else gets 403."""
    identity = request.user
    if settings.CHAT_HISTORY_ACCESS != "member" or not isinstance(identity, Identity):
        return
    if player_in_room_lately(room_id, identity.client_id):
        return
    if subject_has_perm(identity.subject, MODERATE):
        return
    raise exceptions.PermissionDenied("Only the room's players (and moderators) read its chat.")


FORBIDDEN = openapi.error(
    "A banned subject, or (CHAT_HISTORY_ACCESS=member) a caller not in the room lately."
)


def _as_body(query: dict[str, str]) -> dict[str, Any]:
    """The query string's values in the body's JSON types: there `limit` is a number in text."""
    limit = query.get("limit")
    if limit is not None and re.fullmatch(r"-?[0-9]{1,9}", limit):
        return {**query, "limit": int(limit)}
    return query


class ChatHistoryView(APIView):
    """POST {"room_id", "limit", "before"} or GET ?room_id=&limit=&before= (same answer).

    Who may read it: CHAT_HISTORY_ACCESS (HistoryAccess, check_member).
    """

    permission_classes = [HistoryAccess]

    @extend_schema_serializer(component_name="ChatHistoryQuery")
    class InputSerializer(serializers.Serializer):
        # Not trimmed: " lobby" is no more a room id here than in the socket's Join.
        room_id = fields.StringRegexField(
            ROOM_ID_PATTERN, max_length=ROOM_ID_MAX_CHARS, trim_whitespace=False
        )
        limit = fields.NumberIntegerField(min_value=1, max_value=200, default=50)
        before = fields.StringRegexField(
            CURSOR_PATTERN,
            max_length=CURSOR_MAX_CHARS,
            trim_whitespace=False,
            required=False,
            allow_null=True,
            allow_blank=True,
            error_messages={"invalid": InvalidCursor.MESSAGE},
            help_text="The `next_before` of the previous page; empty, null or absent: the latest.",
        )

        def validate_before(self, value: str | None) -> str | None:
            if value:
                try:
                    parse_cursor(value)
                except InvalidCursor as exc:
                    raise serializers.ValidationError(str(exc)) from None
            return value or None

    @extend_schema_serializer(component_name="ChatHistoryPage")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="ChatItem")
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

            @extend_schema_field(OpenApiTypes.DATETIME)
            def get_timestamp(self, message: ChatMessage) -> str:
                return iso_millis(message.created_at)

        room_id = serializers.CharField()
        messages = MessageSerializer(many=True)
        next_before = serializers.CharField(
            allow_null=True,
            help_text="The `before` of the next (older) page; null on the oldest page.",
        )

    def _answer(self, data: object) -> Response:
        if not isinstance(data, dict):
            data = {}
        params = self.InputSerializer(data=data)
        params.is_valid(raise_exception=True)
        check_member(self.request, params.validated_data["room_id"])
        page = chat_history(**params.validated_data)
        output = self.OutputSerializer(page, context={"room_id": page.room_id})
        return Response(output.data)

    @extend_schema(
        operation_id="chat_history_query",
        summary="A page of a room's chat (query string)",
        parameters=[
            OpenApiParameter("room_id", openapi.ROOM_ID, required=True),
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1, "maximum": 200}, default=50
            ),
            OpenApiParameter(
                "before",
                {"type": "string", "pattern": f"^$|{openapi.ecma(CURSOR_PATTERN)}"},
                description="The `next_before` of the previous page; empty or absent: the latest.",
            ),
        ],
        responses={
            HTTPStatus.OK: OutputSerializer,
            HTTPStatus.BAD_REQUEST: openapi.INVALID_QUERY,
            HTTPStatus.UNAUTHORIZED: openapi.UNAUTHORIZED,
            HTTPStatus.FORBIDDEN: FORBIDDEN,
            HTTPStatus.SERVICE_UNAVAILABLE: openapi.UNAVAILABLE,
        },
    )
    def get(self, request: Request) -> Response:
        return self._answer(_as_body(request.query_params.dict()))

    @extend_schema(
        operation_id="chat_history",
        summary="A page of a room's chat",
        request=InputSerializer,
        responses={
            HTTPStatus.OK: OutputSerializer,
            HTTPStatus.BAD_REQUEST: openapi.INVALID_BODY,
            HTTPStatus.UNAUTHORIZED: openapi.UNAUTHORIZED,
            HTTPStatus.FORBIDDEN: FORBIDDEN,
            HTTPStatus.SERVICE_UNAVAILABLE: openapi.UNAVAILABLE,
        },
    )
    def post(self, request: Request) -> Response:
        return self._answer(request.data)
