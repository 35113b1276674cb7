"""Project-level HTTP views: health, probes, metrics, and JWT tokens for Django users."""

from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from signight import __version__, health, lifecycle, metrics
from signight.errors import DomainError


class _MintingDisabled(DomainError):
    code = "token_minting_disabled"
    http_status = HTTPStatus.NOT_IMPLEMENTED


def _refuse_in_rs256_mode() -> None:
    if settings.JWT_PUBLIC_KEY:
        raise _MintingDisabled("this server verifies RS256 tokens from the identity service only")


class TokenObtainView(jwt_views.TokenObtainPairView):
    """POST {"username", "password"} -> {"access", "refresh"} (HS256, JWT_SECRET, JWT_ISSUER)."""

    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        _refuse_in_rs256_mode()
        return super().post(request, *args, **kwargs)


class TokenRefreshView(jwt_views.TokenRefreshView):
    """POST {"refresh"} -> {"access"}."""

    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        _refuse_in_rs256_mode()
        return super().post(request, *args, **kwargs)


class HealthView(APIView):
    """Liveness of the server and reachability of Redis and MongoDB (503 if either is down)."""

    authentication_classes: list[type] = []

    def get(self, request: Request) -> Response:
        ok, body = health.report()
        body["version"] = __version__
        return Response(body, status=HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE)


class LiveView(APIView):
    """Liveness: the process serves HTTP (no dependency checks: a Redis outage must not
    make Kubernetes restart every pod)."""

    authentication_classes: list[type] = []

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(APIView):
    """Readiness: dependencies reachable, the apps' readiness checks true, and not draining
    (503 from the first SIGTERM on)."""

    authentication_classes: list[type] = []

    def get(self, request: Request) -> Response:
        if lifecycle.draining:
            return Response({"status": "draining"}, status=HTTPStatus.SERVICE_UNAVAILABLE)
        ok, body = health.report(lifecycle.readiness())
        return Response(body, status=HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; gauges that need a look at Redis or MongoDB are read now (the
    apps' collectors, signight.metrics.on_scrape)."""
    deps = health.dependencies()
    for name, up in deps.items():
        metrics.DEPENDENCY_UP.labels(name).set(1 if up else 0)
    return HttpResponse(metrics.render(deps), content_type=metrics.CONTENT_TYPE)
