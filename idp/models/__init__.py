"""Database models, one module per artifact."""

from __future__ import annotations

from idp.models.audit import AuditEvent
from idp.models.authorization_code import AuthorizationCode
from idp.models.card_code import UsedCardCode
from idp.models.card_failure import CardFailure
from idp.models.client import Client
from idp.models.consent import Consent
from idp.models.device import DeviceAuthorization
from idp.models.lease import MaintenanceLease
from idp.models.passkey import PatronPasskey
from idp.models.patron import Patron
from idp.models.patron import PatronStatus
from idp.models.saml import SamlRequestId
from idp.models.saml import SamlServiceProvider
from idp.models.session import LoginSession
from idp.models.staff import StaffCredential
from idp.models.staff import StaffMember
from idp.models.staff import StaffRecoveryCode
from idp.models.staff import StaffSession
from idp.models.throttle import ThrottleCounter
from idp.models.token import Token

__all__ = [
    "AuditEvent",
    "AuthorizationCode",
    "CardFailure",
    "Client",
    "Consent",
    "DeviceAuthorization",
    "LoginSession",
    "MaintenanceLease",
    "Patron",
    "PatronPasskey",
    "PatronStatus",
    "SamlRequestId",
    "SamlServiceProvider",
    "StaffCredential",
    "StaffMember",
    "StaffRecoveryCode",
    "StaffSession",
    "ThrottleCounter",
    "Token",
    "UsedCardCode",
]
