"""Django's model permissions, read without a join, so that they hold on every MongoDB server:
ModelBackend reads `content_type__app_label` through a $lookup, which SecantusDB answers wrongly
(every permission came back as "1.<codename>", so nobody but a superuser had any). Here the app
label comes from ContentType's own per-process cache instead (as in signight.admin). Also: the
user a token's subject names, and whether it holds a permission (the API's permission checks)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType


class PermissionBackend(ModelBackend):
    def _get_permissions(self, user_obj: Any, obj: Any, from_name: str) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        cache_name = f"_{from_name}_perm_cache"
        if not hasattr(user_obj, cache_name):
            if user_obj.is_superuser:
                perms = Permission.objects.all()
            else:
                perms = getattr(self, f"_get_{from_name}_permissions")(user_obj)
            labels = {
                f"{ContentType.objects.get_for_id(content_type).app_label}.{codename}"
                for content_type, codename in perms.values_list("content_type_id", "codename")
            }
            setattr(user_obj, cache_name, labels)
        return set(getattr(user_obj, cache_name))


def user_for_subject(subject: str) -> Any:
    """The Django user a token's subject names: its pk (tokens of /api/token/), else its username
    (an external issuer's subject, for a user made with that name); None if none is active."""
    users = get_user_model()._default_manager
    try:
        user = users.filter(pk=ObjectId(subject)).first()
    except (InvalidId, TypeError):
        user = None
    if user is None:
        field = getattr(get_user_model(), "USERNAME_FIELD", "username")
        user = users.filter(**{field: subject}).first()
    return user if user is not None and user.is_active else None


def subject_has_perm(subject: str, permission: str) -> bool:
    user = user_for_subject(subject)
    return user is not None and bool(user.has_perm(permission))
