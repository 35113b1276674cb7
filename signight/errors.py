"""Domain errors with snake_case codes, and their one translation into DRF responses.

The socket's translation (DomainError -> Error frame) lives in rooms.consumers.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import redis
from pymongo.errors import PyMongoError
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A request that cannot be served, for a reason the client can act on."""

    code = "error"
    http_status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class Unavailable(DomainError):
    """A backing service (Redis, MongoDB) did not answer."""

    code = "unavailable"
    http_status = HTTPStatus.SERVICE_UNAVAILABLE


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus DomainError as {"code", "detail"} and no 500 page for anything else."""
    if isinstance(exc, DomainError):
        return Response({"code": exc.code, "detail": str(exc)}, status=exc.http_status)
    if isinstance(exc, (redis.RedisError, PyMongoError)):
        logger.warning("backing service unavailable: %s", exc)
        return Response(
            {
                "code": Unavailable.code,
                "detail": "A backing service is unavailable; retry shortly.",
            },
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
        return Response(
            {"code": "internal_error", "detail": "Internal server error."},
            status=HTTPStatus.INTERNAL_SERVER_ERROR,
        )
    return response
