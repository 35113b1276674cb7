"""The /play/ page (a template over static files) and /favicon.ico; the page itself does the rest
over the game socket."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.templatetags.static import static
from django.views.generic import RedirectView, TemplateView


class PlayView(TemplateView):
    """GET /play/: the 3D demo; `?room=`, `?name=` and `?server=` are read by the page."""

    template_name = "play/index.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # The page asks for a token up front (URL fragment or a field) when the server wants one.
        context["auth_required"] = settings.WS_AUTH_REQUIRED
        return context


class FaviconView(RedirectView):
    """GET /favicon.ico, which browsers ask for on every page of the server: the page's icon."""

    permanent = True

    def get_redirect_url(self, *args: Any, **kwargs: Any) -> str:
        return static("play/favicon.ico")
