"""GET /rooms: the active rooms (ROOMS_LIST_ACCESS); POST /rooms: a new room, for staff (where
ROOM_AUTO_CREATE is off, the only rooms that can be joined are made here or in the admin);
GET /protocol/schema.json and /protocol/asyncapi.yaml: the socket protocol's JSON Schema and its
AsyncAPI document."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms.models import DEFAULT_MAX_PLAYERS
from rooms.protocol.schema import protocol_schema_text
from rooms.selectors import room_create, rooms_active
from signight import fields, openapi
from signight.auth import Identity
from signight.permissions import user_for_subject
from signight.text import ROOM_ID_MAX_CHARS, ROOM_ID_PATTERN


class RoomsAccess(permissions.BasePermission):
    """GET: anyone where ROOMS_LIST_ACCESS is `public` (a token is not even read), else a valid
    token (401 without). POST: a token whose user is staff (403 otherwise)."""

    def token_optional(self, method: str) -> bool:
        return method.upper() in permissions.SAFE_METHODS and settings.ROOMS_LIST_ACCESS == "public"

    def has_permission(self, request: Request, view: Any) -> bool:
        if self.token_optional(request.method or "GET"):
            return True
        identity = request.user
        if not isinstance(identity, Identity):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        user = user_for_subject(identity.subject)
        return user is not None and bool(user.is_staff)


class RoomListView(APIView):
    """GET: rooms with at least one connected player, most players first. POST: create a room."""

    permission_classes = [RoomsAccess]

    def perform_authentication(self, request: Request) -> None:
        """Lazy: the token is read only where RoomsAccess needs it (a public list ignores it)."""

    @extend_schema_serializer(component_name="RoomCreate")
    class InputSerializer(serializers.Serializer):
        room_id = fields.StringRegexField(
            ROOM_ID_PATTERN, max_length=ROOM_ID_MAX_CHARS, trim_whitespace=False
        )
        max_players = fields.NumberIntegerField(
            min_value=1, max_value=1000, default=DEFAULT_MAX_PLAYERS
        )

    @extend_schema_serializer(component_name="Room")
    class CreatedSerializer(serializers.Serializer):
        room_id = serializers.CharField()
        max_players = serializers.IntegerField()
        is_closed = serializers.BooleanField()
        created_at = serializers.DateTimeField()

    @extend_schema_serializer(component_name="ActiveRoom")
    class OutputSerializer(serializers.Serializer):
        room_id = serializers.CharField()
        player_count = serializers.IntegerField()
        max_players = serializers.IntegerField()
        created_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        operation_id="rooms_list",
        summary="Active rooms, most players first",
        responses={
            HTTPStatus.OK: OutputSerializer(many=True),
            HTTPStatus.UNAUTHORIZED: openapi.UNAUTHORIZED,
            HTTPStatus.SERVICE_UNAVAILABLE: openapi.UNAVAILABLE,
        },
    )
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(rooms_active(), many=True).data)

    @extend_schema(
        operation_id="rooms_create",
        summary="Create a room (staff)",
        request=InputSerializer,
        responses={
            HTTPStatus.CREATED: CreatedSerializer,
            HTTPStatus.BAD_REQUEST: openapi.INVALID_BODY,
            HTTPStatus.UNAUTHORIZED: openapi.UNAUTHORIZED,
            HTTPStatus.FORBIDDEN: openapi.error("The token's user is not staff."),
            HTTPStatus.CONFLICT: openapi.error("`room_exists`: a room with this id exists."),
            HTTPStatus.SERVICE_UNAVAILABLE: openapi.UNAVAILABLE,
        },
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        room = room_create(**body.validated_data)
        return Response(self.CreatedSerializer(room).data, status=HTTPStatus.CREATED)


@require_safe
def protocol_schema_view(request: HttpRequest) -> HttpResponse:
    """GET /protocol/schema.json: the socket protocol's JSON Schema (docs/protocol.schema.json),
    generated from the code that enforces it."""
    return HttpResponse(protocol_schema_text(), content_type="application/schema+json")


ASYNCAPI_FILE = settings.BASE_DIR / "docs" / "asyncapi.yaml"


@require_safe
def protocol_asyncapi_view(request: HttpRequest) -> HttpResponse:
    """GET /protocol/asyncapi.yaml: docs/asyncapi.yaml, its `$ref`s pointing at the schema as
    served here (./schema.json) rather than as committed beside it (./protocol.schema.json)."""
    text = ASYNCAPI_FILE.read_text(encoding="utf-8").replace(
        "./protocol.schema.json#", "./schema.json#"
    )
    return HttpResponse(text, content_type="application/vnd.aai.asyncapi+yaml;version=3.0.0")
