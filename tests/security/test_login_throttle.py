"""The login throttle (issue 15; django-axes on Redis): /api/token/ and the admin login take 10
failures per username and per address within 15 minutes; the tenth is answered 429 with
Retry-After, and so is every attempt after it (a JSON error for the API, a page for the admin),
without hashing a password at all."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import override_settings

from tests.security.sockets import SHORT_DEV_SECRET

pytestmark = [pytest.mark.django_db(transaction=True), SHORT_DEV_SECRET]

PASSWORD = "the right password"
LIMIT = 10
RETRY_AFTER = "900"  # the 15-minute cool-off, in seconds
hashed: list[str] = []


class CountingHasher(MD5PasswordHasher):
    """Fast (MD5, tests only), and counts each time a password is hashed or checked."""

    def encode(self, password: str, salt: str) -> str:
        hashed.append("encode")
        return super().encode(password, salt)

    def verify(self, password: str, encoded: str) -> bool:
        hashed.append("verify")
        return super().verify(password, encoded)


@pytest.fixture(autouse=True)
def fast_hashing() -> Iterator[None]:
    """(No failure counts are left over from another test: tests/conftest.no_login_failures.)"""
    with override_settings(PASSWORD_HASHERS=[f"{__name__}.CountingHasher"]):
        yield


def user() -> str:
    username = f"u{uuid.uuid4().hex[:10]}"
    get_user_model().objects.create_user(username=username, password=PASSWORD, is_staff=True)
    return username


def token(api, username: str, password: str, address: str):
    return api.post(
        "/api/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


def test_ten_failures_lock_a_username_out_from_every_address(api) -> None:
    alice = user()
    for n in range(LIMIT - 1):
        assert token(api, alice, "guess", f"10.0.0.{n}").status_code == HTTPStatus.UNAUTHORIZED
    assert token(api, alice, "guess", "10.0.0.9").status_code == HTTPStatus.TOO_MANY_REQUESTS
    locked = token(api, alice, PASSWORD, "10.9.9.9")  # the right password, from elsewhere
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert locked["Retry-After"] == RETRY_AFTER
    assert locked.json() == {
        "code": "too_many_failures",
        "detail": "Too many failed logins for this username or from this address: "
        "locked out; try again in 15 minutes.",
    }
    assert token(api, user(), PASSWORD, "10.8.8.8").status_code == HTTPStatus.OK  # others log in


def test_ten_failures_lock_an_address_out_for_every_username(api) -> None:
    for n in range(LIMIT - 1):
        assert token(api, f"nobody{n}", "guess", "10.1.1.1").status_code == HTTPStatus.UNAUTHORIZED
    token(api, "nobody9", "guess", "10.1.1.1")
    assert token(api, user(), PASSWORD, "10.1.1.1").status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert token(api, user(), PASSWORD, "10.1.1.2").status_code == HTTPStatus.OK


def test_nine_failures_do_not_lock_and_a_right_password_still_counts_them(api) -> None:
    bob = user()
    for _ in range(LIMIT - 1):
        token(api, bob, "guess", "10.2.2.2")
    assert token(api, bob, PASSWORD, "10.2.2.3").status_code == HTTPStatus.OK
    token(api, bob, "guess", "10.2.2.4")  # the tenth failure: AXES_RESET_ON_SUCCESS is off
    assert token(api, bob, PASSWORD, "10.2.2.5").status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_a_locked_out_attempt_hashes_no_password(api) -> None:
    carol = user()
    for _ in range(LIMIT):
        token(api, carol, "guess", "10.3.3.3")
    hashed.clear()
    for _ in range(5):
        assert token(api, carol, PASSWORD, "10.3.3.4").status_code == 429
    assert hashed == []


def test_the_admin_login_shows_the_lock_out(client) -> None:
    dave = user()
    for _ in range(LIMIT - 1):
        page = client.post(
            "/admin/login/", {"username": dave, "password": "guess"}, REMOTE_ADDR="10.4.4.4"
        )
        assert page.status_code == HTTPStatus.OK  # the form again, with its error
    client.post("/admin/login/", {"username": dave, "password": "guess"}, REMOTE_ADDR="10.4.4.4")
    locked = client.post(
        "/admin/login/", {"username": dave, "password": PASSWORD}, REMOTE_ADDR="10.4.4.5"
    )
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert locked["Retry-After"] == RETRY_AFTER
    assert b"locked out; try again in 15 minutes" in locked.content
    assert b"Retry after 900 seconds." in locked.content
