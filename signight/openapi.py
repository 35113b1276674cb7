"""What the OpenAPI schema (GET /api/schema/, drf-spectacular) says that a view cannot: the
Bearer scheme, and the error bodies signight.errors.api_exception_handler really answers with.

The views annotate themselves with `extend_schema`, using the responses defined here.
"""

from __future__ import annotations

import inspect
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer
from rest_framework import serializers

from signight.text import ROOM_ID_MAX_CHARS, ROOM_ID_PATTERN

BEARER = "bearerAuth"


def ecma(pattern: str) -> str:
    """A Python pattern of ours as OpenAPI wants it: ECMA regexes end with $, not \\Z."""
    return pattern.replace(r"\Z", "$")


# What Python's str.strip() trims, spelled out: `\s` means other characters in Python (\x1c-\x1f,
# \x85) than in the ECMA regexes of OpenAPI (\ufeff), so a schema with `\s` would promise what
# the server refuses.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# What DRF's CharField takes: no NUL; a field that may not be blank, not blank once its
# surrounding whitespace is trimmed (a password is not trimmed).
TEXT_PATTERN = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
PASSWORD_PATTERN = r"^[^\x00]+$"
# A JWT in its compact form: three base64url parts.
JWT_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"

# A room id in a query string (a RegexField of a body is described by drf-spectacular itself).
ROOM_ID: dict[str, Any] = {
    "type": "string",
    "pattern": ecma(ROOM_ID_PATTERN),
    "maxLength": ROOM_ID_MAX_CHARS,
}


class BearerScheme(OpenApiAuthenticationExtension):
    """signight.auth.BearerAuthentication: `Authorization: Bearer <jwt>`. The schema is built per
    request, so it says what this server wants: a view whose permission says the token is
    optional for the operation's method (`token_optional(method)`: TokenRequiredWhenAuthRequired
    while WS_AUTH_REQUIRED is off, the access settings' `public`) lists it as optional."""

    target_class = "signight.auth.BearerAuthentication"
    name = BEARER

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[str]]]:
        permissions = auto_schema.view.get_permissions()
        optional = any(
            getattr(permission, "token_optional", None) is not None
            and permission.token_optional(auto_schema.method)
            for permission in permissions
        )
        return [{BEARER: []}, {}] if optional else [{BEARER: []}]

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(
            header_name="HTTP_AUTHORIZATION", token_prefix="Bearer", bearer_format="JWT"
        )


class ErrorSerializer(serializers.Serializer):
    """An error the client can act on: a DomainError's snake_case `code` (`unavailable`,
    `token_minting_disabled` …) with a sentence, or DRF's own `detail` (a bad token, a body that
    is not JSON), which may carry no code."""

    code = serializers.CharField(required=False)
    detail = serializers.CharField()


class FieldErrorsSerializer(serializers.Serializer):
    """Invalid input: each offending field (or `non_field_errors`) with what is wrong with it,
    DRF's ValidationError body: `{"room_id": ["This field is required."]}`."""


class FieldErrorsSchema(OpenApiSerializerExtension):
    target_class = FieldErrorsSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "description": inspect.cleandoc(FieldErrorsSerializer.__doc__ or ""),
            "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "minProperties": 1,
        }


def error(description: str) -> OpenApiResponse:
    """A response with the ErrorSerializer body."""
    return OpenApiResponse(ErrorSerializer, description=description)


# A query string that fails validation (nothing else can go wrong before the view runs).
INVALID_QUERY = OpenApiResponse(FieldErrorsSerializer, description="Invalid parameters.")
# A JSON body: its fields invalid, or the body not JSON at all (DRF's parse error, `detail`).
INVALID_BODY = OpenApiResponse(
    PolymorphicProxySerializer(
        component_name="BadRequest",
        serializers=[FieldErrorsSerializer, ErrorSerializer],
        resource_type_field_name=None,
    ),
    description="Invalid fields, or a body that is not JSON.",
)
UNAUTHORIZED = error("A missing (where needed), malformed, expired or wrongly signed token.")
UNAVAILABLE = error("`unavailable`: Redis or MongoDB did not answer; retry shortly.")
