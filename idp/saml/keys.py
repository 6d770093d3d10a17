"""The SAML signing key and its self-signed certificate, under ``<IDP_KEYS_DIR>/saml/``.

SAML metadata publishes certificates, not JWKs, so the IdP has a key of its own (RSA
3072, certificate valid 10 years: SPs pin the certificate from the metadata, not a CA).
``state.json`` names the active key and the published ones, as for the OIDC keys:
``idp saml rotate-key`` makes a new key active and keeps the previous certificate in the
metadata until ``idp saml retire-key`` (SPs that refresh metadata accept both meanwhile).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

#: Years a generated certificate is valid.
CERT_YEARS = 10


class SamlKeyError(RuntimeError):
    """The key folder cannot be used; the message says why."""


# The error class and frozen record look like services/keys.py and services/passwords.py
# only in shape: SAML keys are files pysaml2 reads, not JWKs or Argon2 parameters.
@dataclass(frozen=True)
class SamlKeyPair:
    """Paths of one key and its certificate (pysaml2 and xmlsec1 take files)."""

    name: str
    key_file: Path
    cert_file: Path

    def certificate_body(self) -> str:
        """The certificate's base64 body, as metadata carries it."""
        pem = self.cert_file.read_text(encoding="ascii")
        return "".join(line for line in pem.splitlines() if "-----" not in line)


@dataclass(frozen=True)
class _State:
    active: str
    published: list[str]


class SamlKeys:
    """The SAML key folder: generate, rotate, retire."""

    def __init__(self, folder: Path, common_name: str) -> None:
        self.folder = folder
        self.common_name = common_name
        self._state = folder / "state.json"

    def ensure(self) -> None:
        """Create the first key when there is none."""
        if self._state.exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = self._generate()
        self._write(name, [name])

    def active(self) -> SamlKeyPair:
        """The key that signs."""
        return self._pair(self._read().active)

    def published(self) -> list[SamlKeyPair]:
        """Every key whose certificate the metadata lists (the active one first)."""
        state = self._read()
        names = [state.active, *(n for n in state.published if n != state.active)]
        return [self._pair(name) for name in names]

    def rotate(self) -> str:
        """Make a new key active; the previous certificate stays published."""
        state = self._read()
        name = self._generate()
        self._write(name, [name, *state.published])
        return name

    def retire(self, name: str) -> None:
        """Stop publishing an old key's certificate (never the active one)."""
        state = self._read()
        if name == state.active or name not in state.published:
            raise SamlKeyError(f"{name} is the active key or not published")
        self._write(state.active, [n for n in state.published if n != name])

    def _pair(self, name: str) -> SamlKeyPair:
        return SamlKeyPair(name, self.folder / f"{name}.key", self.folder / f"{name}.crt")

    def _read(self) -> _State:
        try:
            data = json.loads(self._state.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SamlKeyError(f"cannot read {self._state}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("active"), str):
            raise SamlKeyError(f"{self._state} is not a key state file")
        return _State(data["active"], [str(n) for n in data.get("published", [])])

    def _write(self, active: str, published: list[str]) -> None:
        tmp = self._state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"active": active, "published": published}), encoding="utf-8")
        os.replace(tmp, self._state)

    def _generate(self) -> str:
        now = dt.datetime.now(dt.UTC)
        name = "saml-" + now.strftime("%Y%m%d%H%M%S%f")
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.common_name[:64])])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365 * CERT_YEARS))
            .sign(key, hashes.SHA256())
        )
        pair = self._pair(name)
        fd = os.open(pair.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        pair.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return name
