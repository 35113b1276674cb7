"""Operators' endpoints: liveness, readiness, Prometheus metrics, and the log format."""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus

import pytest
from django.test import override_settings

from signight import __version__, lifecycle, logs


def test_live_answers_without_touching_dependencies(api) -> None:
    response = api.get("/health/live", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}


def test_ready_is_ok_with_dependencies_up(api) -> None:
    response = api.get("/health/ready", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok", "redis": "ok", "mongodb": "ok", "hub": "ok"}


def test_ready_is_503_while_draining(api, monkeypatch) -> None:
    monkeypatch.setattr(lifecycle, "draining", True)
    response = api.get("/health/ready", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {"status": "draining"}


@pytest.mark.usefixtures("fresh_hub")
async def test_ready_is_503_once_a_loop_of_the_room_hub_has_died(async_client) -> None:
    """A pod whose tick (or receive, or housekeeping) loop ended serves no room: out of rotation."""
    from rooms.hub import hub

    await hub.ensure_started()
    tick = next(task for task in hub._tasks if task.get_name() == "hub.tick")
    tick.cancel()
    await asyncio.sleep(0)
    response = await async_client.get("/health/ready", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {"status": "error", "redis": "ok", "mongodb": "ok", "hub": "error"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_hub")
async def test_metrics_count_connections_messages_and_chat(async_client, room_id, players) -> None:
    from rooms.hub import hub

    before = hub.connection_count  # sockets other tests left open on this process
    player = await players.connect()
    await player.join(room_id)
    await player.send({"type": "Chat", "message": "counted"})
    await player.recv_type("Chat")
    await player.send({"type": "Dance"})
    await player.recv_type("Error")
    response = await async_client.get("/metrics")
    text = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/plain")
    v = f'version="{__version__}"'
    assert f"signight_connected_clients{{{v}}} {before + 1}.0" in text
    assert f'signight_messages_in_total{{type="Join",{v}}}' in text
    assert f'signight_errors_total{{code="unknown_type",{v}}}' in text
    assert "signight_chat_messages_persisted_total" in text
    assert f'signight_dependency_up{{service="redis",{v}}} 1.0' in text
    assert f'signight_dependency_up{{service="mongodb",{v}}} 1.0' in text
    assert "signight_active_rooms" in text and "signight_tick_duration_seconds_bucket" in text


@pytest.mark.django_db(transaction=True)
async def test_every_metric_carries_the_version_and_build_info_names_it(async_client) -> None:
    with override_settings(SIGNIGHT_VERSION="2.0.0-canary"):
        text = (await async_client.get("/metrics")).content.decode()
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert samples and all('version="2.0.0-canary"' in line for line in samples)
    assert 'signight_build_info{version="2.0.0-canary"} 1.0' in samples


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("rooms.consumers", logging.INFO, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_log_lines_carry_the_connection_and_never_a_token() -> None:
    record = _record(
        '"WebSocket /ws/?token=eyJhbGciOi.abc.def&x=1" [accepted]', client_id="c1", room_id="r1"
    )
    logs.RedactTokens().filter(record)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["client_id"] == "c1" and line["room_id"] == "r1"
    assert line["message"] == '"WebSocket /ws/?token=[redacted]&x=1" [accepted]'
    assert line["level"] == "info" and line["logger"] == "rooms.consumers"


def test_bearer_tokens_are_redacted_too() -> None:
    assert logs.redact("Authorization: Bearer abc.def.ghi") == "Authorization: Bearer [redacted]"
