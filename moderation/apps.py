"""App config of moderation: operators' actions on live rooms, their audit trail, their API."""

from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"
    default_auto_field = "django_mongodb_backend.fields.ObjectIdAutoField"
