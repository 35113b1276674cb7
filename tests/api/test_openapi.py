"""The OpenAPI schema (GET /api/schema/) and its docs page (GET /api/docs/): generated without a
warning, listing every operation with the answers it can give, and usable offline."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import jsonschema
import pytest
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from signight import __version__
from signight.errors import Unavailable, api_exception_handler

OPENAPI_JSON = "application/vnd.oai.openapi+json"


def schema(api: APIClient) -> dict[str, Any]:
    response = api.get("/api/schema/", HTTP_ACCEPT=OPENAPI_JSON)
    assert response.status_code == HTTPStatus.OK
    return response.json()


def body_schema(document: dict[str, Any], component: str) -> dict[str, Any]:
    """A component as a JSON Schema that resolves its own $refs (OpenAPI 3.0's `nullable` aside:
    the components tested here use none)."""
    return {"$ref": f"#/components/schemas/{component}", "components": document["components"]}


def test_schema_generates_and_validates_without_warnings(tmp_path) -> None:
    # --fail-on-warn: a view drf-spectacular cannot describe exactly fails here, not in a client.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))


def test_schema_is_openapi_3_with_the_server_version(api) -> None:
    document = schema(api)
    assert document["openapi"] == "3.0.3"
    assert document["info"]["version"] == __version__


def test_schema_lists_every_operation_with_every_answer_it_can_give(api) -> None:
    paths = schema(api)["paths"]
    answers = {
        (path, method): sorted(operation["responses"])
        for path, methods in paths.items()
        for method, operation in methods.items()
    }
    # /metrics is left out on purpose: Prometheus text for the scraper inside the mesh (the
    # gateway does not route it), not part of the API clients program against.
    assert answers == {
        ("/api/token/", "post"): ["200", "400", "401", "429", "501"],
        ("/api/token/refresh/", "post"): ["200", "400", "401", "501"],
        ("/chat/history", "get"): ["200", "400", "401", "403", "503"],
        ("/chat/history", "post"): ["200", "400", "401", "403", "503"],
        ("/health", "get"): ["200", "503"],
        ("/health/live", "get"): ["200"],
        ("/health/ready", "get"): ["200", "503"],
        ("/rooms", "get"): ["200", "401", "503"],
        ("/rooms", "post"): ["201", "400", "401", "403", "409", "503"],
        **{
            (f"/moderation/{action}", "post"): ["200", "400", "401", "403", "404", "503"]
            for action in ("kick", "ban", "unban", "mute", "close-room", "redact")
        },
    }


def test_chat_history_page_names_its_cursor(api) -> None:
    page = schema(api)["components"]["schemas"]["ChatHistoryPage"]
    assert page["required"] == ["messages", "next_before", "room_id"]
    assert page["properties"]["next_before"] == {
        "type": "string",
        "nullable": True,
        "description": "The `before` of the next (older) page; null on the oldest page.",
    }


def test_chat_history_query_string_is_described_exactly(api) -> None:
    parameters = schema(api)["paths"]["/chat/history"]["get"]["parameters"]
    assert {p["name"]: (p.get("required", False), p["schema"]) for p in parameters} == {
        "room_id": (True, {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "maxLength": 64}),
        "limit": (False, {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
        "before": (False, {"type": "string", "pattern": "^$|^[0-9]{1,13}-[0-9a-f]{24}$"}),
    }


@pytest.mark.parametrize(
    ("auth_required", "security"),
    [(False, [{"bearerAuth": []}, {}]), (True, [{"bearerAuth": []}])],
)
def test_chat_history_security_is_what_this_server_requires(api, auth_required, security) -> None:
    with override_settings(WS_AUTH_REQUIRED=auth_required):
        paths = schema(api)["paths"]
    assert paths["/chat/history"]["get"]["security"] == security
    assert paths["/chat/history"]["post"]["security"] == security


@pytest.mark.parametrize(
    ("access", "security"),
    [("public", [{"bearerAuth": []}, {}]), ("authenticated", [{"bearerAuth": []}])],
)
def test_room_list_security_follows_rooms_list_access(api, access, security) -> None:
    with override_settings(ROOMS_LIST_ACCESS=access):
        paths = schema(api)["paths"]
    assert paths["/rooms"]["get"]["security"] == security
    assert paths["/rooms"]["post"]["security"] == [{"bearerAuth": []}]


def test_bearer_scheme_is_a_jwt(api) -> None:
    assert schema(api)["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }


def test_a_400_body_matches_the_published_field_error_shape(api) -> None:
    document = schema(api)
    response = api.get("/chat/history", {"limit": "0"}, HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {
        "room_id": ["This field is required."],
        "limit": ["Ensure this value is greater than or equal to 1."],
    }
    jsonschema.validate(response.json(), body_schema(document, "FieldErrors"))
    jsonschema.validate(response.json(), body_schema(document, "BadRequest"))


def test_a_body_that_is_not_json_is_a_400_with_the_published_error_shape(api) -> None:
    document = schema(api)
    response = api.generic("POST", "/chat/history", "{not json", content_type="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(response.json()) == {"detail"}
    jsonschema.validate(response.json(), body_schema(document, "BadRequest"))


def test_an_unavailable_body_matches_the_published_error_shape(api) -> None:
    answer = api_exception_handler(Unavailable("A backing service is unavailable."), {})
    assert answer is not None and answer.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert answer.data == {"code": "unavailable", "detail": "A backing service is unavailable."}
    jsonschema.validate(answer.data, body_schema(schema(api), "Error"))


def test_docs_page_loads_swagger_ui_from_this_server_only(api) -> None:
    response = api.get("/api/docs/")
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert re.findall(r"https?://|//[a-z]", html) == []  # no CDN: the server may run offline
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(assets) == [
        f"/static/drf_spectacular_sidecar/swagger-ui-dist/{name}"
        for name in (
            "favicon-32x32.png",
            "swagger-ui-bundle.js",
            "swagger-ui-standalone-preset.js",
            "swagger-ui.css",
        )
    ]
    assert 'url: "/api/schema/"' in html
    for asset in assets:
        assert api.get(asset).status_code == HTTPStatus.OK, asset


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for value in node.values() for p in _patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _patterns(value)]
    return []


def test_no_pattern_uses_a_class_that_means_something_else_in_ecma(api) -> None:
    # \s, \d and \w are wider in Python (which validates) than in ECMA regexes (which clients and
    # schemathesis read): "\x1e" is whitespace to Python, so a username of it was refused while
    # the schema promised it valid. The patterns spell their classes out instead.
    patterns = _patterns(schema(api))
    assert patterns, "the schema has patterns"
    shorthand = re.compile(r"(?<!\\)(?:\\\\)*\\[sSdDwWbB]")
    assert [p for p in patterns if shorthand.search(p)] == []


def test_a_username_of_whitespace_is_refused_and_the_schema_says_so(api) -> None:
    username = schema(api)["components"]["schemas"]["TokenObtainRequest"]["properties"]["username"]
    for blank in ("\x1e", "\x85", " \t"):
        assert re.fullmatch(username["pattern"], blank) is None
        response = api.post("/api/token/", {"username": blank, "password": "x"}, format="json")
        assert response.status_code == HTTPStatus.BAD_REQUEST
