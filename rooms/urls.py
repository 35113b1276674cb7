"""HTTP routes of rooms: GET /rooms."""

from __future__ import annotations

from django.urls import path

from rooms.views import RoomListView

urlpatterns = [
    path("rooms", RoomListView.as_view(), name="rooms"),
]
