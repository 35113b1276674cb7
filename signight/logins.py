"""The login throttle's terms (django-axes; docs/security.md, "Login throttle"): the client address
as the proxies in front of us saw it, and the lock-out answer — 429 with Retry-After, a JSON error
body for the API (/api/token/), a page for the admin's login form."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKOUT_CODE = "too_many_failures"


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the address TRUSTED_PROXY_HOPS proxies in front of us appended to
    X-Forwarded-For (the socket's rule: rooms.admission.client_ip)."""
    hops = settings.TRUSTED_PROXY_HOPS
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops and forwarded:
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(chain) >= hops:
            return chain[-hops]
    return str(request.META.get("REMOTE_ADDR", "unknown"))


def retry_after() -> int:
    """Seconds until a locked-out username or address may try again, at most (the cool-off runs
    from its latest failure)."""
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_detail() -> str:
    minutes = retry_after() // 60
    return (
        f"Too many failed logins for this username or from this address: "
        f"locked out; try again in {minutes} minutes."
    )


def api_lockout() -> HttpResponse:
    """The API's error body (signight.errors' shape) with Retry-After."""
    response = JsonResponse(
        {"code": LOCKOUT_CODE, "detail": lockout_detail()}, status=HTTPStatus.TOO_MANY_REQUESTS
    )
    response["Retry-After"] = str(retry_after())
    return response


def lockout_response(request: HttpRequest, original_response: Any, credentials: Any) -> Any:
    """AXES_LOCKOUT_CALLABLE: what a locked-out login attempt gets."""
    if not request.path.startswith("/admin/"):
        return api_lockout()
    response = render(  # rendered now: a middleware returns it, past TemplateResponse's rendering
        request,
        "signight/lockout.html",
        {"title": "Locked out", "detail": lockout_detail(), "retry_after": retry_after()},
        status=HTTPStatus.TOO_MANY_REQUESTS,
    )
    response["Retry-After"] = str(retry_after())
    return response
