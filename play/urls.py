"""HTTP routes of play: the demo page and the site's favicon."""

from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from play.views import FaviconView, PlayView

urlpatterns = [
    path("play/", PlayView.as_view(), name="play"),
    path("play", RedirectView.as_view(pattern_name="play", query_string=True)),  # APPEND_SLASH off
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
]
