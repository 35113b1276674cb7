"""Project-level HTTP views: health, probes, metrics, and JWT tokens for Django users."""

from __future__ import annotations

import logging
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from signight import __version__, health, lifecycle, metrics
from signight.errors import DomainError

logger = logging.getLogger(__name__)


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


def _health_response(ok: bool, body: dict[str, str], *, level: int = logging.WARNING) -> Response:
    """200, or 503 logged as the expected state it is (one line at `level`, not Django's
    "Service Unavailable" ERROR)."""
    response = Response(body, status=HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE)
    if not ok:
        logger.log(level, "not ready: %s", body)
        response._has_been_logged = True  # type: ignore[attr-defined]  # django.utils.log
    return response


class HealthView(APIView):
    """Liveness of the server and reachability of Redis and MongoDB (503 if either is down)."""

    authentication_classes: list[type] = []

    def get(self, request: Request) -> Response:
        ok, body = health.report()
        body["version"] = __version__
        return _health_response(ok, body)


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
        if lifecycle.draining:  # what a drain is meant to do: INFO
            return _health_response(False, {"status": "draining"}, level=logging.INFO)
        ok, body = health.report(lifecycle.readiness())
        return _health_response(ok, body)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; gauges that need a look at Redis or MongoDB are read now (the
    apps' collectors, signight.metrics.on_scrape)."""
    deps = health.dependencies()
    for name, up in deps.items():
        metrics.DEPENDENCY_UP.labels(name).set(1 if up else 0)
    return HttpResponse(metrics.render(deps), content_type=metrics.CONTENT_TYPE)
