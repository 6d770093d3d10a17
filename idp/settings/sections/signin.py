"""Who may sign in how often: the staff console's accounts and every throttle."""

from __future__ import annotations

from dataclasses import dataclass

from idp.settings.fields import setting
from idp.settings.sections.base import DAY
from idp.settings.sections.base import Network


@dataclass(frozen=True)
class StaffSettings:
    """The staff console under /staff."""

    session_cookie: str = setting(
        "IDP_STAFF_SESSION_COOKIE",
        "idp_staff",
        "Staff session cookie",
        "The staff console's own cookie (Path=/staff).",
    )
    session_idle_timeout: int = setting(
        "IDP_STAFF_SESSION_IDLE_TIMEOUT", 15 * 60, "Staff idle timeout", "Seconds.", minimum=60
    )
    session_lifetime: int = setting(
        "IDP_STAFF_SESSION_LIFETIME", 10 * 3600, "Staff session lifetime", "Seconds.", minimum=60
    )
    enrolment_hours: int = setting(
        "IDP_STAFF_ENROLMENT_HOURS",
        24,
        "Enrolment link validity",
        "Hours an enrolment link of `idp staff add` / `reset` stays usable (once).",
        minimum=1,
        maximum=24 * 30,
    )
    networks: tuple[Network, ...] = setting(
        "IDP_STAFF_NETWORKS",
        (),
        "Staff networks",
        "Addresses or CIDR networks, comma-separated, that may open /staff; others get "
        "403 (empty: any).",
    )
    lock_after: int = setting(
        "IDP_STAFF_LOCK_AFTER",
        10,
        "Staff lock",
        "Consecutive wrong passwords, or wrong second-factor answers, that lock a staff "
        "account (`idp staff enable`); 0: never locks.",
        minimum=0,
        maximum=100,
    )


@dataclass(frozen=True)
class ThrottleSettings:
    """Throttling and lockout against guessing (SPEC §7; docs/security.md).

    Per-minute, per-hour and per-day limits accept 0, which switches that limit off.
    """

    card_free_failures: int = setting(
        "IDP_THROTTLE_CARD_FREE_FAILURES",
        5,
        "Free failures per card",
        "Consecutive failures on one card without a delay.",
        minimum=0,
    )
    card_delay: int = setting(
        "IDP_THROTTLE_CARD_DELAY",
        60,
        "Card delay",
        "Seconds to wait after the last failure once the free ones are used; doubles with "
        "every further failure.",
        minimum=0,
    )
    card_max_delay: int = setting(
        "IDP_THROTTLE_CARD_MAX_DELAY", 3600, "Card delay cap", "Seconds.", minimum=0
    )
    card_lock_after: int = setting(
        "IDP_THROTTLE_CARD_LOCK_AFTER",
        20,
        "Card lock",
        "Consecutive failures that lock a card (`idp patrons unlock`); NIST SP 800-63B "
        "allows at most 100; 0: never locks.",
        minimum=0,
        maximum=100,
    )
    card_forget: int = setting(
        "IDP_THROTTLE_CARD_FORGET",
        30 * DAY,
        "Card counter memory",
        "Seconds after the last failure when a card's delay counter is forgotten.",
        minimum=60,
    )
    ip_per_minute: int = setting(
        "IDP_THROTTLE_IP_PER_MINUTE",
        10,
        "Checks per address",
        "Password checks per minute from one client address (0: off).",
        minimum=0,
    )
    net_per_minute: int = setting(
        "IDP_THROTTLE_NET_PER_MINUTE",
        30,
        "Checks per network",
        "Password checks per minute from one /24 (IPv4) or /64 (IPv6) (0: off).",
        minimum=0,
    )
    ip_failures_per_day: int = setting(
        "IDP_THROTTLE_IP_FAILURES_PER_DAY",
        100,
        "Failures per address",
        "Failed sign-ins per UTC day from one address (0: off).",
        minimum=0,
    )
    net_failures_per_day: int = setting(
        "IDP_THROTTLE_NET_FAILURES_PER_DAY",
        300,
        "Failures per network",
        "Failed sign-ins per UTC day from one network (0: off).",
        minimum=0,
    )
    redis_prefix: str = setting(
        "IDP_THROTTLE_REDIS_PREFIX",
        "idp:throttle:",
        "Throttle key prefix",
        "Prefix of the throttle keys in Redis (several installations may share one Redis).",
    )
    reissue_ip_per_minute: int = setting(
        "IDP_REISSUE_IP_PER_MINUTE",
        5,
        "Re-issue requests per minute",
        "Password re-issue requests per minute from one address (0: off).",
        minimum=0,
    )
    reissue_ip_per_hour: int = setting(
        "IDP_REISSUE_IP_PER_HOUR",
        20,
        "Re-issue requests per hour",
        "Password re-issue requests per hour from one address (0: off).",
        minimum=0,
    )
    reissue_card_per_hour: int = setting(
        "IDP_REISSUE_CARD_PER_HOUR",
        3,
        "Re-issue mails per card",
        "Re-issue mails per hour for one card, whoever asks (the same page is shown past it).",
        minimum=0,
    )
    device_ip_per_minute: int = setting(
        "IDP_DEVICE_IP_PER_MINUTE",
        10,
        "User codes per minute",
        "User codes entered on /device per minute from one address (0: off).",
        minimum=0,
    )
    device_ip_failures_per_hour: int = setting(
        "IDP_DEVICE_IP_FAILURES_PER_HOUR",
        20,
        "Wrong user codes per hour",
        "Wrong user codes per hour from one address (0: off).",
        minimum=0,
    )
    device_code_entries: int = setting(
        "IDP_DEVICE_CODE_ENTRIES",
        5,
        "Entries per user code",
        "Times one device's user code may be entered (a code read off a screen by many is "
        "refused after that); 0: no limit.",
        minimum=0,
    )
    card_verify_client_per_minute: int = setting(
        "IDP_CARD_VERIFY_CLIENT_PER_MINUTE",
        300,
        "Desk calls per client",
        "Card verification calls per minute per desk client (0: off).",
        minimum=0,
    )
    card_verify_ip_per_minute: int = setting(
        "IDP_CARD_VERIFY_IP_PER_MINUTE",
        120,
        "Desk calls per address",
        "Card verification calls per minute per source address (0: off).",
        minimum=0,
    )
    card_verify_failures_per_day: int = setting(
        "IDP_CARD_VERIFY_FAILURES_PER_DAY",
        1000,
        "Refused desk codes per day",
        "Refused codes (malformed, unknown, expired_code) per UTC day per desk client "
        "before it is paused (0: off).",
        minimum=0,
    )
