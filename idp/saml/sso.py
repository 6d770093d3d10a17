"""Web Browser SSO (SAML 2.0 Profiles §4.1): check an AuthnRequest, answer it.

Checks, in order: the request decodes and names a registered, enabled SP; pysaml2 parses
it (defusedxml: no DTD, no entities) and verifies its signature with xmlsec1 against the
SP's metadata — required unless the SP file allows unsigned requests, on the Redirect
binding over the query string, on the POST binding inside the XML; its
``IssueInstant`` is recent; its ID was never seen before (replay memory, per SP); the
AssertionConsumerService it asks for is one of the SP's metadata (HTTP-POST only).
The answer is a Response whose Assertion is signed (RSA-SHA256) and which is signed
itself, with ``InResponseTo``, Audience and Recipient restrictions and a short validity.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

# pysaml2 is imported inside the functions that use it (see idp.saml.server).
from idp.extensions import db
from idp.models.patron import Patron
from idp.models.saml import SamlRequestId
from idp.models.saml import SamlServiceProvider
from idp.saml.identity import attributes_for
from idp.saml.identity import pairwise_value
from idp.saml.keys import SamlKeys
from idp.saml.registry import find_sp
from idp.saml.server import BINDING_HTTP_POST
from idp.saml.server import SamlSettings
from idp.saml.server import build_server
from idp.saml.server import converters
from idp.saml.server import encode_response
from idp.saml.server import idp_config
from idp.saml.server import issue_instant_age
from idp.saml.server import name_id_for
from idp.saml.server import request_key

#: Longest encoded request or RelayState accepted (SAML bindings §3.4.3: RelayState ≤ 80
#: bytes is what SPs must respect; we allow more for SPs that ignore it).
MAX_REQUEST = 32 * 1024
MAX_RELAY_STATE = 1024
#: Seconds an IssueInstant may lie in the future (clock skew).
SKEW = 60


class SamlRequestError(ValueError):
    """The request is refused; the message is for the error page and the audit line."""


@dataclass(frozen=True)
class PendingSso:
    """A checked request waiting for the patron (kept in the session's pending store)."""

    sp_entity_id: str
    request_id: str  # "" for an IdP-initiated (unsolicited) response
    acs_url: str
    relay_state: str
    is_forced: bool

    def as_params(self) -> dict[str, str]:
        """The pending store's form (strings only)."""
        return {
            "protocol": "saml",
            "sp": self.sp_entity_id,
            "request_id": self.request_id,
            "acs": self.acs_url,
            "relay_state": self.relay_state,
            "force": "1" if self.is_forced else "",
        }

    @classmethod
    def from_params(cls, params: dict[str, str]) -> PendingSso:
        """Read back :meth:`as_params`."""
        return cls(
            params.get("sp", ""),
            params.get("request_id", ""),
            params.get("acs", ""),
            params.get("relay_state", ""),
            params.get("force") == "1",
        )


def _issuer_of(settings: SamlSettings, keys: SamlKeys, encoded: str, binding: str) -> str:
    """The Issuer named in a request, to choose the SP (nothing is trusted yet)."""
    from saml2.samlp import authn_request_from_string
    from saml2.server import Server

    peek = Server(config=idp_config(settings, keys, None))
    try:
        xml = peek.unravel(encoded, binding, "SAMLRequest")
        message = authn_request_from_string(xml)
    except Exception as exc:  # bad base64, deflate, XML or a DTD (defusedxml)
        raise SamlRequestError("The SAML request cannot be read.") from exc
    if message is None or message.issuer is None or not message.issuer.text:
        raise SamlRequestError("The SAML request names no issuer.")
    return str(message.issuer.text).strip()


def check_request(
    settings: SamlSettings,
    keys: SamlKeys,
    *,
    encoded: str,
    binding: str,
    relay_state: str | None,
    sig_alg: str | None,
    signature: str | None,
    now: dt.datetime,
) -> PendingSso:
    """Check an AuthnRequest completely and remember its ID.

    :raises SamlRequestError: for anything refused; nothing is answered to the SP then.
    """
    if len(encoded) > MAX_REQUEST or len(relay_state or "") > MAX_RELAY_STATE:
        raise SamlRequestError("The SAML request is too large.")
    sp = find_sp(_issuer_of(settings, keys, encoded, binding))
    if sp is None:
        raise SamlRequestError("The service provider is not registered.")
    server = build_server(settings, keys, sp)
    try:
        parsed = server.parse_authn_request(
            encoded, binding, relay_state=relay_state, sigalg=sig_alg, signature=signature
        )
    except Exception as exc:  # signature, schema, destination, version
        raise SamlRequestError("The SAML request is not valid or not signed correctly.") from exc
    if parsed is None:
        raise SamlRequestError("The SAML request is not valid or not signed correctly.")
    message = parsed.message
    if message.issuer is None or message.issuer.text.strip() != sp.entity_id:
        raise SamlRequestError("The SAML request's issuer changed.")
    age = issue_instant_age(message.issue_instant, now)
    if age > settings.request_max_age or age < -SKEW:
        raise SamlRequestError("The SAML request is too old or from the future.")
    try:
        args = server.response_args(message, [BINDING_HTTP_POST])
    except Exception as exc:  # ACS not in the metadata, or no HTTP-POST ACS
        raise SamlRequestError("The assertion consumer service is not registered.") from exc
    _remember_request_id(sp.entity_id, str(message.id), settings, now)
    return PendingSso(
        sp.entity_id,
        str(message.id),
        str(args["destination"]),
        relay_state or "",
        message.force_authn in ("true", "1", True),
    )


def unsolicited(sp: SamlServiceProvider, relay_state: str | None) -> PendingSso:
    """An IdP-initiated login for ``sp`` (only where its file allows it)."""
    if not sp.is_idp_initiated_allowed:
        raise SamlRequestError("This service provider does not accept IdP-initiated login.")
    if len(relay_state or "") > MAX_RELAY_STATE:
        raise SamlRequestError("The RelayState is too large.")
    acs = _posting_acs(sp)
    return PendingSso(sp.entity_id, "", acs, relay_state or "", False)


def _posting_acs(sp: SamlServiceProvider) -> str:
    for location in _all_acs(sp):
        return location
    raise SamlRequestError("The service provider has no HTTP-POST assertion consumer service.")


def _remember_request_id(
    sp_entity_id: str, request_id: str, settings: SamlSettings, now: dt.datetime
) -> None:
    """Remember a request ID until it would be too old anyway; refuse one seen before.

    A transaction of its own, deliberately: a single-use claim (like the card-code
    replay store), which the unique key must show to every other worker at once; held
    open until the end of the request it would also keep SQLite's write lock while the
    sign-in page's own-connection counters wait on it."""
    db.session.execute(delete(SamlRequestId).where(SamlRequestId.expires_at < now))
    db.session.add(
        SamlRequestId(
            key=request_key(sp_entity_id, request_id),
            expires_at=now + dt.timedelta(seconds=settings.request_max_age + 2 * SKEW),
        )
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise SamlRequestError("This SAML request was already used.") from None


def check_acs(settings: SamlSettings, keys: SamlKeys, pending: PendingSso) -> SamlServiceProvider:
    """The SP of a resumed request, with its ACS still registered (metadata may change)."""
    sp = find_sp(pending.sp_entity_id)
    if sp is None:
        raise SamlRequestError("The service provider is not registered.")
    if pending.acs_url not in _all_acs(sp):
        raise SamlRequestError("The assertion consumer service is not registered.")
    return sp


def _all_acs(sp: SamlServiceProvider) -> list[str]:
    """The SP's HTTP-POST ACS locations, in metadata order."""
    from saml2.mdstore import MetadataStore

    store = MetadataStore(converters(), None)
    store.load("inline", sp.metadata_xml)
    return [
        str(e["location"])
        for e in store.assertion_consumer_service(sp.entity_id, BINDING_HTTP_POST)
    ]


def assertion_response(
    settings: SamlSettings,
    keys: SamlKeys,
    sp: SamlServiceProvider,
    pending: PendingSso,
    patron: Patron,
    *,
    secret: str,
    auth_time: int | None,
) -> str:
    """The signed Response (base64, for the HTTP-POST binding) carrying the assertion."""
    from saml2 import SAMLError
    from saml2.s_utils import UnknownPrincipal
    from saml2.saml import AUTHN_PASSWORD_PROTECTED
    from saml2.xmldsig import DIGEST_SHA256
    from saml2.xmldsig import SIG_RSA_SHA256

    server = build_server(settings, keys, sp)
    pairwise = pairwise_value(patron, sp.entity_id, secret)
    identity = attributes_for(
        patron,
        sp.attributes,
        pairwise=pairwise,
        scope=settings.scope,
        affiliations=settings.affiliations,
    )
    authn: dict[str, Any] = {
        "class_ref": AUTHN_PASSWORD_PROTECTED,
        "authn_auth": settings.entity_id,
    }
    if auth_time is not None:
        authn["authn_instant"] = auth_time
    try:
        xml = server.create_authn_response(
            identity,
            in_response_to=pending.request_id or None,
            destination=pending.acs_url,
            sp_entity_id=sp.entity_id,
            name_id=name_id_for(pairwise, settings, sp.entity_id),
            authn=authn,
            sign_response=True,
            sign_assertion=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
    except (UnknownPrincipal, SAMLError, ValueError) as exc:  # e.g. metadata pysaml2 rejects
        raise SamlRequestError("The response cannot be made.") from exc
    return encode_response(str(xml))


def error_response(
    settings: SamlSettings, keys: SamlKeys, sp: SamlServiceProvider, pending: PendingSso
) -> str:
    """A signed Response with status AuthnFailed: the patron gave up."""
    from saml2.samlp import STATUS_AUTHN_FAILED
    from saml2.xmldsig import DIGEST_SHA256
    from saml2.xmldsig import SIG_RSA_SHA256

    server = build_server(settings, keys, sp)
    xml = server.create_error_response(
        pending.request_id or None,
        pending.acs_url,
        (STATUS_AUTHN_FAILED, "The patron did not sign in."),
        sign=True,
        sign_alg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    return encode_response(str(xml))
