"""The pysaml2 IdP: configuration, metadata, AuthnRequest checks, signed responses.

A :class:`saml2.server.Server` is built per request for the one SP concerned (its
metadata inline), so that "unsigned requests only where the SP file says so" is
pysaml2's own ``want_authn_requests_signed`` for that SP. Every response is signed
(RSA-SHA256, SHA-256 digests): the assertion and the response around it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlsplit

from idp.saml.identity import attribute_converter_map

if TYPE_CHECKING:
    from saml2.attribute_converter import AttributeConverter
    from saml2.config import IdPConfig
    from saml2.saml import NameID
    from saml2.server import Server

from flask import current_app

from idp.models.saml import SamlServiceProvider
from idp.saml.keys import SamlKeys
from idp.settings import Settings

#: Where Debian's xmlsec1 is (installed by ``make saml``/``make test``).
XMLSEC1 = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"
# pysaml2 (~40 MB of modules) is imported where it is used, not when the application
# starts: a worker that never answers a SAML request never loads it. Its binding names:
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDINGS = (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST)
__all__ = ["BINDINGS", "BINDING_HTTP_POST", "BINDING_HTTP_REDIRECT"]


@dataclass(frozen=True)
class SamlSettings:
    """The IdP's identity and its time limits (from ``IDP_SAML_*``)."""

    issuer: str
    scope: str
    affiliations: tuple[str, ...]
    assertion_lifetime: int
    request_max_age: int
    metadata_valid_hours: int

    @property
    def entity_id(self) -> str:
        """The IdP's entity ID: the metadata URL."""
        return f"{self.issuer}/saml/metadata"

    @property
    def sso_url(self) -> str:
        """The SingleSignOnService location (both bindings)."""
        return f"{self.issuer}/saml/sso"


#: Where the application keeps its SAML settings and keys (``app.extensions``): the SAML
#: face's own state, beside (not inside) the services container below it.
EXTENSION = "idp_saml"


@dataclass
class SamlState:
    """The SAML IdP's settings and signing keys, read once at start."""

    settings: SamlSettings
    keys: SamlKeys


def saml_state() -> SamlState:
    """The SAML state of the current application."""
    found: SamlState = current_app.extensions[EXTENSION]
    return found


def from_settings(settings: Settings) -> SamlSettings:
    """The ``IDP_SAML_*`` settings as the IdP uses them (the scope defaults to the
    issuer's host)."""
    issuer = settings.site.issuer
    scope = settings.saml.scope or urlsplit(issuer).hostname or "localhost"
    affiliations = settings.saml.affiliations
    return SamlSettings(
        issuer=issuer,
        scope=scope,
        affiliations=affiliations,
        assertion_lifetime=settings.saml.assertion_lifetime,
        request_max_age=settings.saml.request_max_age,
        metadata_valid_hours=settings.saml.metadata_valid_hours,
    )


@cache
def converters() -> list[AttributeConverter]:
    from saml2.attribute_converter import AttributeConverter
    from saml2.attribute_converter import ac_factory
    from saml2.saml import NAME_FORMAT_URI

    ours = AttributeConverter(NAME_FORMAT_URI)
    ours.from_dict(attribute_converter_map())
    return [ours, *ac_factory()]


def idp_config(settings: SamlSettings, keys: SamlKeys, sp: SamlServiceProvider | None) -> IdPConfig:
    """pysaml2's configuration of this IdP (with ``sp``'s metadata when given)."""
    from saml2.config import IdPConfig
    from saml2.saml import NAME_FORMAT_URI
    from saml2.saml import NAMEID_FORMAT_PERSISTENT
    from saml2.xmldsig import DIGEST_SHA256
    from saml2.xmldsig import SIG_RSA_SHA256

    active = keys.active()
    minutes = max(1, settings.assertion_lifetime // 60)
    data: dict[str, Any] = {
        "entityid": settings.entity_id,
        "xmlsec_binary": XMLSEC1,
        "key_file": str(active.key_file),
        "cert_file": str(active.cert_file),
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "accepted_time_diff": 60,
        "valid_for": settings.metadata_valid_hours,
        "service": {
            "idp": {
                "endpoints": {
                    "single_sign_on_service": [(settings.sso_url, b) for b in BINDINGS],
                },
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "want_authn_requests_signed": sp is None or not sp.is_unsigned_request_allowed,
                "sign_response": True,
                "sign_assertion": True,
                "policy": {
                    "default": {
                        "lifetime": {"minutes": minutes},
                        "attribute_restrictions": None,
                        "name_form": NAME_FORMAT_URI,
                    }
                },
            }
        },
    }
    if sp is not None:
        data["metadata"] = {"inline": [sp.metadata_xml]}
    config = IdPConfig()
    config.load(data)
    config.attribute_converters = converters()
    return config


def build_server(settings: SamlSettings, keys: SamlKeys, sp: SamlServiceProvider) -> Server:
    """A pysaml2 Server that knows only ``sp``."""
    from saml2.server import Server

    return Server(config=idp_config(settings, keys, sp))


def metadata_xml(settings: SamlSettings, keys: SamlKeys) -> str:
    """The IdP's signed metadata, with ``validUntil`` and every published certificate."""
    from saml2.metadata import do_key_descriptor
    from saml2.metadata import entity_descriptor
    from saml2.metadata import sign_entity_descriptor
    from saml2.sigver import security_context
    from saml2.xmldsig import DIGEST_SHA256
    from saml2.xmldsig import SIG_RSA_SHA256

    config = idp_config(settings, keys, None)
    descriptor = entity_descriptor(config)
    for pair in keys.published()[1:]:  # the active one is there already
        descriptor.idpsso_descriptor.key_descriptor.extend(
            do_key_descriptor(pair.certificate_body(), use="signing")
        )
    security = security_context(config)
    _, signed = sign_entity_descriptor(descriptor, None, security, SIG_RSA_SHA256, DIGEST_SHA256)
    return str(signed)


def name_id_for(value: str, settings: SamlSettings, sp_entity_id: str) -> NameID:
    """The persistent, pairwise NameID element."""
    from saml2.saml import NAMEID_FORMAT_PERSISTENT
    from saml2.saml import NameID

    return NameID(
        format=NAMEID_FORMAT_PERSISTENT,
        name_qualifier=settings.entity_id,
        sp_name_qualifier=sp_entity_id,
        text=value,
    )


def request_key(sp_entity_id: str, request_id: str) -> str:
    """The replay memory's key of an AuthnRequest ID (per SP)."""
    return hashlib.sha256(f"{sp_entity_id}\x00{request_id}".encode()).hexdigest()


def issue_instant_age(issue_instant: str, now: dt.datetime) -> float:
    """Seconds since an ``IssueInstant`` (negative: in the future)."""
    from saml2.time_util import str_to_time

    year, month, day, hour, minute, second = str_to_time(issue_instant)[:6]
    issued = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    return (now - issued).total_seconds()


def encode_response(xml: str) -> str:
    """Base64 of a signed response, as the HTTP-POST binding sends it."""
    return base64.b64encode(xml.encode("utf-8")).decode("ascii")
