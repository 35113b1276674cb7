"""The Makefile's developer commands (issue 10): `make superuser` without a terminal, and what
`make check` and `make test` run.

The superuser tests run `python -m devtools.superuser` (what `make superuser` runs) with stdin
not a terminal, against the session's Redis and SecantusDB (REDIS_URL / MONGODB_URL).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from tests.ops.manifests import ROOT

MAKE = shutil.which("make")


def superuser(**environ: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST", "DJANGO_SUPERUSER_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "devtools.superuser"],
        cwd=ROOT,
        env={**env, **environ},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_superuser_without_a_terminal_is_created_from_the_environment() -> None:
    result = superuser(
        MONGODB_DB_NAME=connection.settings_dict["NAME"],  # this test's database, flushed after
        DJANGO_SUPERUSER_USERNAME="ops",
        DJANGO_SUPERUSER_EMAIL="ops@example.com",
        DJANGO_SUPERUSER_PASSWORD="a-long-password-1",
    )

    assert result.returncode == 0, result.stderr
    user = get_user_model().objects.get(username="ops")
    assert (user.email, user.is_superuser, user.is_staff) == ("ops@example.com", True, True)
    assert user.check_password("a-long-password-1")


def test_superuser_without_a_terminal_or_the_variables_fails_and_names_the_missing_ones() -> None:
    result = superuser(DJANGO_SUPERUSER_USERNAME="ops")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.endswith(
        "(missing: DJANGO_SUPERUSER_EMAIL, DJANGO_SUPERUSER_PASSWORD).\n"
    ), result.stderr


@pytest.mark.skipif(MAKE is None, reason="make not installed")
@pytest.mark.parametrize(
    ("target", "parts"),
    [
        ("check", ["ruff check .", "ruff format --check .", "lint-imports", "-m mypy"]),
        ("test", ["ruff check .", "ruff format --check .", "lint-imports", "-m pytest"]),
        ("superuser", ["-m devtools.superuser"]),
    ],
)
def test_make_target_runs(target: str, parts: list[str]) -> None:
    # A parent make's MAKEFLAGS (jobserver) would leak into the dry run.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    dry_run = subprocess.run(
        [str(MAKE), "-n", target], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )

    assert [part for part in parts if part not in dry_run.stdout] == [], dry_run.stdout
