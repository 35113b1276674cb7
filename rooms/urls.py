"""HTTP routes of rooms: GET /rooms, GET /protocol/schema.json."""

from __future__ import annotations

from django.urls import path

from rooms.views import RoomListView, protocol_schema_view

urlpatterns = [
    path("rooms", RoomListView.as_view(), name="rooms"),
    path("protocol/schema.json", protocol_schema_view, name="protocol-schema"),
]
