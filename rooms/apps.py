"""App config of rooms: rooms and the live players in them."""

from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"
    default_auto_field = "django_mongodb_backend.fields.ObjectIdAutoField"
