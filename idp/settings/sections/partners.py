"""What other systems speak to: back-channel logout, SIP2, SAML, EZproxy."""

from __future__ import annotations

from dataclasses import dataclass

from idp.settings import checks
from idp.settings.fields import setting
from idp.settings.sections.base import LOCALHOST
from idp.settings.sections.base import PROJECT_ROOT
from idp.settings.sections.base import Network


@dataclass(frozen=True)
class BackchannelSettings:
    """Back-channel logout (OpenID Connect Back-Channel Logout 1.0)."""

    timeout: int = setting(
        "IDP_BACKCHANNEL_TIMEOUT",
        2,
        "Delivery timeout",
        "Seconds to wait for a client's back-channel logout URI, per attempt.",
        minimum=1,
        maximum=60,
    )
    retries: int = setting(
        "IDP_BACKCHANNEL_RETRIES",
        2,
        "Delivery retries",
        "Further attempts after a network error, timeout or HTTP 5xx.",
        minimum=0,
        maximum=10,
    )
    backoff_ms: int = setting(
        "IDP_BACKCHANNEL_BACKOFF_MS",
        250,
        "Retry pause (ms)",
        "Pause before the first retry, doubling for each further one.",
        minimum=0,
    )
    workers: int = setting(
        "IDP_BACKCHANNEL_WORKERS",
        4,
        "Delivery threads",
        "Threads per process delivering logout tokens.",
        minimum=1,
        maximum=64,
    )
    logout_token_ttl: int = setting(
        "IDP_LOGOUT_TOKEN_TTL", 120, "Logout token lifetime", "Seconds.", minimum=1
    )
    allow_private: str = setting(
        "IDP_BACKCHANNEL_ALLOW_PRIVATE",
        "auto",
        "Private logout destinations",
        "Back-channel logout URIs on loopback, private or link-local addresses: auto allows "
        "them only under DEBUG/TESTING, false never, true for every client; otherwise only "
        "a client file with backchannel_logout_allow_private = true may use one.",
        choices=("auto", "true", "false", "1", "0", "yes", "no", "on", "off"),
    )


@dataclass(frozen=True)
class Sip2Settings:
    """The SIP2 responder (`idp sip2 serve`; README "SIP2 responder")."""

    terminals: str = setting(
        "IDP_SIP2_TERMINALS",
        str(PROJECT_ROOT / "terminals" / "sip2.toml"),
        "Terminals file",
        "Each terminal's login, password source, language and what it may see.",
        shown="terminals/sip2.toml",
    )
    host: str = setting(
        "IDP_SIP2_HOST", "127.0.0.1", "Listen host", "Where `idp sip2 serve` listens (--host)."
    )
    port: int = setting(
        "IDP_SIP2_PORT", 6001, "Listen port", "TCP port (--port).", minimum=0, maximum=65535
    )
    max_connections: int = setting(
        "IDP_SIP2_MAX_CONNECTIONS",
        64,
        "Connections",
        "Simultaneous connections; further ones are closed at once.",
        minimum=1,
    )
    max_connections_per_address: int = setting(
        "IDP_SIP2_MAX_CONNECTIONS_PER_ADDRESS",
        8,
        "Connections per address",
        "Simultaneous connections from one address; further ones are closed at once.",
        minimum=1,
    )
    login_timeout: float = setting(
        "IDP_SIP2_LOGIN_TIMEOUT",
        10.0,
        "Login timeout",
        "Seconds a new connection has to log in; ACS Status (99) does not extend it.",
        minimum=0.01,
    )
    idle_timeout: float = setting(
        "IDP_SIP2_IDLE_TIMEOUT",
        60.0,
        "Idle timeout",
        "Seconds without a complete message before a connection is closed.",
        minimum=0.01,
    )
    max_message: int = setting(
        "IDP_SIP2_MAX_MESSAGE",
        4096,
        "Longest message",
        "Bytes; a longer message closes the connection.",
        minimum=64,
    )
    tls_cert: str = setting(
        "IDP_SIP2_TLS_CERT",
        "",
        "TLS certificate",
        "PEM certificate chain; with IDP_SIP2_TLS_KEY the responder speaks TLS (1.2 or later).",
    )
    tls_key: str = setting("IDP_SIP2_TLS_KEY", "", "TLS key", "PEM private key.")
    institution_id: str = setting(
        "IDP_SIP2_INSTITUTION_ID",
        "",
        "Institution id",
        "AO answered when neither the request nor the terminal gives one.",
    )
    encoding: str = setting(
        "IDP_SIP2_ENCODING",
        "utf-8",
        "Encoding",
        "Text encoding agreed with the terminals.",
        check=checks.text_encoding,
    )
    expiry_field: str = setting(
        "IDP_SIP2_EXPIRY_FIELD",
        "",
        "Expiry field",
        "Extension field for the card expiry in Patron Information (e.g. PA); empty: not sent.",
        check=checks.extension_field,
    )


@dataclass(frozen=True)
class SamlSettings:
    """The SAML 2.0 IdP (README "SAML service providers")."""

    scope: str = setting(
        "IDP_SAML_SCOPE",
        "",
        "Scope",
        "Scope of pairwise-id and eduPersonScopedAffiliation (empty: the host name of IDP_ISSUER).",
    )
    affiliations: tuple[str, ...] = setting(
        "IDP_SAML_AFFILIATIONS",
        ("member", "library-walk-in"),
        "Affiliations",
        "eduPersonScopedAffiliation values (comma-separated, scoped automatically; empty: none).",
    )
    assertion_lifetime: int = setting(
        "IDP_SAML_ASSERTION_LIFETIME",
        300,
        "Assertion lifetime",
        "Seconds an assertion is valid (rounded down to whole minutes).",
        minimum=60,
        maximum=3600,
    )
    request_max_age: int = setting(
        "IDP_SAML_REQUEST_MAX_AGE",
        300,
        "Request age",
        "Seconds an AuthnRequest's IssueInstant may be old; its ID is remembered this long.",
        minimum=1,
        maximum=3600,
    )
    metadata_valid_hours: int = setting(
        "IDP_SAML_METADATA_VALID_HOURS",
        168,
        "Metadata validity",
        "Hours of validUntil in /saml/metadata.",
        minimum=1,
    )


@dataclass(frozen=True)
class EzproxySettings:
    """The EZproxy external-script check (POST /ezproxy/check; README "EZproxy")."""

    secret: str = setting(
        "IDP_EZPROXY_SECRET",
        "",
        "Shared secret",
        "Sent by EZproxy (URL parameter secret or header X-EZproxy-Secret), at least 32 "
        "characters; empty: /ezproxy/check is off (404).",
        check=checks.secret_or_empty,
    )
    networks: tuple[Network, ...] = setting(
        "IDP_EZPROXY_NETWORKS",
        LOCALHOST,
        "EZproxy networks",
        "Addresses or CIDR networks of the EZproxy server(s); any other caller gets 403.",
    )
    checks_per_minute: int = setting(
        "IDP_EZPROXY_CHECKS_PER_MINUTE",
        600,
        "Checks per minute",
        "The EZproxy server's own allowance, counted instead of its address's limit.",
        minimum=1,
        maximum=6000,
    )
    failures_per_day: int = setting(
        "IDP_EZPROXY_FAILURES_PER_DAY",
        2000,
        "Failures per day",
        "Failed checks per UTC day from the EZproxy server.",
        minimum=1,
        maximum=10000,
    )
