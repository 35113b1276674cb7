"""docs/protocol.md and the published schema against the code (issue 12): the error-code and
close-code tables say what rooms/protocol/codes.py says, both ways (security.md's list the same
codes); the token lifetimes are the settings'; docs/protocol.schema.json is what
rooms.protocol.schema generates, and GET /protocol/schema.json serves exactly it."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path

from rest_framework_simplejwt.settings import api_settings

from rooms.protocol import CLOSE_CODES, ERROR_MEANINGS
from rooms.protocol.schema import protocol_schema, protocol_schema_text

DOCS = Path(__file__).resolve().parents[2] / "docs"
PROTOCOL_MD = DOCS / "protocol.md"
SECURITY_MD = DOCS / "security.md"
SCHEMA_JSON = DOCS / "protocol.schema.json"

# The one close code the table may list beyond the code's: a client library reports 1006, the
# server never sends it (behind the mesh a refused upgrade is seen as 1006).
CLIENT_SIDE_CLOSE_CODES = {1006}


def table_after(heading: str, doc: Path = PROTOCOL_MD) -> list[list[str]]:
    """The header and body rows of the first Markdown table under `## heading`, cells stripped."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {heading}")
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break  # the table ended
    assert rows, f"no table under '## {heading}' in {doc.name}"
    header, rule, *body = rows
    assert all(re.fullmatch(r":?-+:?", cell) for cell in rule), f"not a table header: {header}"
    return [header, *body]


def unquote(cell: str) -> str:
    return cell.removeprefix("`").removesuffix("`")


def test_the_error_code_table_is_the_codes_error_meanings() -> None:
    header, *rows = table_after("Error codes")

    assert header == ["code", "meaning"]
    documented = {unquote(code): meaning for code, meaning in rows}
    assert len(documented) == len(rows), "an error code is listed twice"
    assert documented == {str(code): meaning for code, meaning in ERROR_MEANINGS.items()}


def test_the_close_code_table_is_the_codes_close_codes_and_their_actions() -> None:
    header, *rows = table_after("Close codes")

    assert header == ["code", "name", "meaning", "action"]
    documented = {
        int(code): (unquote(name), meaning, unquote(action)) for code, name, meaning, action in rows
    }
    assert len(documented) == len(rows), "a close code is listed twice"
    server_side = {code: row for code, row in documented.items() if code in CLOSE_CODES}
    assert server_side == {
        int(code): (code.name, meaning, str(action))
        for code, (meaning, action) in CLOSE_CODES.items()
    }
    assert set(documented) - set(server_side) == CLIENT_SIDE_CLOSE_CODES


def test_the_client_side_close_code_says_the_server_never_sends_it() -> None:
    _, *rows = table_after("Close codes")
    extra = [row for row in rows if int(row[0]) in CLIENT_SIDE_CLOSE_CODES]

    assert [row[:2] for row in extra] == [["1006", "`ABNORMAL_CLOSURE`"]]
    assert "client-side only, never sent by the server" in extra[0][2]
    assert all(int(code) not in CLIENT_SIDE_CLOSE_CODES for code in CLOSE_CODES)


def test_security_md_lists_the_same_codes() -> None:
    _, *close_rows = table_after("Close codes", SECURITY_MD)
    _, *error_rows = table_after("Error codes", SECURITY_MD)

    assert sorted(int(row[0]) for row in close_rows) == sorted(
        {int(code) for code in CLOSE_CODES} | CLIENT_SIDE_CLOSE_CODES
    )
    assert sorted(unquote(row[0]) for row in error_rows) == sorted(map(str, ERROR_MEANINGS))


def test_the_documented_token_lifetimes_are_the_settings() -> None:
    text = PROTOCOL_MD.read_text(encoding="utf-8")

    lifetimes = (api_settings.ACCESS_TOKEN_LIFETIME, api_settings.REFRESH_TOKEN_LIFETIME)
    assert lifetimes == (timedelta(seconds=300), timedelta(days=1))
    assert api_settings.ROTATE_REFRESH_TOKENS is False
    assert "access token **300 s**" in text
    assert "refresh token **86400 s** (1 day)" in text


def test_the_published_schema_carries_the_same_tables() -> None:
    schema = protocol_schema()

    assert schema["x-error-codes"] == [
        {"code": str(code), "meaning": meaning} for code, meaning in ERROR_MEANINGS.items()
    ]
    assert {row["code"]: row["action"] for row in schema["x-close-codes"]} == {
        int(code): str(action) for code, (_, action) in CLOSE_CODES.items()
    }


def test_the_committed_schema_is_what_the_code_generates() -> None:
    committed = SCHEMA_JSON.read_text(encoding="utf-8")

    assert committed == protocol_schema_text(), (
        "docs/protocol.schema.json differs from what rooms/protocol generates: run `make schema`"
        " and commit the result"
    )


def test_get_protocol_schema_serves_the_committed_schema(client) -> None:
    response = client.get("/protocol/schema.json")

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/schema+json"
    assert response.content.decode() == SCHEMA_JSON.read_text(encoding="utf-8")
    assert json.loads(response.content)["version"] == "1.1"
