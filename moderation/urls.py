"""HTTP routes of moderation: POST /moderation/<action>."""

from __future__ import annotations

from django.urls import path

from moderation import views

urlpatterns = [
    path("moderation/kick", views.KickView.as_view(), name="moderation-kick"),
    path("moderation/ban", views.BanView.as_view(), name="moderation-ban"),
    path("moderation/unban", views.UnbanView.as_view(), name="moderation-unban"),
    path("moderation/mute", views.MuteView.as_view(), name="moderation-mute"),
    path("moderation/close-room", views.CloseRoomView.as_view(), name="moderation-close-room"),
    path("moderation/redact", views.RedactView.as_view(), name="moderation-redact"),
]
