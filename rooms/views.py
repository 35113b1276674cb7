"""GET /rooms: the active rooms; GET /protocol/schema.json and /protocol/asyncapi.yaml: the socket
protocol's JSON Schema and its AsyncAPI document."""

from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms.protocol.schema import protocol_schema_text
from rooms.selectors import rooms_active
from signight import openapi


class RoomListView(APIView):
    """Rooms with at least one connected player, most players first."""

    authentication_classes: list[type] = []  # public, even when a stale token is sent

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
            HTTPStatus.SERVICE_UNAVAILABLE: openapi.UNAVAILABLE,
        },
    )
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(rooms_active(), many=True).data)


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
