"""Configuration: read once from the environment; a bad value stops start-up naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from signight.config import ConfigError, Env

ROOT = Path(__file__).resolve().parent.parent


def test_port_that_is_not_a_number_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^SERVER_PORT='eighty': expected a whole number$"):
        Env({"SERVER_PORT": "eighty"}).port("SERVER_PORT", default="8080")


def test_port_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError, match="HTTP_PORT='70000': must be at most 65535"):
        Env({"HTTP_PORT": "70000"}).port("HTTP_PORT", default="3001")


def test_url_with_the_wrong_scheme_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="REDIS_URL='http://x:6379': scheme must be one of"):
        Env({"REDIS_URL": "http://x:6379"}).url("REDIS_URL", schemes=("redis", "rediss"))


def test_defaults_apply_when_unset() -> None:
    env = Env({})
    assert env.port("SERVER_PORT", default="8080") == 8080
    assert env.url("MONGODB_URL", default="mongodb://mongo:27017", schemes=("mongodb",)) == (
        "mongodb://mongo:27017"
    )
    assert env.bool("DJANGO_DEBUG", default=False) is False


def test_booleans_are_strict() -> None:
    assert Env({"X": "on"}).bool("X") is True
    with pytest.raises(ConfigError, match="X='maybe'"):
        Env({"X": "maybe"}).bool("X")


def _manage(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "DJANGO_DEBUG"}}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_up_stops_with_one_line_on_a_malformed_port() -> None:
    result = _manage({"DJANGO_DEBUG": "1", "SERVER_PORT": "abc"})
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "signight: configuration error: SERVER_PORT='abc': expected a whole number"
    )


def test_production_mode_requires_a_secret_key() -> None:
    result = _manage({"DJANGO_DEBUG": "0", "JWT_SECRET": "x" * 32})
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "signight: configuration error: DJANGO_SECRET_KEY is required but not set"
    )


def test_production_mode_starts_with_a_secret_key() -> None:
    result = _manage({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "k" * 50, "JWT_SECRET": "s" * 32})
    assert result.returncode == 0, result.stderr
