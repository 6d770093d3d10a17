"""Passkey rules without a browser: who may add one, require_passkey, the client file."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.authorization_code import AuthorizationCode
from idp.models.passkey import PatronPasskey
from idp.services.clients import ClientFileError
from idp.services.clients import parse_client
from idp.services.signin import SignInOutcome
from idp.services.signin import Source
from idp.services.signin import check_passkey
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron
from tests.support.oidc import csrf_token
from tests.support.oidc import query_of


def _login(client: FlaskClient, card_number: str, next_path: str = "/account") -> Any:
    page = client.get(f"/login?next={next_path}")
    return client.post(
        f"/login?next={next_path}",
        data={
            "card_number": card_number,
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )


def _options(client: FlaskClient) -> Any:
    page = client.get("/account/passkeys")
    token = csrf_token(page.get_data(as_text=True))
    return client.post("/account/passkeys/options", headers={"X-CSRFToken": token})


def _add_row(patron_id: int, synced: bool = False) -> PatronPasskey:
    row = PatronPasskey(
        patron_id=patron_id,
        credential_id="cred-" + str(patron_id),
        public_key=b"\x00",
        sign_count=0,
        transports=[],
        is_synced=synced,
        name="phone",
        created_at=dt.datetime.now(dt.UTC),
    )
    db.session.add(row)
    db.session.commit()
    return row


def test_fresh_password_sign_in_gets_creation_options(client: FlaskClient, patron: Any) -> None:
    assert _login(client, patron.card_number).status_code == 302
    response = _options(client)
    assert response.status_code == 200
    options = response.get_json()
    assert options["rp"]["id"] == "localhost"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_stale_sign_in_must_enter_the_password_again(
    client: FlaskClient, patron: Any, clock: Any
) -> None:
    _login(client, patron.card_number)
    clock.advance(seconds=601)
    assert _options(client).status_code == 403
    page = client.get("/account/passkeys").get_data(as_text=True)
    assert "/login?next=/account/passkeys" in page


def test_options_need_the_csrf_token(client: FlaskClient, patron: Any) -> None:
    _login(client, patron.card_number)
    assert client.post("/account/passkeys/options").status_code == 400


@pytest.mark.parametrize(
    "fields",
    [{"temporary": True}, {"status": "lost"}, {"expires_on": dt.date(2000, 1, 1)}],
)
def test_no_passkey_pages_for_a_card_that_may_not_sign_in(
    client: FlaskClient, app: Any, fields: dict[str, Any]
) -> None:
    patron = make_patron(**fields)
    _login(client, patron.card_number, "/account/passkeys")
    response = client.get("/account/passkeys")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert client.post("/account/passkeys/options").status_code in (400, 403)


def test_an_unknown_or_forged_passkey_is_refused_and_audited(app: Any) -> None:
    result = check_passkey('{"id": "nope", "response": {}}', b"x" * 32, source=Source(ip="1.2.3.4"))
    assert result.outcome is SignInOutcome.INVALID_CREDENTIALS
    assert (
        check_passkey("not json", None, source=Source()).outcome
        is SignInOutcome.INVALID_CREDENTIALS
    )
    events = [(e.event, e.detail["channel"]) for e in db.session.query(AuditEvent)]
    assert events == [("login.failed", "passkey")] * 2


def test_passkey_sign_ins_are_throttled_per_address(app: Any) -> None:
    outcomes = [
        check_passkey('{"id": "x"}', None, source=Source(ip="198.51.100.9")).outcome
        for _ in range(11)
    ]
    assert outcomes[-1] is SignInOutcome.THROTTLED
    assert outcomes[0] is SignInOutcome.INVALID_CREDENTIALS


def test_removing_someone_elses_passkey_does_nothing(client: FlaskClient, patron: Any) -> None:
    other = make_patron()
    row = _add_row(other.id)
    _login(client, patron.card_number, "/account/passkeys")
    page = client.get("/account/passkeys").get_data(as_text=True)
    client.post(f"/account/passkeys/{row.id}/remove", data={"csrf_token": csrf_token(page)})
    assert db.session.get(PatronPasskey, row.id) is not None


def test_code_records_the_method_and_the_id_token_says_pwd(rp: Any, patron: Any) -> None:
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    claims = rp.verify_id_token(tokens["id_token"], "http://localhost")
    assert claims["amr"] == ["pwd"]
    assert "acr" not in claims
    assert AuthorizationCode(amr="hwk").get_acr() == "phrh"
    assert AuthorizationCode(amr="swk").get_amr() == ["swk"]


@pytest.mark.parametrize(
    "has_passkey, error", [(False, "interaction_required"), (True, "login_required")]
)
def test_prompt_none_at_a_passkey_only_client(
    rp: Any, patron: Any, portal: Any, has_passkey: bool, error: str
) -> None:
    portal.require_passkey = True
    db.session.commit()
    if has_passkey:
        _add_row(patron.id)
    _login(rp.browser, patron.card_number)
    response = rp.authorize(prompt="none")
    assert response.status_code == 302
    assert query_of(response)["error"] == error


def test_prompt_none_without_any_session_is_login_required(rp: Any, portal: Any) -> None:
    portal.require_passkey = True
    db.session.commit()
    assert query_of(rp.authorize(prompt="none"))["error"] == "login_required"


def test_password_login_at_a_passkey_only_client_goes_back_to_the_login_page(
    rp: Any, patron: Any, portal: Any
) -> None:
    portal.require_passkey = True
    db.session.commit()
    response = rp.login(rp.authorize(), patron.card_number, DEFAULT_PASSWORD)
    while response.status_code == 302 and "/login" not in response.headers["Location"]:
        response = rp.browser.get(response.headers["Location"])
    assert response.headers["Location"].startswith("/login")
    page = rp.browser.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="password"' not in page
    assert "パスキー" in page


def test_client_file_require_passkey() -> None:
    base = {
        "client_id": "kiosk",
        "client_secret_hash": "sha256:" + "0" * 64,
        "redirect_uris": ["https://k.example.org/cb"],
        "scopes": ["openid"],
    }
    assert parse_client({**base, "require_passkey": True}, "k.toml", {}).require_passkey
    assert not parse_client(base, "k.toml", {}).require_passkey
    with pytest.raises(ClientFileError, match="require_passkey"):
        parse_client({**base, "require_passkey": "yes"}, "k.toml", {})


def test_counter_reset_keeps_passkeys_unless_told(runner: Any, patron: Any) -> None:
    _add_row(patron.id)
    kept = runner.invoke(args=["patrons", "reset-password", patron.card_number])
    assert kept.exit_code == 0, kept.output
    assert "Passkeys kept:      1" in kept.output
    assert db.session.query(PatronPasskey).count() == 1
    removed = runner.invoke(
        args=["patrons", "reset-password", patron.card_number, "--remove-passkeys", "--json"]
    )
    assert removed.exit_code == 0, removed.output
    assert '"passkeys_removed": 1' in removed.output
    assert db.session.query(PatronPasskey).count() == 0
