"""Server-side sign-ins: the cookie names a record here, so back-channel logout can end it.

A back-channel logout arrives from the IdP, not from the patron's browser: the portal
cannot touch that browser's cookie. So the cookie holds only a random key, the sign-in
lives here, and the store can find every sign-in of an IdP session (``sid``) or of a
patron (``sub``) and delete it. The next request with that cookie finds nothing and is
signed out.

This store keeps everything in the process's memory: right for one process. Several
workers or servers need a shared store (Redis, a database table) with the same methods.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from dataclasses import field


@dataclass
class SignIn:
    """One patron's sign-in to the portal."""

    sub: str
    #: The IdP session (the ID token's ``sid``), for back-channel logout.
    sid: str | None
    name: str | None
    id_token: str
    access_token: str
    #: When the access token expires (seconds since the epoch).
    access_expires_at: float
    key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    created_at: float = field(default_factory=time.time)


class SessionStore:
    """Sign-ins by cookie key, findable by ``sid`` and ``sub``; thread-safe."""

    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._sign_ins: dict[str, SignIn] = {}
        self._jtis: dict[str, float] = {}

    def add(self, sign_in: SignIn) -> str:
        """Keep ``sign_in``; :return: the key for the cookie."""
        with self._lock:
            self._sign_ins[sign_in.key] = sign_in
        return sign_in.key

    def get(self, key: str | None) -> SignIn | None:
        """The sign-in behind a cookie key, or None (unknown, ended or too old)."""
        if not key:
            return None
        with self._lock:
            found = self._sign_ins.get(key)
            if found is not None and time.time() - found.created_at > self.lifetime:
                del self._sign_ins[key]
                return None
            return found

    def remove(self, key: str | None) -> SignIn | None:
        """End one sign-in (the patron pressed "log out")."""
        if not key:
            return None
        with self._lock:
            return self._sign_ins.pop(key, None)

    def remove_matching(self, *, sid: str | None, sub: str | None) -> int:
        """End the sign-ins a logout token names (Back-Channel Logout §2.6).

        With a ``sid``, the sign-ins of that IdP session (and that ``sub`` when given);
        with only a ``sub``, every sign-in of that patron.

        :return: how many were ended.
        """
        with self._lock:
            doomed = [
                key
                for key, found in self._sign_ins.items()
                if (sid is None or found.sid == sid) and (sub is None or found.sub == sub)
            ]
            for key in doomed:
                del self._sign_ins[key]
            return len(doomed)

    def first_use_of(self, jti: str, expires_at: float) -> bool:
        """Remember a logout token's ``jti``; False when it was seen before (a replay)."""
        now = time.time()
        with self._lock:
            for old in [j for j, until in self._jtis.items() if until < now]:
                del self._jtis[old]
            if jti in self._jtis:
                return False
            self._jtis[jti] = expires_at
            return True
