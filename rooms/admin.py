"""Operators' view of rooms: list, search, close a room to new joins."""

from __future__ import annotations

from django.contrib import admin

from rooms.models import Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("room_id", "max_players", "is_closed", "created_at")
    list_filter = ("is_closed",)
    search_fields = ("room_id",)
    ordering = ("-created_at",)
    readonly_fields = ("created_at",)
    show_full_result_count = False
