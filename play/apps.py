"""The play app's configuration."""

from __future__ import annotations

from django.apps import AppConfig


class PlayConfig(AppConfig):
    name = "play"
    verbose_name = "Play (the 3D demo page)"
