"""JWT verification for the socket and the API, one rule for both (djangorestframework-simplejwt).

Tokens are HS256 with JWT_SECRET (or RS256 with JWT_PUBLIC_KEY), must carry `iss` = JWT_ISSUER,
an `exp`, and `aud` = JWT_AUDIENCE where that is set. Tokens minted here (/api/token/) and by
the external identity service look alike to the server: subject in `sub`, display name in `name`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.serializers import PasswordField, TokenObtainPairSerializer

from signight.text import NAME_MAX_CHARS, clean_name

CLIENT_ID_NAMESPACE = uuid.UUID("6f1d2c64-3b7e-4a53-9a43-2f0f3c1b7a10")


class InvalidToken(Exception):
    """Missing, malformed, expired, wrongly signed or wrongly addressed token."""


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str
    name: str | None
    client_id: str
    is_authenticated: bool = True  # lets DRF treat an Identity as request.user
    expires_at: float | None = None  # the token's `exp` (Unix seconds)


@lru_cache(maxsize=1)
def backend() -> TokenBackend:
    if settings.JWT_PUBLIC_KEY:
        return TokenBackend(
            "RS256",
            verifying_key=settings.JWT_PUBLIC_KEY,
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
        )
    return TokenBackend(
        "HS256",
        signing_key=settings.JWT_SECRET,
        audience=settings.JWT_AUDIENCE,
        issuer=settings.JWT_ISSUER,
    )


def client_id_for(subject: str) -> str:
    """Stable across connections: the same subject always plays as the same client_id."""
    return str(uuid.uuid5(CLIENT_ID_NAMESPACE, f"{settings.JWT_ISSUER}#{subject}"))


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, or None."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def verify(token: str) -> Identity:
    try:
        claims = backend().decode(token, verify=True)  # type: ignore[arg-type]  # stubs say Token; it takes the encoded str
    except TokenBackendError as exc:
        raise InvalidToken(str(exc)) from None
    subject = claims.get("sub")
    if "exp" not in claims:
        raise InvalidToken("token has no expiry")
    if claims.get("token_type", "access") != "access":  # a refresh token only buys access tokens
        raise InvalidToken("not an access token")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("token has no subject")
    return Identity(
        subject=subject,
        name=_display_name(claims.get("name")),
        client_id=client_id_for(subject),
        expires_at=float(claims["exp"]),
    )


def _display_name(value: object) -> str | None:
    """The token's name under the rules of a Join name, or None (the Join name is used)."""
    if not isinstance(value, str):
        return None
    try:
        return clean_name(value[:NAME_MAX_CHARS])
    except ValueError:
        return None


# --- HTTP ------------------------------------------------------------------------------------


class BearerAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <jwt>` on the API; a bad token is 401, never silently ignored."""

    def authenticate(self, request: Request) -> tuple[Identity, str] | None:
        token = bearer_token(request.headers.get("Authorization", ""))
        if token is None:
            return None
        try:
            return verify(token), token
        except InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="signight"'


class TokenRequiredWhenAuthRequired(permissions.BasePermission):
    """With WS_AUTH_REQUIRED on, the API view needs a valid token; off, anyone may read."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return not settings.WS_AUTH_REQUIRED or isinstance(request.user, Identity)

    def token_optional(self, method: str) -> bool:
        return not settings.WS_AUTH_REQUIRED


class TokenObtainSerializer(TokenObtainPairSerializer):
    """Tokens for Django users carry the display name the socket uses. The password is taken as
    typed, as Django's login form does (simplejwt would strip its spaces: a password with a space
    at either end never matched, and one of spaces alone was a 400, not a 401)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password"] = PasswordField(trim_whitespace=False)

    @classmethod
    def get_token(cls, user: Any) -> Any:
        token = super().get_token(user)
        token["name"] = user.get_username()[:NAME_MAX_CHARS]
        return token
