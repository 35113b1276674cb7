"""ModerationAction: the audit trail, one row per operator action (who, what, on whom, why, and how
many live sockets it reached); its `moderate` permission is what the actions require."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ModerationAction(models.Model):
    class Kind(models.TextChoices):
        KICK = "kick"
        BAN = "ban"
        UNBAN = "unban"
        MUTE = "mute"
        CLOSE_ROOM = "close_room", "Close room"
        REDACT = "redact"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)  # kept if the user is deleted
    action = models.CharField(max_length=16, choices=Kind.choices)
    room_id = models.CharField(max_length=64, blank=True, default="")
    client_id = models.CharField(max_length=64, blank=True, default="")
    subject = models.CharField(max_length=255, blank=True, default="")
    message_id = models.CharField(max_length=24, blank=True, default="")
    reason = models.CharField(max_length=500, blank=True, default="")
    parameters = models.JSONField(default=dict, blank=True)  # a mute's minutes, a ban's until
    created_at = models.DateTimeField(auto_now_add=True)
    reached = models.PositiveIntegerField(default=0)  # live sockets it reached

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["-created_at"], name="moderation_latest")]
        permissions = [("moderate", "Can take moderation actions on live rooms")]

    def __str__(self) -> str:
        target = self.client_id or self.subject or self.room_id or self.message_id
        return f"{self.action} {target} by {self.actor_name}"
