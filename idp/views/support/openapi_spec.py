"""OpenAPI 3 description of the JSON APIs (RFC 6749 §5, RFC 7009, RFC 7662, OIDC Core §5.3).

The document is built from small functions, one per API, so that a new API adds one
function and one entry in :data:`SECTIONS` (with its schemas in ``components``). The
test suite runs schemathesis against the served document, so it must say what the
endpoints really answer — errors included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

#: Limits of the parameters (the server refuses anything longer).
MAX_TOKEN = 512
MAX_FIELD = 2048


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            FORM: {
                "schema": {
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": False,
                }
            }
        },
    }


def _string(description: str, max_length: int = MAX_FIELD, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, "description": description, **extra}


NO_STORE = {
    "Cache-Control": {
        "description": "Always `no-store`: the answer carries tokens or personal data.",
        "schema": {"type": "string", "enum": ["no-store"]},
    }
}
CLIENT_AUTH: list[dict[str, list[str]]] = [{"clientSecretBasic": []}, {}]


def _oauth_errors(*statuses: str) -> dict[str, Any]:
    return {status: _json("OAuthError", "The request was refused.") for status in statuses}


def token_paths() -> dict[str, Any]:
    """``/token``: code exchange, refresh, client credentials (RFC 6749 §4.1.3, §6, §4.4)."""
    return {
        "/token": {
            "post": {
                "operationId": "token",
                "summary": "Exchange a code or a refresh token for tokens",
                "security": CLIENT_AUTH,
                "requestBody": _form(
                    {
                        "grant_type": _string(
                            "The grant",
                            64,
                            enum=["authorization_code", "refresh_token", "client_credentials"],
                        ),
                        "code": _string("Authorization code (single use, 60 s)", MAX_TOKEN),
                        "redirect_uri": _string("The redirect URI of the request"),
                        "code_verifier": _string("PKCE verifier (RFC 7636)", 128),
                        "refresh_token": _string("Refresh token (rotated on use)", MAX_TOKEN),
                        "scope": _string("Scopes to narrow a refresh to"),
                        "client_id": _string("Client (client_secret_post, none)", 64),
                        "client_secret": _string("Client secret (client_secret_post)", 256),
                    },
                    ["grant_type"],
                ),
                "responses": {
                    "200": {**_json("TokenResponse", "Tokens issued."), "headers": NO_STORE},
                    **_oauth_errors("400", "401"),
                },
            }
        }
    }


def revocation_paths() -> dict[str, Any]:
    """``/revoke``: RFC 7009."""
    return {
        "/revoke": {
            "post": {
                "operationId": "revoke",
                "summary": "Revoke an access or refresh token (and its whole grant)",
                "security": CLIENT_AUTH,
                "requestBody": _form(
                    {
                        "token": _string("The token to revoke", MAX_TOKEN),
                        "token_type_hint": _string(
                            "What the token is", 32, enum=["access_token", "refresh_token"]
                        ),
                        "client_id": _string("Client (client_secret_post, none)", 64),
                        "client_secret": _string("Client secret (client_secret_post)", 256),
                    },
                    ["token"],
                ),
                "responses": {
                    "200": {"description": "Revoked, or unknown (RFC 7009 §2.2)."},
                    **_oauth_errors("400", "401"),
                },
            }
        }
    }


def introspection_paths() -> dict[str, Any]:
    """``/introspect``: RFC 7662, for a confidential client's own tokens."""
    return {
        "/introspect": {
            "post": {
                "operationId": "introspect",
                "summary": "Tell whether a token is active, and what it grants",
                "security": [{"clientSecretBasic": []}],
                "requestBody": _form(
                    {
                        "token": _string("The token to introspect", MAX_TOKEN),
                        "token_type_hint": _string(
                            "What the token is", 32, enum=["access_token", "refresh_token"]
                        ),
                        "client_id": _string("Client (client_secret_post)", 64),
                        "client_secret": _string("Client secret (client_secret_post)", 256),
                    },
                    ["token"],
                ),
                "responses": {
                    "200": {**_json("Introspection", "The token's state."), "headers": NO_STORE},
                    **_oauth_errors("400", "401"),
                },
            }
        }
    }


def userinfo_paths() -> dict[str, Any]:
    """``/userinfo``: OIDC Core §5.3, bearer token in the header or the form body."""
    bearer_errors = {
        status: {
            **_json("OAuthError", description),
            "headers": {
                "WWW-Authenticate": {
                    "description": "RFC 6750 §3 challenge.",
                    "schema": {"type": "string"},
                }
            },
        }
        for status, description in (
            ("401", "No token, or an invalid or expired one."),
            ("403", "The token lacks the openid scope."),
        )
    }
    operation = {
        "summary": "The signed-in patron's claims, as the token's scopes allow",
        "security": [{"bearer": []}],
        "responses": {
            "200": {**_json("UserInfo", "The claims."), "headers": NO_STORE},
            **bearer_errors,
        },
    }
    post = {
        **operation,
        "operationId": "userinfoPost",
        "security": [{"bearer": []}, {}],
        "requestBody": {
            "required": False,
            "content": {
                FORM: {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "access_token": _string("RFC 6750 §2.2 form token", MAX_TOKEN)
                        },
                    }
                }
            },
        },
    }
    return {"/userinfo": {"get": {**operation, "operationId": "userinfo"}, "post": post}}


def _bearer_errors(forbidden: str) -> dict[str, Any]:
    return {
        status: {
            **_json("OAuthError", description),
            "headers": {
                "WWW-Authenticate": {
                    "description": "RFC 6750 §3 challenge (on 401 and insufficient_scope).",
                    "schema": {"type": "string"},
                }
            },
        }
        for status, description in (
            ("401", "No token, or an invalid or expired one."),
            ("403", forbidden),
        )
    }


def card_paths() -> dict[str, Any]:
    """The card APIs: the desk's code check and the signed barcode claim (SPEC §5)."""
    too_many = {
        **_json("OAuthError", "Too many checks from this client or address."),
        "headers": {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}},
            **NO_STORE,
        },
    }
    verify = {
        "operationId": "cardVerify",
        "summary": "Check a scanned library-card code (each code is accepted once)",
        "description": (
            "Client-credentials token with scope `card:verify`. The code may carry NW-7 "
            "start/stop letters (A-D) and full-width digits. Every call is audited."
        ),
        "security": [{"bearer": []}],
        "requestBody": {
            "required": True,
            "content": {
                JSON: {
                    "schema": {
                        "type": "object",
                        "properties": {"code": _string("The scanned barcode value", 256)},
                        "required": ["code"],
                    }
                }
            },
        },
        "responses": {
            "200": {**_json("CardVerification", "Valid, or why not."), "headers": NO_STORE},
            "400": _json("OAuthError", "The body is not a JSON object with a string 'code'."),
            **_bearer_errors("The token lacks card:verify, or was issued for a patron."),
            "429": too_many,
        },
    }
    barcode = {
        "operationId": "cardBarcode",
        "summary": "The signed barcode claim of the token's patron",
        "description": (
            "Patron access token with scope `library_card`. The body is a compact JWS "
            "(RS256, `typ` card-barcode+jwt) to verify against the JWKS; fetch the next "
            "one at its `exp`."
        ),
        "security": [{"bearer": []}],
        "responses": {
            "200": {
                "description": "The claim.",
                "content": {"application/jwt": {"schema": {"type": "string"}}},
                "headers": NO_STORE,
            },
            **_bearer_errors(
                "The token lacks library_card, or the card is suspended, lost, expired or "
                "has a temporary password (error card_unavailable with a reason)."
            ),
        },
    }
    return {"/api/card/verify": {"post": verify}, "/api/card/barcode": {"get": barcode}}


def discovery_paths() -> dict[str, Any]:
    """Discovery and JWKS (OIDC Discovery §4, RFC 7517)."""

    def document(operation_id: str, summary: str, schema: str) -> dict[str, Any]:
        return {
            "get": {
                "operationId": operation_id,
                "summary": summary,
                "responses": {
                    "200": _json(schema, summary),
                    "304": {"description": "Not modified (If-None-Match)."},
                },
            }
        }

    return {
        "/.well-known/openid-configuration": document(
            "discovery", "Provider metadata", "ProviderMetadata"
        ),
        "/jwks.json": document("jwks", "Public signing keys", "JWKS"),
    }


def patron_api_paths() -> dict[str, Any]:
    """``/api/patrons/authenticate``: the credential check for vendors' own login forms."""
    bearer_errors = {
        status: {
            **_json("OAuthError", description),
            "headers": {
                "WWW-Authenticate": {
                    "description": "RFC 6750 §3 challenge.",
                    "schema": {"type": "string"},
                }
            },
        }
        for status, description in (
            ("401", "No token, or an invalid or expired one."),
            ("403", "Not a client-credentials token with the patron:authenticate scope."),
        )
    }
    return {
        "/api/patrons/authenticate": {
            "post": {
                "operationId": "patronAuthenticate",
                "summary": "Tell a registered client whether a card number and password are right",
                "description": (
                    "For relying parties that keep their own login form. Needs a "
                    "client-credentials token with the `patron:authenticate` scope. Never "
                    "issues a token for the patron. `temporary_password`, expiry and status "
                    "reasons are only told after the password was verified. A throttled "
                    "check answers 200 with reason `throttled` and a `Retry-After` header."
                ),
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": _ref("CredentialCheckRequest")}},
                },
                "responses": {
                    "200": {
                        **_json("CredentialCheck", "The result of the check."),
                        "headers": {
                            **NO_STORE,
                            "Retry-After": {
                                "description": "With reason `throttled`: seconds to wait.",
                                "schema": {"type": "string"},
                            },
                        },
                    },
                    **_oauth_errors("400", "413"),
                    **bearer_errors,
                },
            }
        }
    }


SCHEMAS: dict[str, Any] = {
    "CredentialCheckRequest": {
        "type": "object",
        "required": ["card_number", "password"],
        "properties": {
            "card_number": _string("Card number as the patron typed it (NFKC-normalised)", 64),
            "password": _string("The patron's password", 256),
            "patron_ip": _string(
                "The patron's IP address as the client saw it: throttled per patron "
                "address instead of the client's own server",
                64,
            ),
        },
    },
    "CredentialCheck": {
        "type": "object",
        "required": ["valid", "reason"],
        "properties": {
            "valid": {"type": "boolean"},
            "reason": {
                "type": "string",
                "enum": [
                    "ok",
                    "invalid_credentials",
                    "temporary_password",
                    "temporary_password_expired",
                    "card_expired",
                    "suspended",
                    "lost",
                    "withdrawn",
                    "locked",
                    "throttled",
                ],
            },
            "claims": _ref("UserInfo"),
            "retry_after": {"type": "integer", "minimum": 1},
        },
    },
    "OAuthError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "error_description": {"type": "string"},
            "error_uri": {"type": "string"},
        },
    },
    "TokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer"},
            "refresh_token": {"type": "string"},
            "id_token": {"type": "string"},
            "scope": {"type": "string"},
        },
    },
    "Introspection": {
        "type": "object",
        "required": ["active"],
        "properties": {
            "active": {"type": "boolean"},
            "client_id": {"type": "string"},
            "scope": {"type": "string"},
            "token_type": {"type": "string"},
            "sub": {"type": "string"},
            "iss": {"type": "string"},
            "aud": {"type": "string"},
            "iat": {"type": "integer"},
            "exp": {"type": "integer"},
        },
    },
    "UserInfo": {
        "type": "object",
        "required": ["sub"],
        "properties": {
            "sub": {"type": "string"},
            "name": {"type": "string"},
            "email": {"type": "string"},
            "email_verified": {"type": "boolean"},
            "card_number": {"type": "string"},
            "card_expires_on": {"type": "string", "format": "date"},
        },
    },
    "CardVerification": {
        "type": "object",
        "required": ["valid"],
        "properties": {
            "valid": {"type": "boolean"},
            "reason": {
                "type": "string",
                "enum": [
                    "malformed",
                    "unknown",
                    "expired_code",
                    "replayed",
                    "card_expired",
                    "suspended",
                    "lost",
                    "withdrawn",
                ],
            },
            "card_number": {"type": "string"},
            "status": {"type": "string"},
            "expires_on": {"type": "string", "format": "date"},
        },
    },
    "ProviderMetadata": {
        "type": "object",
        "required": ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"],
        "properties": {
            "issuer": {"type": "string"},
            "authorization_endpoint": {"type": "string"},
            "token_endpoint": {"type": "string"},
            "jwks_uri": {"type": "string"},
        },
    },
    "JWKS": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
    },
}

#: Every part of the document; a new API adds its function here.
SECTIONS: tuple[Callable[[], dict[str, Any]], ...] = (
    token_paths,
    revocation_paths,
    introspection_paths,
    userinfo_paths,
    card_paths,
    discovery_paths,
    patron_api_paths,
)


def build_document(issuer: str, version: str = "1.0") -> dict[str, Any]:
    """The OpenAPI 3.0 document of this provider's JSON APIs."""
    paths: dict[str, Any] = {}
    for section in SECTIONS:
        paths.update(section())
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Library IdP JSON APIs",
            "version": version,
            "description": (
                "Token, revocation, introspection and userinfo endpoints of the library's "
                "OpenID Provider. Errors follow RFC 6749 §5.2 / RFC 6750 §3."
            ),
        },
        "servers": [{"url": issuer}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "clientSecretBasic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
