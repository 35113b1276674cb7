"""Room: the durable record of a room (MongoDB). Who is in it lives in Redis (rooms.presence)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from signight.text import ROOM_ID_MAX_CHARS, ROOM_ID_PATTERN

DEFAULT_MAX_PLAYERS = 16


class Room(models.Model):
    room_id = models.CharField(
        max_length=ROOM_ID_MAX_CHARS,
        unique=True,
        validators=[RegexValidator(ROOM_ID_PATTERN, "1-64 of A-Z a-z 0-9 _ -")],
    )
    created_at = models.DateTimeField(auto_now_add=True)
    max_players = models.PositiveIntegerField(
        default=DEFAULT_MAX_PLAYERS, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    is_closed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["-created_at"], name="room_created_desc")]

    def __str__(self) -> str:
        return self.room_id
