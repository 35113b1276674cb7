"""The protocol as JSON Schema (draft 2020-12), generated from the msgspec structs: every client
message, every server frame, and the error-code and close-code tables. Committed as
docs/protocol.schema.json (`make schema` writes it; a test fails when it drifts) and served at
GET /protocol/schema.json.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import msgspec

from rooms.protocol.codes import CLOSE_CODES, ERROR_MEANINGS, PROTOCOL_VERSION
from rooms.protocol.frames import ServerMessage
from rooms.protocol.inbound import Message

SCHEMA_ID = "https://signight.dev/protocol/schema.json"


def _ecma_patterns(node: Any) -> Any:
    """Python's end-of-string `\\Z` (the code's patterns) is `$` in JSON Schema's ECMA-262
    dialect, where `$` matches only at the end of the input."""
    if isinstance(node, dict):
        return {
            key: value[:-2] + "$"
            if key == "pattern" and isinstance(value, str) and value.endswith("\\Z")
            else _ecma_patterns(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_ecma_patterns(value) for value in node]
    return node


@cache
def protocol_schema() -> dict[str, Any]:
    (client, server), defs = msgspec.json.schema_components(
        [Message, ServerMessage], ref_template="#/$defs/{name}"
    )
    defs["ClientMessage"] = {"description": "A message a client sends.", **client}
    defs["ServerMessage"] = {"description": "A frame the server sends.", **server}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"Signight game socket protocol {PROTOCOL_VERSION}",
        "description": "Text frames of JSON on the game socket; see docs/protocol.md.",
        "version": PROTOCOL_VERSION,
        "anyOf": [{"$ref": "#/$defs/ClientMessage"}, {"$ref": "#/$defs/ServerMessage"}],
        "$defs": _ecma_patterns(dict(sorted(defs.items()))),
        "x-error-codes": [
            {"code": str(code), "meaning": meaning} for code, meaning in ERROR_MEANINGS.items()
        ],
        "x-close-codes": [
            {"code": int(code), "name": code.name, "meaning": meaning, "action": str(action)}
            for code, (meaning, action) in CLOSE_CODES.items()
        ],
    }


def protocol_schema_text() -> str:
    """The schema as committed in docs/protocol.schema.json (stable order, a final newline)."""
    return json.dumps(protocol_schema(), indent=2, ensure_ascii=False) + "\n"
