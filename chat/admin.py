"""Operators' view of chat: list, search, filter by room, delete messages.

The list is ordered by an index (chat_latest / chat_room_latest) and never counts the whole
collection (show_full_result_count = False), so it stays fast with millions of messages.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

from chat.models import ChatMessage


class EstimatedCountPaginator(Paginator):
    """Unfiltered lists use the collection's metadata count instead of scanning every row."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where:
            # django-mongodb-backend's connection has get_collection; Django's stubs do not know it
            connection: Any = connections[getattr(self.object_list, "db", "default")]
            return connection.get_collection(query.model._meta.db_table).estimated_document_count()
        return super().count


class RoomIdFilter(admin.SimpleListFilter):
    """Filter by room id typed in the URL (?room=…); a room list would scan every room."""

    title = "room"
    parameter_name = "room"

    def lookups(self, request, model_admin):
        from rooms.models import Room

        return [
            (r, r)
            for r in Room.objects.order_by("-created_at").values_list("room_id", flat=True)[:20]
        ]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(room__room_id=self.value())
        return queryset


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "room", "name", "client_id", "message")
    list_filter = (RoomIdFilter,)
    search_fields = ("message", "name", "client_id")
    ordering = ("-created_at", "-id")
    list_select_related = ("room",)
    show_full_result_count = False
    list_per_page = 50
    paginator = EstimatedCountPaginator
    date_hierarchy = None
    readonly_fields = ("created_at",)
    raw_id_fields = ("room",)

    def delete_queryset(self, request, queryset):
        # The changelist queryset joins rooms; MongoDB cannot delete across collections.
        ids = list(queryset.values_list("pk", flat=True))
        ChatMessage.objects.filter(pk__in=ids).delete()
