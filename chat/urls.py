"""HTTP routes of chat: /chat/history."""

from __future__ import annotations

from django.urls import path

from chat.views import ChatHistoryView

urlpatterns = [
    path("chat/history", ChatHistoryView.as_view(), name="chat-history"),
]
