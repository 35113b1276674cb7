"""GET /play/ and /favicon.ico in process (Django's test client; no server, no browser): the page
names its scripts by our own static URLs, never a CDN's, and tells the script whether the server
wants a token. The browser tests are in test_browser.py."""

from __future__ import annotations

import json
import re
from http import HTTPStatus

from django.contrib.staticfiles import finders
from django.test import Client, override_settings

IMPORTS = {
    "three": "/static/play/vendor/three.module.js",
    "three/addons/renderers/CSS2DRenderer.js": "/static/play/vendor/CSS2DRenderer.js",
    "signight": "/static/signight/signight.js",
}


def page(client: Client) -> str:
    response = client.get("/play/")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "text/html; charset=utf-8"
    return response.content.decode()


def test_the_page_imports_three_and_the_js_client_from_our_static_files(client: Client) -> None:
    html = page(client)
    importmap = re.search(r'<script type="importmap">(.*?)</script>', html, re.DOTALL)
    assert importmap is not None
    assert json.loads(importmap.group(1)) == {"imports": IMPORTS}
    assert '<script type="module" src="/static/play/play.js"></script>' in html
    assert '<link rel="icon" href="/static/play/favicon.ico" sizes="32x32">' in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no file from elsewhere"


def test_the_page_says_whether_the_server_wants_a_token(client: Client) -> None:
    with override_settings(WS_AUTH_REQUIRED=False):
        assert '<body data-auth-required="0">' in page(client)
    with override_settings(WS_AUTH_REQUIRED=True):
        assert '<body data-auth-required="1">' in page(client)


def test_the_page_has_a_join_form_a_chat_input_and_the_status_words(client: Client) -> None:
    html = page(client)
    for element in ('id="join"', 'id="chat-input"', 'id="status-state"', 'id="status-ping"'):
        assert element in html


def test_play_without_its_slash_redirects_keeping_the_query(client: Client) -> None:
    response = client.get("/play", {"room": "lobby", "name": "Ada"})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/play/?room=lobby&name=Ada"


def test_favicon_ico_is_the_page_icon(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert response["Location"] == "/static/play/favicon.ico"
    icon = client.get(response["Location"])
    assert icon.status_code == HTTPStatus.OK
    assert b"".join(icon.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file's header


def test_only_the_listed_files_are_served_from_outside_the_app(client: Client) -> None:
    for private in ("/static/signight/package.json", "/static/play/vendor/three.webgpu.js"):
        assert client.get(private).status_code == HTTPStatus.NOT_FOUND, private
    assert finders.find("signight/package.json") is None
