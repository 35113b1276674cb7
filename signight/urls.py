"""HTTP routes: health, probes, metrics, tokens, the OpenAPI schema and its docs, the admin; the
apps' own routes (rooms, chat, moderation, the /play/ demo) are included (the project's entry
points, this module and signight.asgi, are where the apps are composed)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from signight.views import (
    HealthView,
    LiveView,
    ReadyView,
    TokenObtainView,
    TokenRefreshView,
    metrics_view,
)

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("health/live", LiveView.as_view(), name="health-live"),
    path("health/ready", ReadyView.as_view(), name="health-ready"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("rooms.urls")),
    path("", include("chat.urls")),
    path("", include("moderation.urls")),
    path("", include("play.urls")),
    path("api/token/", TokenObtainView.as_view(), name="token-obtain"),
    path("api/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
]
