"""Tokens good and bad for the security tests, and the error codes a client may be sent.

The socket client is tests.clients.Socket, re-exported here for test_hub_shutdown.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.test import override_settings

from rooms.protocol import ErrorCode
from signight import auth
from tests.clients import Socket as Socket

ERROR_CODES = frozenset(code.value for code in ErrorCode)
JWT_SECRET = "signight-security-tests-hs256-secret-0123456789"  # for real servers: 48 bytes
# The in-process settings keep the development JWT_SECRET (23 bytes, below RFC 7518's 32), and
# PyJWT warns on every use of it; modules that sign or verify in-process ignore that warning.
SHORT_DEV_SECRET = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


# --- tokens -------------------------------------------------------------------------------------


def claims(**changes: Any) -> dict[str, Any]:
    """Claims the server accepts (sub alice, name Alice, 5 minutes), with `changes`;
    a change to None removes the claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": settings.JWT_ISSUER,
        "sub": "alice",
        "name": "Alice",
        "iat": now,
        "exp": now + 300,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def hs256(key: str | None = None, **changes: Any) -> str:
    return jwt.encode(claims(**changes), key or settings.JWT_SECRET, algorithm="HS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], *, hmac_key: bytes | None) -> str:
    """A JWT built by hand (PyJWT refuses to make `alg: none` or HMAC-with-a-public-key ones)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if hmac_key is None:
        return f"{signing_input}."
    signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@contextlib.contextmanager
def jwt_settings(**overrides: Any) -> Iterator[None]:
    """override_settings for the JWT_* settings, which signight.auth caches in `backend()`."""
    auth.backend.cache_clear()
    try:
        with override_settings(**overrides):
            yield
    finally:
        auth.backend.cache_clear()
