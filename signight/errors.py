"""Domain errors with snake_case codes, what counts as a backing service being unavailable, and
the one translation of both into DRF responses.

The socket's translation (DomainError -> Error frame) lives in rooms.consumers; both use
`as_domain_error`, so a Redis or MongoDB outage is `unavailable` on either side, never a 500 or
a close 1011.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import redis
from django.db import DatabaseError
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


# Redis (redis-py), MongoDB (pymongo, and Django's DatabaseError around it) not answering.
BACKING_SERVICE_ERRORS = (redis.RedisError, PyMongoError, DatabaseError)


def as_domain_error(exc: BaseException) -> DomainError | None:
    """The DomainError a client sees for `exc`, or None for a bug (logged, 500 / close 1011)."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, BACKING_SERVICE_ERRORS):
        logger.warning("backing service unavailable: %s: %s", type(exc).__name__, exc)
        return Unavailable("A backing service is unavailable; retry shortly.")
    return None


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus DomainError as {"code", "detail"} and no 500 page for anything else."""
    domain = as_domain_error(exc)
    if domain is not None:
        return Response({"code": domain.code, "detail": str(domain)}, status=domain.http_status)
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
        return Response(
            {"code": "internal_error", "detail": "Internal server error."},
            status=HTTPStatus.INTERNAL_SERVER_ERROR,
        )
    return response
