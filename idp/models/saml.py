"""SAML 2.0 service providers and the AuthnRequest IDs already answered."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime
from idp.models.types import utcnow


class SamlServiceProvider(db.Model):  # type: ignore[name-defined,misc]
    """A SAML SP registered from a ``clients/*.toml`` file with ``protocol = "saml"``."""

    __tablename__ = "saml_service_providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(512), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: The SP's metadata document (its ACS URLs and signing certificates).
    metadata_xml: Mapped[str] = mapped_column(Text)
    #: ``change``: a temporary password leads to the change form; ``deny``: refused.
    temporary_password_policy: Mapped[str] = mapped_column(String(16), default="deny")
    #: Attribute names (friendly names) this SP may receive.
    attributes: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Unsolicited responses via ``/saml/sso?sp=ENTITY_ID``.
    is_idp_initiated_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Unsigned AuthnRequests accepted (otherwise a signature by the SP's key is required).
    is_unsigned_request_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SamlRequestId(db.Model):  # type: ignore[name-defined,misc]
    """An AuthnRequest ID seen once: the same ID again is a replay and refused."""

    __tablename__ = "saml_request_ids"

    #: SHA-256 of the SP's entity ID and the request ID.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: After this the request would be refused as too old anyway; the row may go.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
