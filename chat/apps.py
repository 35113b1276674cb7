"""App config of chat: persisted room chat and its history."""

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django_mongodb_backend.fields.ObjectIdAutoField"
