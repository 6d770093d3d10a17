"""Signing keys: load, generate, rotate and publish the JWKS (OIDC Core §10.1).

Private JWKs live in ``IDP_KEYS_DIR`` as ``<kid>.json`` (mode 0600, never committed),
with ``state.json`` naming the active key and the keys still published. Rotation writes a
new key and a new state file; every process notices the change within a second, so that
several nodes sharing the folder switch without a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey
from joserfc.jwk import JWKRegistry
from joserfc.jwk import KeySet
from joserfc.jwk import OKPKey
from joserfc.jwk import RSAKey

SIGNING_ALG = "RS256"
#: Algorithms a client may ask for its ID tokens (``id_token_signed_response_alg``);
#: every other token (logout, card claims) is RS256.
ID_TOKEN_ALGS = ("RS256", "ES256", "EdDSA")
#: The companion keys made with each RSA key: one per other ID-token algorithm.
_COMPANIONS = {"ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}
SigningKey = RSAKey | ECKey | OKPKey
_RELOAD_INTERVAL = 1.0


class KeyStoreError(RuntimeError):
    """The key folder is unusable (unreadable state, missing key file)."""


@dataclass(frozen=True)
class _Loaded:
    mtime_ns: int
    active: RSAKey
    published: tuple[SigningKey, ...]
    #: The active key of each ID-token algorithm other than RS256.
    companions: dict[str, SigningKey]
    jwks_json: bytes
    etag: str


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


class KeyStore:
    """The provider's signing keys, kept in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._checked_at = 0.0

    @property
    def _state_path(self) -> Path:
        return self.folder / "state.json"

    def ensure(self) -> None:
        """Create a first key when the folder holds none (first start), and the ES256 and
        EdDSA companions of the active key when a folder made before them lacks them."""
        if self._state_path.exists():
            if not self._read_state().get("companions"):
                self._with_init_lock(self._add_companions)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = self.folder / ".init.lock"
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            # Another worker is creating the key; wait for its state file.
            for _ in range(100):
                if self._state_path.exists():
                    return
                time.sleep(0.05)
            raise KeyStoreError(f"{lock} exists but no key appeared; remove it and retry") from None
        try:
            os.close(fd)
            if not self._state_path.exists():
                kid = self._generate()
                companions = self._generate_companions()
                self._write_state(kid, [kid, *companions.values()], companions)
        finally:
            lock.unlink(missing_ok=True)

    def rotate(self) -> str:
        """Make a new key active; earlier keys stay published until retired.

        :return: the new key id.
        """
        state = self._read_state()
        kid = self._generate()
        companions = self._generate_companions()
        self._write_state(kid, [kid, *companions.values(), *state["published"]], companions)
        return kid

    def retire(self, kid: str) -> None:
        """Stop publishing ``kid`` and delete its private key.

        :raises KeyStoreError: for the active key or an unknown id.
        """
        state = self._read_state()
        companions = state.get("companions") or {}
        if kid == state["active"] or kid in companions.values():
            raise KeyStoreError("the active key cannot be retired; rotate first")
        if kid not in state["published"]:
            raise KeyStoreError(f"no published key {kid!r}")
        published = [k for k in state["published"] if k != kid]
        self._write_state(state["active"], published, companions)
        (self.folder / f"{kid}.json").unlink(missing_ok=True)

    def describe(self) -> dict[str, Any]:
        """The key ids: active and published."""
        return self._read_state()

    # --- reading ---------------------------------------------------------------------
    def active_key(self) -> RSAKey:
        """The private key that signs new tokens (RS256)."""
        return self._current().active

    def active_key_for(self, alg: str) -> SigningKey:
        """The private key that signs new ID tokens with ``alg`` (one of ID_TOKEN_ALGS).

        :raises KeyStoreError: no key of that algorithm (run ``idp init`` or rotate).
        """
        loaded = self._current()
        if alg == SIGNING_ALG:
            return loaded.active
        try:
            return loaded.companions[alg]
        except KeyError:
            raise KeyStoreError(f"no {alg} signing key; run 'idp init'") from None

    def public_keyset(self) -> KeySet:
        """Every published public key, to verify tokens this provider signed."""
        loaded = self._current()
        return KeySet([JWKRegistry.import_key(k.as_dict(private=False)) for k in loaded.published])

    def jwks_document(self) -> tuple[bytes, str]:
        """The JWKS as JSON bytes and its ETag (served from memory)."""
        loaded = self._current()
        return loaded.jwks_json, loaded.etag

    def _current(self) -> _Loaded:
        now = time.monotonic()
        loaded = self._loaded
        if loaded is not None and now - self._checked_at < _RELOAD_INTERVAL:
            return loaded
        with self._lock:
            try:
                mtime = self._state_path.stat().st_mtime_ns
            except FileNotFoundError:
                raise KeyStoreError(f"no signing keys in {self.folder}; run 'idp init'") from None
            if self._loaded is None or self._loaded.mtime_ns != mtime:
                self._loaded = self._load(mtime)
            self._checked_at = now
            return self._loaded

    def _load(self, mtime_ns: int) -> _Loaded:
        state = self._read_state()
        companions: dict[str, str] = state.get("companions") or {}
        keys = {kid: self._read_key(kid) for kid in state["published"]}
        for kid in [state["active"], *companions.values()]:
            if kid not in keys:
                keys[kid] = self._read_key(kid)
        public = [keys[kid].as_dict(private=False) for kid in state["published"]]
        body = json.dumps({"keys": public}, separators=(",", ":")).encode()
        etag = hashlib.sha256(body).hexdigest()[:32]
        active = keys[state["active"]]
        if not isinstance(active, RSAKey):
            raise KeyStoreError("the active key is not an RSA key")
        return _Loaded(
            mtime_ns=mtime_ns,
            active=active,
            companions={alg: keys[kid] for alg, kid in companions.items()},
            published=tuple(keys[kid] for kid in state["published"]),
            jwks_json=body,
            etag=etag,
        )

    def _read_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self._state_path.read_text())
        except (OSError, ValueError) as exc:
            raise KeyStoreError(
                f"cannot read {self._state_path}: {exc.__class__.__name__}"
            ) from exc
        if not isinstance(state, dict) or "active" not in state or "published" not in state:
            raise KeyStoreError(f"{self._state_path} is not a key state file")
        return state

    def _read_key(self, kid: str) -> SigningKey:
        path = self.folder / f"{kid}.json"
        try:
            key = JWKRegistry.import_key(json.loads(path.read_text()))
            if isinstance(key, RSAKey | ECKey | OKPKey):
                return key
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"cannot read key {kid}: {exc.__class__.__name__}") from exc
        raise KeyStoreError(f"key {kid} is not a signing key")

    def _generate(self, alg: str = SIGNING_ALG) -> str:
        key: SigningKey
        if alg == SIGNING_ALG:
            key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": alg})
        elif alg == "ES256":
            key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": alg})
        else:
            key = OKPKey.generate_key("Ed25519", parameters={"use": "sig", "alg": alg})
        # The RFC 7638 thumbprint, base64url: it may begin with "-", which a command line
        # would read as an option (``idp keys retire <kid>``), so such keys get a prefix.
        thumbprint = key.thumbprint()
        kid = f"k{thumbprint}" if thumbprint.startswith("-") else thumbprint
        data = key.as_dict(private=True)
        data["kid"] = kid
        _write_private(self.folder / f"{kid}.json", json.dumps(data))
        return kid

    def _generate_companions(self) -> dict[str, str]:
        return {alg: self._generate(alg) for alg in _COMPANIONS}

    def _add_companions(self) -> None:
        state = self._read_state()
        if state.get("companions"):
            return
        companions = self._generate_companions()
        published = [state["active"], *companions.values()]
        published += [k for k in state["published"] if k != state["active"]]
        self._write_state(state["active"], published, companions)

    def _with_init_lock(self, action: Any) -> None:
        lock = self.folder / ".init.lock"
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            # Another process is at it: wait for it to finish.
            for _ in range(100):
                if not lock.exists():
                    return
                time.sleep(0.05)
            raise KeyStoreError(f"{lock} exists; remove it and retry") from None
        try:
            os.close(fd)
            action()
        finally:
            lock.unlink(missing_ok=True)

    def _write_state(
        self, active: str, published: list[str], companions: dict[str, str] | None = None
    ) -> None:
        state: dict[str, Any] = {"active": active, "published": published}
        if companions:
            state["companions"] = companions
        _write_private(self._state_path, json.dumps(state, indent=2))
