"""Project-level HTTP views: health."""

from __future__ import annotations

from http import HTTPStatus

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from signight import __version__, health


class HealthView(APIView):
    """Liveness of the server and reachability of Redis and MongoDB (503 if either is down)."""

    def get(self, request: Request) -> Response:
        deps = health.dependencies()
        ok = all(deps.values())
        body = {
            "status": "ok" if ok else "error",
            **{name: "ok" if up else "error" for name, up in deps.items()},
            "version": __version__,
        }
        return Response(body, status=HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE)
