"""The settings, in sections: each ``IDP_*`` variable with its type, default and meaning.

This is the one place a setting is declared. The README's configuration table is
generated from it (``idp config docs``; tests/unit/test_settings.py keeps it in step).
Durations are whole seconds unless the name says otherwise; a limit of 0 switches that
limit off where its description says so, and negative numbers are always refused.

The sections are plain declarations with no logic (the checks are in checks.py), alike
in shape from one setting to the next, which is all `duplicates` finds in them; they are
grouped in four modules (service, patrons, signin, partners) and named here.
"""

from __future__ import annotations

from idp.settings.sections.base import CHECK_DIGIT_SCHEMES
from idp.settings.sections.base import DAY
from idp.settings.sections.base import LOCALHOST
from idp.settings.sections.base import PROJECT_ROOT
from idp.settings.sections.base import CheckDigitScheme
from idp.settings.sections.base import Network
from idp.settings.sections.partners import BackchannelSettings
from idp.settings.sections.partners import EzproxySettings
from idp.settings.sections.partners import SamlSettings
from idp.settings.sections.partners import Sip2Settings
from idp.settings.sections.patrons import AccountSettings
from idp.settings.sections.patrons import CardSettings
from idp.settings.sections.patrons import SessionSettings
from idp.settings.sections.patrons import TokenSettings
from idp.settings.sections.service import DatabaseSettings
from idp.settings.sections.service import LibrarySettings
from idp.settings.sections.service import LogSettings
from idp.settings.sections.service import MailSettings
from idp.settings.sections.service import MetricsSettings
from idp.settings.sections.service import PurgeSettings
from idp.settings.sections.service import RedisSettings
from idp.settings.sections.service import ServerSettings
from idp.settings.sections.service import SiteSettings
from idp.settings.sections.signin import StaffSettings
from idp.settings.sections.signin import ThrottleSettings

__all__ = [
    "CHECK_DIGIT_SCHEMES",
    "DAY",
    "LOCALHOST",
    "PROJECT_ROOT",
    "AccountSettings",
    "BackchannelSettings",
    "CardSettings",
    "CheckDigitScheme",
    "DatabaseSettings",
    "EzproxySettings",
    "LibrarySettings",
    "LogSettings",
    "MailSettings",
    "MetricsSettings",
    "Network",
    "PurgeSettings",
    "RedisSettings",
    "SamlSettings",
    "ServerSettings",
    "SessionSettings",
    "Sip2Settings",
    "SiteSettings",
    "StaffSettings",
    "ThrottleSettings",
    "TokenSettings",
]
