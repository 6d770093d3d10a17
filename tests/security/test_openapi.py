"""The OpenAPI description is served, valid, and true: schemathesis fuzzes it in-process."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from openapi_spec_validator import validate
from schemathesis.checks import content_type_conformance
from schemathesis.checks import not_a_server_error
from schemathesis.checks import response_headers_conformance
from schemathesis.checks import response_schema_conformance
from schemathesis.checks import status_code_conformance
from schemathesis.generation.modes import GenerationMode

from idp.views.openapi import load_description

OPERATIONS = [
    ("/token", "POST"),
    ("/revoke", "POST"),
    ("/introspect", "POST"),
    ("/userinfo", "GET"),
    ("/userinfo", "POST"),
    ("/api/card/verify", "POST"),
    ("/api/card/barcode", "GET"),
    ("/.well-known/openid-configuration", "GET"),
    ("/jwks.json", "GET"),
    ("/api/patrons/authenticate", "POST"),
]
PARAMETERLESS = {"/.well-known/openid-configuration", "/jwks.json"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.mark.parametrize(
    ("path", "method", "mode"),
    [
        (path, method, mode)
        for path, method in OPERATIONS
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        # Documents without parameters have nothing to get wrong.
        if not (mode is GenerationMode.NEGATIVE and path in PARAMETERLESS)
    ],
)
def test_json_apis_answer_as_their_openapi_description_says(
    app: Flask, portal: Any, patron: Any, path: str, method: str, mode: GenerationMode
) -> None:
    # schemathesis builds requests from the served document (valid and invalid ones)
    # and checks every answer in-process over WSGI.
    api = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = api[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    run()


def test_openapi_document_lists_the_json_apis(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert {"/token", "/revoke", "/introspect", "/userinfo"} <= set(document["paths"])
    assert document["servers"] == [{"url": "http://localhost"}]


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_basic_credentials_that_are_not_text_are_invalid_client(
    client: FlaskClient, path: str
) -> None:
    # Found by schemathesis: base64 of bytes that are not UTF-8 made Authlib raise.
    data = {"token": "x", "grant_type": "client_credentials"}
    response = client.post(path, data=data, headers={"Authorization": "Basic gYKDhA=="})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_openapi_file_is_a_valid_openapi_3_description() -> None:
    # The static file itself, before the view adds `servers`: a broken $ref, an unknown
    # keyword or a wrong type anywhere fails here with the path to the fault.
    validate(load_description())


def test_served_document_is_the_file_with_the_issuer_as_server(client: FlaskClient) -> None:
    served = client.get("/openapi.json").get_json()
    assert {key: value for key, value in served.items() if key != "servers"} == load_description()
