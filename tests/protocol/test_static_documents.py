"""Discovery and the JWKS on the WSGI fast path: same answer as the Flask views, 304 on a
matching ETag, and a rotated key published within the key store's reload interval."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.services.container import container
from idp.services.keys import KeyStore
from idp.settings import app_settings
from idp.views.discovery import StaticDocuments
from idp.views.discovery import _etag_matches

PATHS = [
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/jwks.json",
]
SECURITY_HEADERS = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
]


def _flask_view(app: Flask, path: str) -> tuple[bytes, dict[str, str]]:
    """The same document through Flask (the query string skips the fast path)."""
    response = app.test_client().get(path + "?via=flask")
    assert response.status_code == 200
    return response.data, dict(response.headers)


def test_the_fast_path_is_installed(app: Flask) -> None:
    assert isinstance(app.wsgi_app, StaticDocuments)


@pytest.mark.parametrize("path", PATHS)
def test_fast_path_answers_like_the_flask_view(app: Flask, client: FlaskClient, path: str) -> None:
    fast = client.get(path)
    body, headers = _flask_view(app, path)
    assert fast.status_code == 200
    assert fast.data == body
    assert fast.headers["ETag"] == headers["ETag"]
    assert fast.headers["Cache-Control"] == headers["Cache-Control"]
    assert fast.headers["Content-Type"] == "application/json"
    assert fast.headers["Access-Control-Allow-Origin"] == "*"
    for name in SECURITY_HEADERS:
        assert fast.headers[name] == headers[name], name


@pytest.mark.parametrize("path", PATHS)
def test_matching_etag_gives_304_without_a_body(client: FlaskClient, path: str) -> None:
    etag = client.get(path).headers["ETag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(path, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.data == b""
        assert again.headers["ETag"] == etag
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_head_has_headers_and_no_body(client: FlaskClient) -> None:
    response = client.head("/jwks.json")
    assert response.status_code == 200
    assert response.data == b""
    assert int(response.headers["Content-Length"]) == len(client.get("/jwks.json").data)


def test_other_methods_reach_the_application(client: FlaskClient) -> None:
    assert client.post("/jwks.json").status_code == 405


def test_hsts_follows_the_scheme(client: FlaskClient) -> None:
    assert "Strict-Transport-Security" not in client.get("/jwks.json").headers
    secure = client.get("/jwks.json", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_rotated_key_is_published_after_the_reload_interval(
    app: Flask, client: FlaskClient
) -> None:
    folder = Path(app_settings(app).site.instance_dir) / "keys-rotation"
    shutil.copytree(container().keys.folder, folder)
    store = KeyStore(folder)
    container().keys = store
    before = client.get("/jwks.json")
    new_kid = KeyStore(folder).rotate()
    deadline = time.monotonic() + 5
    kids: list[str] = []
    while time.monotonic() < deadline:
        after = client.get("/jwks.json", headers={"If-None-Match": before.headers["ETag"]})
        if after.status_code == 200:
            kids = [k["kid"] for k in after.get_json()["keys"]]
            break
        time.sleep(0.1)
    assert new_kid in kids
    assert after.headers["ETag"] != before.headers["ETag"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ("abc", False),
        ('"abcd"', False),
    ],
)
def test_etag_comparison(header: str | None, expected: bool) -> None:
    assert _etag_matches(header, "abc") is expected
