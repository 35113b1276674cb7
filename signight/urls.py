"""HTTP routes: health, rooms, chat history, and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from chat.views import ChatHistoryView
from rooms.views import RoomListView
from signight.views import HealthView

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("rooms", RoomListView.as_view(), name="rooms"),
    path("chat/history", ChatHistoryView.as_view(), name="chat-history"),
    path("admin/", admin.site.urls),
]
