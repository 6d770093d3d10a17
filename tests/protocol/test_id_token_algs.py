"""``id_token_signed_response_alg`` per client: RS256 (default), ES256 and EdDSA, each
verified by a relying party against the published JWKS; discovery lists them."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from idp.extensions import db
from tests.conftest import ISSUER
from tests.support.factories import DEFAULT_PASSWORD


def test_discovery_offers_the_three_algorithms(client: Any) -> None:
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["id_token_signing_alg_values_supported"] == ["RS256", "ES256", "EdDSA"]
    kinds = {key["kty"] for key in client.get("/jwks.json").get_json()["keys"]}
    assert kinds == {"RSA", "EC", "OKP"}


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_id_token_is_signed_with_the_clients_algorithm(
    rp: Any, portal: Any, patron: Any, alg: str
) -> None:
    portal.id_token_signed_response_alg = alg
    db.session.commit()
    body = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    jwks = KeySet.import_key_set(rp.browser.get("/jwks.json").get_json())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # joserfc on "EdDSA" (RFC 9864)
        token = jwt.decode(body["id_token"], jwks, algorithms=[alg])
    assert token.header["alg"] == alg
    assert token.claims["iss"] == ISSUER and token.claims["nonce"] == rp.nonce
    assert token.claims["aud"] == "portal" and token.claims["at_hash"]


def test_a_key_folder_from_before_gets_its_companions(tmp_path: Any) -> None:
    import json

    from idp.services.keys import KeyStore
    from idp.services.keys import KeyStoreError

    store = KeyStore(tmp_path)
    kid = store._generate()  # a folder as earlier versions made it: one RSA key
    (tmp_path / "state.json").write_text(json.dumps({"active": kid, "published": [kid]}))

    store.ensure()

    state = json.loads((tmp_path / "state.json").read_text())
    assert state["active"] == kid and set(state["companions"]) == {"ES256", "EdDSA"}
    assert set(state["published"]) == {kid, *state["companions"].values()}
    assert store.active_key_for("ES256").as_dict()["kty"] == "EC"
    with pytest.raises(KeyStoreError):
        store.retire(state["companions"]["EdDSA"])


def test_a_client_file_names_a_known_algorithm(runner: Any, tmp_path: Any) -> None:
    folder = tmp_path / "clients"
    folder.mkdir()
    (folder / "kiosk.toml").write_text(
        'client_id = "kiosk"\nclient_secret_hash = "sha256:' + "0" * 64 + '"\n'
        'redirect_uris = ["https://kiosk.example.org/cb"]\nscopes = ["openid"]\n'
        'id_token_signed_response_alg = "HS256"\n'
    )
    result = runner.invoke(args=["clients", "sync", str(folder)])
    assert result.exit_code != 0 and "id_token_signed_response_alg must be one of" in result.output
