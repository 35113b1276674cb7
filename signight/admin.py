"""The admin's user and group pages, made to work on every MongoDB server: Django loads each
permission's content type with select_related, a $lookup whose $addFields SecantusDB answers by
replacing the embedded document (MongoDB merges into it), so every label raised "Permission has
no content_type" and both pages answered 500. Here the labels take content types from
ContentType's own per-process cache instead: no join, and no query per permission."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import ManyToManyField
from django.http import HttpRequest

PERMISSION_FIELDS = {"permissions", "user_permissions"}


class PermissionChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Permission) -> str:
        return f"{ContentType.objects.get_for_id(obj.content_type_id)} | {obj.name}"


class PermissionLabels:
    """Mixed into an admin: its permission fields without the join."""

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelMultipleChoiceField | None:
        if db_field.name not in PERMISSION_FIELDS:
            return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]
        kwargs["form_class"] = PermissionChoices
        field = super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]
        if field is not None:  # GroupAdmin's own select_related is undone here
            field.queryset = Permission.objects.all()
        return field


class SignightUserAdmin(PermissionLabels, UserAdmin):
    pass


class SignightGroupAdmin(PermissionLabels, GroupAdmin):
    pass


User = get_user_model()
admin.site.unregister(User)
admin.site.register(User, SignightUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, SignightGroupAdmin)
