"""HTTP routes: health, rooms, chat history, and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from chat.views import ChatHistoryView
from rooms.views import RoomListView
from signight.views import (
    HealthView,
    LiveView,
    ReadyView,
    TokenObtainView,
    TokenRefreshView,
    metrics_view,
)

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("health/live", LiveView.as_view(), name="health-live"),
    path("health/ready", ReadyView.as_view(), name="health-ready"),
    path("metrics", metrics_view, name="metrics"),
    path("rooms", RoomListView.as_view(), name="rooms"),
    path("chat/history", ChatHistoryView.as_view(), name="chat-history"),
    path("api/token/", TokenObtainView.as_view(), name="token-obtain"),
    path("api/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("admin/", admin.site.urls),
]
