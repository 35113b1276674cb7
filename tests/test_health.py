"""GET /health: 200 with both dependencies up; 503 naming the one that is down, never a hang."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus

import pytest
from django.test import override_settings

from devtools.services import Service, start_redis, start_secantus
from signight import __version__, health


@pytest.fixture
def own_health_targets() -> Iterator[None]:
    health._mongo.cache_clear()
    health._redis.cache_clear()
    yield
    health._mongo.cache_clear()
    health._redis.cache_clear()


def test_health_is_ok_when_redis_and_mongodb_answer(api, own_health_targets) -> None:
    response = api.get("/health", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "status": "ok",
        "redis": "ok",
        "mongodb": "ok",
        "version": __version__,
    }


def _down(service: Service) -> str:
    url = service.url
    service.stop(kill=True)
    return url


def test_health_is_503_when_redis_is_stopped(api, own_health_targets) -> None:
    redis: Service = start_redis()
    with override_settings(REDIS_URL=_down(redis)):
        health._redis.cache_clear()
        response = api.get("/health", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {
        "status": "error",
        "redis": "error",
        "mongodb": "ok",
        "version": __version__,
    }


def test_health_is_503_when_mongodb_is_stopped(api, own_health_targets) -> None:
    mongo: Service = start_secantus()
    with override_settings(MONGODB_URL=_down(mongo)):
        health._mongo.cache_clear()
        response = api.get("/health", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {
        "status": "error",
        "redis": "ok",
        "mongodb": "error",
        "version": __version__,
    }


def test_health_renders_the_browsable_api_for_a_browser(api, own_health_targets) -> None:
    response = api.get("/health", HTTP_ACCEPT="text/html")
    assert response.status_code == HTTPStatus.OK
    assert b"Health" in response.content and b"<html" in response.content
