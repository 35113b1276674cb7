"""ChatMessage: one persisted chat line of a room (MongoDB); a redacted one keeps a tombstone (who
took it down, when, why) and is no longer shown anywhere (issue 15)."""

from __future__ import annotations

from django.db import models


class ChatMessage(models.Model):
    # No index of its own: chat_room_latest (room, -created_at, -id) serves room lookups, and a
    # lone room index tempts the planner into an in-memory sort.
    room = models.ForeignKey(
        "rooms.Room", on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    client_id = models.CharField(max_length=64)
    name = models.CharField(max_length=32)
    message = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    redacted_at = models.DateTimeField(null=True, blank=True, editable=False)
    redacted_by = models.CharField(max_length=150, blank=True, default="", editable=False)
    redaction_reason = models.CharField(max_length=500, blank=True, default="", editable=False)

    class Meta:
        # Newest first within a room; the _id tie-break keeps pages stable when two
        # messages share a millisecond (MongoDB datetimes keep milliseconds only).
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["room", "-created_at", "-id"], name="chat_room_latest"),
            models.Index(fields=["-created_at", "-id"], name="chat_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.message[:40]}"
