"""GET /rooms: the active rooms."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms.selectors import rooms_active


class RoomListView(APIView):
    """Rooms with at least one connected player, most players first."""

    authentication_classes: list[type] = []  # public, even when a stale token is sent

    class OutputSerializer(serializers.Serializer):
        room_id = serializers.CharField()
        player_count = serializers.IntegerField()
        max_players = serializers.IntegerField()
        created_at = serializers.DateTimeField(allow_null=True)

    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(rooms_active(), many=True).data)
