"""HTTP routes of rooms: GET /rooms, the socket protocol's published documents."""

from __future__ import annotations

from django.urls import path

from rooms.views import RoomListView, protocol_asyncapi_view, protocol_schema_view

urlpatterns = [
    path("rooms", RoomListView.as_view(), name="rooms"),
    path("protocol/schema.json", protocol_schema_view, name="protocol-schema"),
    path("protocol/asyncapi.yaml", protocol_asyncapi_view, name="protocol-asyncapi"),
]
