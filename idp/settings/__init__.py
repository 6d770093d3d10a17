"""Typed, validated settings: one frozen section per concern, read once at start.

``load_settings(os.environ, overrides)`` builds :class:`Settings`; the application keeps
it as ``container().settings`` (``container().settings.tokens.code_ttl``). The sections and
the documentation of every ``IDP_*`` variable live in :mod:`idp.settings.sections`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlsplit

from idp.settings import load as _load
from idp.settings.fields import ConfigError
from idp.settings.sections import AccountSettings
from idp.settings.sections import BackchannelSettings
from idp.settings.sections import CardSettings
from idp.settings.sections import DatabaseSettings
from idp.settings.sections import EzproxySettings
from idp.settings.sections import LibrarySettings
from idp.settings.sections import LogSettings
from idp.settings.sections import MailSettings
from idp.settings.sections import MetricsSettings
from idp.settings.sections import PurgeSettings
from idp.settings.sections import RedisSettings
from idp.settings.sections import SamlSettings
from idp.settings.sections import ServerSettings
from idp.settings.sections import SessionSettings
from idp.settings.sections import Sip2Settings
from idp.settings.sections import SiteSettings
from idp.settings.sections import StaffSettings
from idp.settings.sections import ThrottleSettings
from idp.settings.sections import TokenSettings
from idp.settings.sections.patrons import OWASP_ARGON2ID
from idp.settings.sections.patrons import meets_owasp_minimum

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "ConfigError",
    "Settings",
    "app_settings",
    "check_production",
    "is_local_host",
    "load_settings",
]

#: Known development secrets that must never reach production.
_WEAK_SECRETS = {"dev", "secret", "changeme", "change-me", "test", "development"}


@dataclass(frozen=True)
class Settings:
    """Every setting of the provider, by section."""

    site: SiteSettings = dataclasses.field(default_factory=SiteSettings)
    library: LibrarySettings = dataclasses.field(default_factory=LibrarySettings)
    database: DatabaseSettings = dataclasses.field(default_factory=DatabaseSettings)
    redis: RedisSettings = dataclasses.field(default_factory=RedisSettings)
    accounts: AccountSettings = dataclasses.field(default_factory=AccountSettings)
    tokens: TokenSettings = dataclasses.field(default_factory=TokenSettings)
    sessions: SessionSettings = dataclasses.field(default_factory=SessionSettings)
    staff: StaffSettings = dataclasses.field(default_factory=StaffSettings)
    throttle: ThrottleSettings = dataclasses.field(default_factory=ThrottleSettings)
    mail: MailSettings = dataclasses.field(default_factory=MailSettings)
    purge: PurgeSettings = dataclasses.field(default_factory=PurgeSettings)
    logs: LogSettings = dataclasses.field(default_factory=LogSettings)
    metrics: MetricsSettings = dataclasses.field(default_factory=MetricsSettings)
    server: ServerSettings = dataclasses.field(default_factory=ServerSettings)
    cards: CardSettings = dataclasses.field(default_factory=CardSettings)
    backchannel: BackchannelSettings = dataclasses.field(default_factory=BackchannelSettings)
    sip2: Sip2Settings = dataclasses.field(default_factory=Sip2Settings)
    saml: SamlSettings = dataclasses.field(default_factory=SamlSettings)
    ezproxy: EzproxySettings = dataclasses.field(default_factory=EzproxySettings)

    def with_values(self, overrides: Mapping[str, Any]) -> Settings:
        """A copy with some ``IDP_*`` values replaced (checked like at start; tests use it)."""
        current = {
            spec.key: getattr(getattr(self, name), item.name)
            for name, section in _load.sections(Settings)
            for item, _, spec in _load.section_specs(section)
        }
        found: Settings = _load.load(Settings, {}, {**current, **overrides})
        return found


def load_settings(
    environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Read and check every setting (see :mod:`idp.settings.load`).

    :raises ConfigError: naming the setting that cannot be used.
    """
    found: Settings = _load.load(Settings, environ, overrides or {})
    return found


def is_local_host(url: str) -> bool:
    """True when ``url`` points at this machine (http:// is tolerated there)."""
    host = urlsplit(url).hostname or ""
    return host in {"localhost", "127.0.0.1", "::1"}


def check_production(settings: Settings, secret: str) -> None:
    """Refuse what is unsafe outside development (an http:// issuer, a weak secret, an
    Argon2id cost below OWASP's minimum: the last only for an issuer that is not local,
    so that tests and benchmarks on this machine may hash cheaply).

    :raises ConfigError: with the setting's name and what to do about it.
    """
    issuer = settings.site.issuer
    if urlsplit(issuer).scheme != "https" and not is_local_host(issuer):
        raise ConfigError("IDP_ISSUER must use https:// (http:// only for localhost)")
    if len(secret) < 32 or secret.lower() in _WEAK_SECRETS:
        raise ConfigError("IDP_SECRET_KEY must be a random value of at least 32 characters")
    accounts = settings.accounts
    if not meets_owasp_minimum(
        accounts.argon2_memory_cost, accounts.argon2_time_cost
    ) and not is_local_host(issuer):
        raise ConfigError(
            "IDP_ARGON2_MEMORY_COST and IDP_ARGON2_TIME_COST must be at least one of OWASP's "
            "minimum pairs (KiB, iterations): " + "; ".join(f"{m}, {t}" for m, t in OWASP_ARGON2ID)
        )


def app_settings(app: Flask) -> Settings:
    """The settings of ``app`` (for code that holds the application, not a request)."""
    found: Settings = app.extensions["idp"].settings
    return found
