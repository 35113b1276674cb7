"""The operators' side of moderation in the Django admin: the live rooms page (rooms with players
now, from Redis, with kick / mute / ban / close / redact buttons) and the audit trail (read-only;
no row can be deleted from the admin). Both need the `moderate` permission (the audit's list
also lets a user with only its view permission read it)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from moderation import services
from moderation.models import ModerationAction
from moderation.selectors import can_moderate, live_rooms
from signight.errors import BACKING_SERVICE_ERRORS, DomainError


class ActionForm(forms.Form):
    """One button of the live rooms page; which fields count depends on `action`."""

    action = forms.ChoiceField(
        choices=[(k, k) for k in ("kick", "ban", "unban", "mute", "close_room", "redact")]
    )
    client_id = forms.CharField(required=False, max_length=64)
    subject = forms.CharField(required=False, max_length=255)
    room_id = forms.CharField(required=False, max_length=64)
    message_id = forms.CharField(required=False, max_length=24)
    minutes = forms.IntegerField(required=False, min_value=1, max_value=7 * 24 * 60)
    reason = forms.CharField(required=False, max_length=500)


def _act(user: Any, data: dict[str, Any]) -> services.Outcome:
    action, reason = data["action"], data.get("reason") or ""
    if action == "kick":
        return services.kick(actor=user, client_id=data["client_id"], reason=reason)
    if action == "ban":
        return services.ban(actor=user, subject=data["subject"], until=None, reason=reason)
    if action == "unban":
        return services.unban(actor=user, subject=data["subject"])
    if action == "mute":
        return services.mute(
            actor=user,
            client_id=data["client_id"],
            room_id=data["room_id"],
            minutes=data.get("minutes") or 10,
            reason=reason,
        )
    if action == "close_room":
        return services.close_room(actor=user, room_id=data["room_id"], reason=reason)
    return services.redact(actor=user, message_id=data["message_id"], reason=reason)


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "actor_name", "room_id", "client_id", "reached")
    list_filter = ("action", "created_at")
    search_fields = ("actor_name", "room_id", "client_id", "subject", "message_id", "reason")
    readonly_fields = [f.name for f in ModerationAction._meta.fields]
    change_list_template = "admin/moderation/moderationaction/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        live = self.admin_site.admin_view(self.live_view)
        return [path("live/", live, name="moderation_live"), *super().get_urls()]

    def live_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the rooms with players now. POST: one action, then back here with its outcome."""
        if not can_moderate(request.user):
            raise PermissionDenied
        if request.method == "POST":
            form = ActionForm(request.POST)
            if not form.is_valid():
                messages.error(request, f"Not done: {form.errors.as_text()}")
            else:
                try:
                    outcome = _act(request.user, form.cleaned_data)
                except DomainError as exc:
                    messages.error(request, f"Not done: {exc}")
                else:
                    messages.success(
                        request,
                        f"{form.cleaned_data['action']}: reached {outcome.reached} socket(s) "
                        f"(audit {outcome.action_id})",
                    )
            return HttpResponseRedirect(reverse("admin:moderation_live"))
        try:
            rooms, unavailable = live_rooms(services.connection_ages()), False
        except BACKING_SERVICE_ERRORS:
            rooms, unavailable = [], True
        context = {
            **self.admin_site.each_context(request),
            "title": "Live rooms",
            "rooms": rooms,
            "unavailable": unavailable,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/moderation/live.html", context)
