"""Production mode (DJANGO_DEBUG off) is secure by default: secure cookies, HSTS, the proxy's
X-Forwarded-Proto trusted for HTTPS, no debug pages, auth required, no browser origin allowed
until listed, and secrets long enough to sign with.

Settings are read once at start-up, so each case loads them in a fresh process.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]

DUMP = """
import json, django
django.setup()
from django.conf import settings as s
names = [
    "DEBUG", "ALLOWED_HOSTS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_CONTENT_TYPE_NOSNIFF", "SECURE_PROXY_SSL_HEADER", "X_FRAME_OPTIONS",
    "WS_AUTH_REQUIRED", "ALLOWED_ORIGINS", "TRUSTED_PROXY_HOPS", "LOG_FORMAT",
]
print(json.dumps({name: getattr(s, name) for name in names}))
"""


def production_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_", "WS_"))}
    env.pop("JWT_SECRET", None)
    env.pop("LOG_FORMAT", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "signight.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "JWT_SECRET": secrets.token_urlsafe(32),
        }
    )
    env.update(overrides)
    return env


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def production_settings(**overrides: str) -> dict[str, Any]:
    result = run(["-c", DUMP], production_env(**overrides))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_defaults_are_the_secure_ones() -> None:
    assert production_settings() == {
        "DEBUG": False,
        "ALLOWED_HOSTS": ["localhost", "127.0.0.1"],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "X_FRAME_OPTIONS": "DENY",
        "WS_AUTH_REQUIRED": True,
        "ALLOWED_ORIGINS": [],
        "TRUSTED_PROXY_HOPS": 0,
        "LOG_FORMAT": "json",
    }


def test_the_deploy_check_finds_only_what_the_gateway_answers() -> None:
    """W008 (no SECURE_SSL_REDIRECT): TLS ends at the Istio gateway, which redirects to HTTPS.
    W021 (no HSTS preload): submitting the domain to browsers' preload list is a separate,
    hard-to-undo decision. Anything else is a finding."""
    result = run(["manage.py", "check", "--deploy"], production_env())
    assert result.returncode == 0, result.stderr
    found = {
        line.split(")")[0].split("(")[1]
        for line in result.stderr.splitlines()
        if "(security." in line
    }
    assert found <= {"security.W008", "security.W021"}, result.stderr


@pytest.mark.parametrize("secret", ["secret", "x" * 31])
def test_production_refuses_a_jwt_secret_shorter_than_32_bytes(secret) -> None:
    """HS256 with a short secret can be brute-forced offline from any one token (RFC 7518 3.2
    asks for at least 256 bits); DJANGO_SECRET_KEY already gets this check."""
    result = run(["manage.py", "check"], production_env(JWT_SECRET=secret))
    assert result.returncode != 0
    assert "JWT_SECRET" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_no_debug_page_in_production(api) -> None:
    with override_settings(DEBUG=False):
        response = api.get("/no-such-page", HTTP_ACCEPT="text/html")
    assert response.status_code == HTTPStatus.NOT_FOUND
    body = response.content.decode()
    assert "URLconf" not in body and "Traceback" not in body and "signight.urls" not in body
