"""Room: the durable record of a room, and Sanction: what operators put on players (MongoDB). Who
is in a room lives in Redis (rooms.presence)."""

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


class Sanction(models.Model):
    """What an operator put on a player (issue 15): a ban of a token subject (optionally until a
    time), a mute of a player in a room until a time, or a kick (its resume tokens issued before
    it are void, for as long as a resume token lives). Every process keeps the ones in force in
    memory (rooms.sanctions); the audit trail of who did it is moderation.ModerationAction."""

    class Kind(models.TextChoices):
        BAN = "ban"
        MUTE = "mute"
        KICK = "kick"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    subject = models.CharField(max_length=255)  # a token subject: the player's client_id
    room_id = models.CharField(max_length=ROOM_ID_MAX_CHARS, blank=True, default="")  # mutes
    created_at = models.DateTimeField(auto_now_add=True)
    until = models.DateTimeField(null=True, blank=True)  # None: until lifted
    lifted_at = models.DateTimeField(null=True, blank=True)  # an unban

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "subject"], name="sanction_kind_subject")]

    def __str__(self) -> str:
        where = f" in {self.room_id}" if self.room_id else ""
        return f"{self.kind} {self.subject}{where}"
