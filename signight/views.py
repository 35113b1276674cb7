"""Project-level HTTP views: health, probes, metrics, and JWT tokens for Django users."""

from __future__ import annotations

import logging
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from signight import __version__, health, lifecycle, logins, metrics, openapi
from signight.errors import DomainError

logger = logging.getLogger(__name__)


class _MintingDisabled(DomainError):
    code = "token_minting_disabled"
    http_status = HTTPStatus.NOT_IMPLEMENTED


def _refuse_unless_issuing() -> None:
    if settings.JWT_PUBLIC_KEY:
        raise _MintingDisabled("this server verifies RS256 tokens from the identity service only")
    if not settings.JWT_ISSUE_TOKENS:
        raise _MintingDisabled("this server issues no tokens (JWT_ISSUE_TOKENS is off)")


_MINTING_DISABLED = openapi.error(
    "`token_minting_disabled`: this server verifies RS256 only, or JWT_ISSUE_TOKENS is off."
)


class TokenObtainView(jwt_views.TokenObtainPairView):
    """POST {"username", "password"} -> {"access", "refresh"} (HS256, JWT_SECRET, JWT_ISSUER)."""

    # The body as the schema tells it; signight.auth.TokenObtainSerializer validates it.
    @extend_schema_serializer(component_name="TokenObtain")
    class InputSerializer(serializers.Serializer):
        username = serializers.RegexField(openapi.TEXT_PATTERN)
        password = serializers.RegexField(openapi.PASSWORD_PATTERN)

    @extend_schema_serializer(component_name="TokenPair")
    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField(help_text="JWT for the socket and the API, 300 s.")
        refresh = serializers.CharField(help_text="JWT for /api/token/refresh/ only, a day.")

    @extend_schema(
        operation_id="token_obtain",
        tags=["tokens"],
        summary="Tokens for a Django user",
        request=InputSerializer,
        responses={
            HTTPStatus.OK: OutputSerializer,
            HTTPStatus.BAD_REQUEST: openapi.INVALID_BODY,
            HTTPStatus.UNAUTHORIZED: openapi.error("No active account with these credentials."),
            HTTPStatus.TOO_MANY_REQUESTS: openapi.error(
                "`too_many_failures`: 10 failed logins for this username or from this address "
                "within 15 minutes; locked out, see Retry-After (seconds)."
            ),
            HTTPStatus.NOT_IMPLEMENTED: _MINTING_DISABLED,
        },
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        _refuse_unless_issuing()
        return super().post(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        """A lock-out (django-axes refused the attempt before any password was hashed: it marks
        the DRF request simplejwt authenticated with) is 429, not simplejwt's 401."""
        if getattr(self.request, "axes_locked_out", False):
            lockout = logins.api_lockout()
            return Response(
                {"code": logins.LOCKOUT_CODE, "detail": logins.lockout_detail()},
                status=lockout.status_code,
                headers={"Retry-After": lockout["Retry-After"]},
            )
        return super().handle_exception(exc)


class TokenRefreshView(jwt_views.TokenRefreshView):
    """POST {"refresh"} -> {"access"}."""

    # The body as the schema tells it; simplejwt's TokenRefreshSerializer validates it.
    @extend_schema_serializer(component_name="TokenRefresh")
    class InputSerializer(serializers.Serializer):
        refresh = serializers.RegexField(openapi.JWT_PATTERN)

    @extend_schema_serializer(component_name="AccessToken")
    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField(help_text="JWT for the socket and the API, 300 s.")

    @extend_schema(
        operation_id="token_refresh",
        tags=["tokens"],
        summary="A new access token for a refresh token",
        request=InputSerializer,
        responses={
            HTTPStatus.OK: OutputSerializer,
            HTTPStatus.BAD_REQUEST: openapi.INVALID_BODY,
            HTTPStatus.UNAUTHORIZED: openapi.error("The refresh token is invalid or expired."),
            HTTPStatus.NOT_IMPLEMENTED: _MINTING_DISABLED,
        },
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        _refuse_unless_issuing()
        return super().post(request, *args, **kwargs)


def _health_response(ok: bool, body: dict[str, str], *, level: int = logging.WARNING) -> Response:
    """200, or 503 logged as the expected state it is (one line at `level`, not Django's
    "Service Unavailable" ERROR)."""
    response = Response(body, status=HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE)
    if not ok:
        logger.log(level, "not ready: %s", body)
        response._has_been_logged = True  # type: ignore[attr-defined]  # django.utils.log
    return response


# The values of the probes' bodies (named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
CHECK = ["ok", "error"]
LIVE_STATUS = ["ok"]
READY_STATUS = ["ok", "error", "draining"]


class HealthView(APIView):
    """Liveness of the server and reachability of Redis and MongoDB (503 if either is down)."""

    authentication_classes: list[type] = []

    @extend_schema_serializer(component_name="Health")
    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(CHECK)
        redis = serializers.ChoiceField(CHECK)
        mongodb = serializers.ChoiceField(CHECK)
        version = serializers.CharField()

    @extend_schema(
        operation_id="health",
        summary="The server and its dependencies",
        responses={
            HTTPStatus.OK: OutputSerializer,
            HTTPStatus.SERVICE_UNAVAILABLE: OpenApiResponse(
                OutputSerializer, description="Redis or MongoDB did not answer (`error`)."
            ),
        },
    )
    def get(self, request: Request) -> Response:
        ok, body = health.report()
        body["version"] = __version__
        return _health_response(ok, body)


class LiveView(APIView):
    """Liveness: the process serves HTTP (no dependency checks: a Redis outage must not
    make Kubernetes restart every pod)."""

    authentication_classes: list[type] = []

    @extend_schema_serializer(component_name="Live")
    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(LIVE_STATUS)

    @extend_schema(
        operation_id="health_live",
        summary="Liveness probe",
        responses={HTTPStatus.OK: OutputSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(APIView):
    """Readiness: dependencies reachable, the apps' readiness checks true, and not draining
    (503 from the first SIGTERM on)."""

    authentication_classes: list[type] = []

    @extend_schema_serializer(component_name="Ready")
    class OutputSerializer(serializers.Serializer):
        """`status`, then one key per dependency and per readiness check the apps register
        (rooms: `hub`), each `ok` or `error`; only `status` while draining."""

        status = serializers.ChoiceField(READY_STATUS)
        redis = serializers.ChoiceField(CHECK, required=False)
        mongodb = serializers.ChoiceField(CHECK, required=False)

    @extend_schema(
        operation_id="health_ready",
        summary="Readiness probe",
        responses={
            HTTPStatus.OK: OutputSerializer,
            HTTPStatus.SERVICE_UNAVAILABLE: OpenApiResponse(
                OutputSerializer,
                description="A dependency or check is down (`error`), or the server is draining.",
            ),
        },
    )
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
    body = metrics.render(deps, settings.SIGNIGHT_VERSION)
    return HttpResponse(body, content_type=metrics.CONTENT_TYPE)
