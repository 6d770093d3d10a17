"""SAML service providers from ``clients/*.toml`` files with ``protocol = "saml"``.

::

    protocol = "saml"
    entity_id = "https://sp.example.org/shibboleth"
    name = "電子書籍サービス"
    metadata = "saml/ebook-sp.xml"        # the SP's metadata, relative to the file
    temporary_password = "deny"           # or "change" (the same screens as OIDC)
    attributes = ["pairwise-id", "eduPersonEntitlement", "eduPersonScopedAffiliation"]
    idp_initiated = false                 # /saml/sso?sp=ENTITY_ID (default: off)
    unsigned_requests = false             # accept AuthnRequests without a signature

The metadata must describe exactly ``entity_id`` with an SPSSODescriptor, at least one
AssertionConsumerService and (unless ``unsigned_requests``) a signing certificate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from idp.extensions import db
from idp.models.saml import SamlServiceProvider
from idp.saml.identity import ATTRIBUTE_NAMES
from idp.saml.identity import DEFAULT_ATTRIBUTES
from idp.services.registration_files import read_registration_files

POLICIES = ("change", "deny")
_KEYS = {
    "protocol",
    "entity_id",
    "name",
    "metadata",
    "temporary_password",
    "attributes",
    "idp_initiated",
    "unsigned_requests",
}


class SamlFileError(ValueError):
    """An SP file is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class SamlSpSpec:
    """A validated SP registration."""

    entity_id: str
    name: str
    metadata_xml: str
    temporary_password_policy: str
    attributes: list[str]
    is_idp_initiated_allowed: bool
    is_unsigned_request_allowed: bool


def _flag(data: Mapping[str, Any], key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise SamlFileError(f"{where}: {key} must be true or false")
    return value


def check_metadata(xml: str, entity_id: str, where: str, *, needs_cert: bool) -> None:
    """Refuse metadata pysaml2 cannot read or that does not describe ``entity_id`` as an SP."""
    from saml2.attribute_converter import ac_factory
    from saml2.mdstore import MetadataStore

    store = MetadataStore(ac_factory(), None)
    try:
        store.load("inline", xml)
    except Exception as exc:  # pysaml2 raises many kinds for bad metadata
        raise SamlFileError(f"{where}: metadata cannot be read: {exc}") from None
    if entity_id not in store.keys():  # noqa: SIM118 - MetadataStore has no __contains__
        raise SamlFileError(f"{where}: metadata does not describe entity_id {entity_id!r}")
    if not store[entity_id].get("spsso_descriptor"):
        raise SamlFileError(f"{where}: metadata has no SPSSODescriptor")
    if not store.assertion_consumer_service(entity_id):
        raise SamlFileError(f"{where}: metadata has no AssertionConsumerService")
    if needs_cert and not store.certs(entity_id, "spsso", "signing"):
        raise SamlFileError(
            f"{where}: metadata has no signing certificate (set unsigned_requests = true "
            "only for an SP that cannot sign its requests)"
        )


def parse_sp(data: Mapping[str, Any], where: str, folder: Path) -> SamlSpSpec:
    """Validate one SP file's table.

    :raises SamlFileError: naming the file and the key.
    """
    unknown = set(data) - _KEYS
    if unknown:
        raise SamlFileError(f"{where}: unknown keys {sorted(unknown)}")
    entity_id = data.get("entity_id")
    if not isinstance(entity_id, str) or not entity_id or len(entity_id) > 512:
        raise SamlFileError(f"{where}: entity_id must be a URI of at most 512 characters")
    name = data.get("name", entity_id)
    if not isinstance(name, str) or not name:
        raise SamlFileError(f"{where}: name must be a string")
    policy = data.get("temporary_password", "deny")
    if policy not in POLICIES:
        raise SamlFileError(f"{where}: temporary_password must be change or deny")
    attributes = data.get("attributes", list(DEFAULT_ATTRIBUTES))
    if not isinstance(attributes, list) or not all(a in ATTRIBUTE_NAMES for a in attributes):
        raise SamlFileError(f"{where}: attributes may only name {sorted(ATTRIBUTE_NAMES)}")
    unsigned = _flag(data, "unsigned_requests", where)
    metadata = data.get("metadata")
    if not isinstance(metadata, str) or not metadata:
        raise SamlFileError(f"{where}: metadata must name the SP's metadata file")
    try:
        xml = (folder / metadata).read_text(encoding="utf-8")
    except OSError as exc:
        raise SamlFileError(f"{where}: metadata file: {exc}") from None
    check_metadata(xml, entity_id, where, needs_cert=not unsigned)
    return SamlSpSpec(
        entity_id=entity_id,
        name=name,
        metadata_xml=xml,
        temporary_password_policy=str(policy),
        attributes=list(dict.fromkeys(attributes)),
        is_idp_initiated_allowed=_flag(data, "idp_initiated", where),
        is_unsigned_request_allowed=unsigned,
    )


def load_sp_files(folder: Path) -> list[SamlSpSpec]:
    """Every ``protocol = "saml"`` file of ``folder``, validated.

    :raises SamlFileError: on the first invalid file or a duplicate entity ID.
    """
    specs = [
        parse_sp(data, path.name, path.parent)
        for path, data in read_registration_files(folder, SamlFileError)
        if data.get("protocol") == "saml"
    ]
    ids = [spec.entity_id for spec in specs]
    if len(set(ids)) != len(ids):
        raise SamlFileError("an entity_id is registered by more than one file")
    return specs


def sync_sps(specs: list[SamlSpSpec], now: Any) -> tuple[list[str], list[str]]:
    """Create or update SPs (others are kept), in the caller's unit of work (the CLI
    command commits them with the clients). :return: entity IDs created and updated."""
    created, updated = [], []
    for spec in specs:
        sp = find_sp(spec.entity_id, enabled_only=False)
        if sp is None:
            sp = SamlServiceProvider(entity_id=spec.entity_id)
            db.session.add(sp)
            created.append(spec.entity_id)
        else:
            updated.append(spec.entity_id)
        sp.name = spec.name
        sp.metadata_xml = spec.metadata_xml
        sp.temporary_password_policy = spec.temporary_password_policy
        sp.attributes = spec.attributes
        sp.is_idp_initiated_allowed = spec.is_idp_initiated_allowed
        sp.is_unsigned_request_allowed = spec.is_unsigned_request_allowed
        sp.is_enabled = True
        sp.updated_at = now
    return created, updated


def find_sp(entity_id: str, *, enabled_only: bool = True) -> SamlServiceProvider | None:
    """The registered SP with this entity ID."""
    query = select(SamlServiceProvider).where(SamlServiceProvider.entity_id == entity_id)
    if enabled_only:
        query = query.where(SamlServiceProvider.is_enabled.is_(True))
    found: SamlServiceProvider | None = db.session.scalar(query)
    return found
