"""docs/asyncapi.yaml (issue 12): valid AsyncAPI 3.0 by the official parser, and a complete map
of the socket: every client message a `receive`, every server frame a `send`, each payload a
$ref into docs/protocol.schema.json, the three token carriers of rooms/admission.py.

The validator is @asyncapi/parser on Node (tools/asyncapi/validate.mjs), installed from the
committed lock file by `make test`; `make check` leaves this file out (it needs no Node):

    npm ci --prefix tools/asyncapi --ignore-scripts && python -m pytest tests/ops/test_asyncapi.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from rooms.protocol import PROTOCOL_VERSION
from rooms.protocol.schema import protocol_schema
from tests.ops.manifests import ROOT

ASYNCAPI = ROOT / "docs" / "asyncapi.yaml"
TOOL = ROOT / "tools" / "asyncapi"
NODE = shutil.which("node")
SCHEMA_REF = "./protocol.schema.json#/$defs/"
DRAFT_2020_12 = "application/schema+json;version=draft-2020-12"
ERROR = 0  # Spectral's DiagnosticSeverity.Error


@pytest.fixture(autouse=True)
def _validator_installed() -> None:
    # `make test` installs it; running pytest by hand without it is a failure, not a skip.
    assert NODE is not None, "node not found: the AsyncAPI validator runs on Node 18+"
    assert (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir(), (
        "@asyncapi/parser not installed: run `make test`, or the command in the docstring"
    )


def validate(document: Path) -> dict[str, Any]:
    run = subprocess.run(
        [str(NODE), str(TOOL / "validate.mjs"), str(document)],
        cwd=TOOL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr[-2000:]
    report: dict[str, Any] = json.loads(run.stdout)
    return report


def errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in report["diagnostics"] if d["severity"] == ERROR]


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    return loaded


def resolve(doc: dict[str, Any], ref: str) -> Any:
    """A local `#/...` reference of the document (JSON Pointer, no escapes needed here)."""
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def payload_def(doc: dict[str, Any], message_ref: str) -> str:
    """The protocol.schema.json $defs name a message reference's payload points at."""
    message = resolve(doc, message_ref)
    while "$ref" in message:
        message = resolve(doc, message["$ref"])
    payload = message["payload"]
    assert payload["schemaFormat"] == DRAFT_2020_12, message_ref
    ref = payload["schema"]["$ref"]
    assert ref.startswith(SCHEMA_REF), ref
    return str(ref.removeprefix(SCHEMA_REF))


def union_members(name: str) -> set[str]:
    union = protocol_schema()["$defs"][name]
    return {branch["$ref"].removeprefix("#/$defs/") for branch in union["anyOf"]}


def test_the_official_parser_finds_no_error_in_the_asyncapi_document() -> None:
    report = validate(ASYNCAPI)

    assert report["parsed"] is True
    assert errors(report) == []


def test_the_validator_reports_a_payload_reference_that_does_not_resolve(tmp_path: Path) -> None:
    # The check above means something only if a broken document fails it.
    text = ASYNCAPI.read_text(encoding="utf-8").replace("$defs/Leave'", "$defs/NoSuchMessage'")
    (tmp_path / "asyncapi.yaml").write_text(text, encoding="utf-8")
    shutil.copy(ROOT / "docs" / "protocol.schema.json", tmp_path)

    report = validate(tmp_path / "asyncapi.yaml")

    assert [d["code"] for d in errors(report)] == ["invalid-ref"]


def test_the_validator_checks_examples_against_their_payload(tmp_path: Path) -> None:
    text = ASYNCAPI.read_text(encoding="utf-8").replace("room_id: room123", "room_id: room 123")
    (tmp_path / "asyncapi.yaml").write_text(text, encoding="utf-8")
    shutil.copy(ROOT / "docs" / "protocol.schema.json", tmp_path)

    report = validate(tmp_path / "asyncapi.yaml")

    assert {d["code"] for d in errors(report)} == {"signight-example"}


def test_every_client_message_is_received_and_every_server_frame_sent() -> None:
    doc = document()
    by_action: dict[str, set[str]] = {"receive": set(), "send": set()}
    for operation in doc["operations"].values():
        assert operation["channel"] == {"$ref": "#/channels/socket"}
        by_action[operation["action"]] |= {
            payload_def(doc, message["$ref"]) for message in operation["messages"]
        }

    assert by_action == {
        "receive": union_members("ClientMessage"),
        "send": union_members("ServerMessage"),
    }


def test_the_channel_lists_every_message_of_the_schema_once() -> None:
    doc = document()
    channel = doc["channels"]["socket"]
    payloads = [payload_def(doc, ref["$ref"]) for ref in channel["messages"].values()]

    assert channel["address"] == "/ws/"
    assert sorted(payloads) == sorted(
        union_members("ClientMessage") | union_members("ServerMessage")
    )


def test_the_document_is_protocol_version_and_asyncapi_3() -> None:
    doc = document()

    assert doc["asyncapi"].startswith("3.0.")
    assert doc["info"]["version"] == PROTOCOL_VERSION


def test_the_security_schemes_are_the_three_token_carriers() -> None:
    # rooms.admission.token_from: the Authorization header, the `bearer` subprotocol pair, the
    # query string (`token`, also `access_token`).
    doc = document()
    schemes = doc["components"]["securitySchemes"]
    carriers = {
        name: {key: value for key, value in scheme.items() if key != "description"}
        for name, scheme in schemes.items()
    }

    assert carriers == {
        "authorizationHeader": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "bearerSubprotocol": {
            "type": "httpApiKey",
            "in": "header",
            "name": "Sec-WebSocket-Protocol",
        },
        "queryToken": {"type": "httpApiKey", "in": "query", "name": "token"},
    }
    for server in doc["servers"].values():
        assert [ref["$ref"].rsplit("/", 1)[1] for ref in server["security"]] == list(schemes)
