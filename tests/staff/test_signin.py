"""Staff sign-in: both factors, throttling on its own counters, sessions apart from patrons."""

from __future__ import annotations

from typing import Any

import pytest
from flask import current_app
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.staff import StaffSession
from tests.staff.conftest import StaffUser
from tests.staff.conftest import make_staff
from tests.staff.conftest import post_form
from tests.staff.conftest import sign_in
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import change_settings
from tests.support.oidc import csrf_token


def _events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def test_console_needs_a_signed_in_staff_member(client: FlaskClient) -> None:
    page = client.get("/staff/")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/staff/login")


def test_password_then_totp_signs_in_and_is_audited(
    client: FlaskClient, counter_user: StaffUser
) -> None:
    done = sign_in(client, counter_user)
    assert done.status_code == 302 and done.headers["Location"] == "/staff/"
    page = client.get("/staff/")
    assert page.status_code == 200
    assert "受付 かおり" in page.get_data(as_text=True)
    [login] = _events("staff.login")
    assert login.actor == "kaori"
    assert login.detail["role"] == "counter" and login.detail["method"] == "totp"


def test_password_alone_does_not_sign_in(client: FlaskClient, counter_user: StaffUser) -> None:
    first = post_form(
        client, "/staff/login", None, {"username": "kaori", "password": counter_user.password}
    )
    assert first.headers["Location"] == "/staff/login/second"
    assert client.get("/staff/").status_code == 302
    assert client.get("/staff/scan").status_code == 302


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: FlaskClient, counter_user: StaffUser
) -> None:
    wrong = post_form(client, "/staff/login", None, {"username": "kaori", "password": "x" * 14})
    unknown = post_form(client, "/staff/login", None, {"username": "nobody", "password": "x" * 14})
    assert wrong.status_code == unknown.status_code == 401
    assert "ユーザー名またはパスワードが正しくありません" in wrong.get_data(as_text=True)
    assert len(_events("staff.login_failed")) == 2


def test_a_totp_code_is_accepted_once(client: FlaskClient, counter_user: StaffUser) -> None:
    assert sign_in(client, counter_user).status_code == 302
    post_form(client, "/staff/", "/staff/logout", {})
    again = sign_in(client, counter_user)
    assert again.status_code == 401  # the same time step's code was used up
    assert client.get("/staff/").status_code == 302


def test_wrong_totp_code_counts_as_a_failure(client: FlaskClient, counter_user: StaffUser) -> None:
    post_form(
        client, "/staff/login", None, {"username": "kaori", "password": counter_user.password}
    )
    bad = post_form(client, "/staff/login/second", "/staff/login/totp", {"code": "000000"})
    assert bad.status_code == 401
    from idp.services.staff.auth import failure_count

    assert failure_count("kaori", "staff_2fa") == 1
    assert failure_count("kaori", "staff") == 0  # the password was right


def test_recovery_code_works_once(client: FlaskClient, app: Any) -> None:
    from idp.services.staff.totp import new_recovery_codes

    user = make_staff("mika", "counter")
    codes = new_recovery_codes(user.row())
    db.session.commit()

    def use(code: str) -> int:
        post_form(client, "/staff/login", None, {"username": "mika", "password": user.password})
        return post_form(
            client, "/staff/login/second", "/staff/login/recovery", {"recovery_code": code}
        ).status_code

    assert use(codes[0].upper()) == 302
    post_form(client, "/staff/", "/staff/logout", {})
    assert use(codes[0]) == 401


def test_failures_delay_then_lock_the_account(
    client: FlaskClient, app_config: dict[str, Any], counter_user: StaffUser, clock: Any
) -> None:
    change_settings(current_app, IDP_THROTTLE_IP_PER_MINUTE=0, IDP_STAFF_LOCK_AFTER=5)
    statuses = []
    for _ in range(8):
        response = post_form(
            client, "/staff/login", None, {"username": "kaori", "password": "wrong password!"}
        )
        statuses.append(response.status_code)
        clock.advance(hours=2)
    assert statuses[:3] == [401, 401, 401]
    assert 403 in statuses  # locked at the fifth failure
    assert counter_user.row().locked_at is not None
    right = post_form(
        client, "/staff/login", None, {"username": "kaori", "password": counter_user.password}
    )
    assert right.status_code == 403
    assert _events("staff.locked")


def test_throttled_attempt_is_refused_without_checking(
    client: FlaskClient, counter_user: StaffUser
) -> None:
    for _ in range(6):  # the per-card delays: five failures are free
        post_form(
            client, "/staff/login", None, {"username": "kaori", "password": "wrong password!"}
        )
    right = post_form(
        client, "/staff/login", None, {"username": "kaori", "password": counter_user.password}
    )
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) > 0
    assert _events("staff.login_throttled")


def test_disabled_account_cannot_sign_in_and_its_sessions_end(
    client: FlaskClient, runner: Any, counter_user: StaffUser
) -> None:
    assert sign_in(client, counter_user).status_code == 302
    result = runner.invoke(args=["staff", "disable", "kaori", "--reason", "left the library"])
    assert result.exit_code == 0, result.output
    assert client.get("/staff/").status_code == 302
    again = post_form(
        client, "/staff/login", None, {"username": "kaori", "password": counter_user.password}
    )
    assert again.status_code == 403


def test_staff_cookie_is_scoped_to_staff_and_http_only(
    client: FlaskClient, counter_user: StaffUser
) -> None:
    sign_in(client, counter_user)
    cookie = client.get_cookie("idp_staff", path="/staff")
    assert cookie is not None and cookie.http_only and cookie.path == "/staff"
    assert client.get_cookie("idp_session") is None


def test_staff_session_never_signs_a_patron_in(
    client: FlaskClient, counter_user: StaffUser, patron: Any
) -> None:
    sign_in(client, counter_user)
    assert client.get("/account").status_code == 302  # the patron pages: log in first


def test_patron_session_never_opens_the_console(client: FlaskClient, patron: Any) -> None:
    page = client.get("/login")
    client.post(
        "/login",
        data={
            "card_number": patron.card_number,
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert client.get("/account").status_code == 200
    assert client.get("/staff/").status_code == 302


def test_idle_session_ends(client: FlaskClient, counter_user: StaffUser, clock: Any) -> None:
    sign_in(client, counter_user)
    clock.advance(minutes=14)
    assert client.get("/staff/").status_code == 200
    clock.advance(minutes=16)
    ended = client.get("/staff/")
    assert ended.status_code == 302 and "expired=1" in ended.headers["Location"]
    page = client.get(ended.headers["Location"])
    assert "操作がなかったため" in page.get_data(as_text=True)
    assert db.session.scalar(select(StaffSession).where(StaffSession.staff_id.is_not(None))) is None


def test_session_id_changes_at_each_step(client: FlaskClient, counter_user: StaffUser) -> None:
    client.get("/staff/login")
    first = client.get_cookie("idp_staff", path="/staff")
    post_form(
        client, "/staff/login", None, {"username": "kaori", "password": counter_user.password}
    )
    second = client.get_cookie("idp_staff", path="/staff")
    assert first is not None and second is not None and first.value != second.value


def test_forms_need_the_csrf_token(client: FlaskClient, counter_user: StaffUser) -> None:
    response = client.post(
        "/staff/login", data={"username": "kaori", "password": counter_user.password}
    )
    assert response.status_code == 400
    assert not _events("staff.login_failed")


@pytest.mark.parametrize(("networks", "status"), [("10.0.0.0/8", 403), ("127.0.0.1/32", 302)])
def test_staff_networks_allow_list(client: FlaskClient, networks: str, status: int) -> None:
    change_settings(current_app, IDP_STAFF_NETWORKS=networks)
    assert client.get("/staff/").status_code == status


def test_bad_staff_networks_refuse_to_start(app_config: dict[str, Any]) -> None:
    from idp import create_app
    from idp.config import ConfigError

    with pytest.raises(ConfigError, match="IDP_STAFF_NETWORKS"):
        create_app({**app_config, "IDP_STAFF_NETWORKS": "not-a-network"})


def test_second_factor_step_expires(
    client: FlaskClient, counter_user: StaffUser, clock: Any
) -> None:
    post_form(
        client, "/staff/login", None, {"username": "kaori", "password": counter_user.password}
    )
    clock.advance(minutes=6)
    assert client.get("/staff/login/second").status_code == 302


@pytest.mark.parametrize(
    ("credential", "status"),
    [
        ("", 400),
        ("x" * 20000, 400),
        ("not json", 401),
        ("[]", 401),
        ('{"id": 5}', 401),
        ('{"id": "abc", "response": {}}', 401),
    ],
)
def test_bad_passkey_answers_are_refused_not_errors(
    client: FlaskClient, counter_user: StaffUser, credential: str, status: int
) -> None:
    from idp.models.staff import StaffCredential

    # A registered passkey, so that the page issues a challenge.
    db.session.add(
        StaffCredential(staff_id=counter_user.row().id, credential_id="abc", public_key=b"k")
    )
    db.session.commit()
    post_form(
        client, "/staff/login", None, {"username": "kaori", "password": counter_user.password}
    )
    response = post_form(
        client, "/staff/login/second", "/staff/login/passkey", {"credential": credential}
    )
    assert response.status_code == status
    assert client.get("/staff/").status_code == 302
    from idp.services.staff.auth import failure_count

    # An answer that was sent and refused counts as a failure; an empty form does not.
    assert failure_count("kaori", "staff_2fa") == (1 if status == 401 else 0)


def test_oversized_and_odd_input_never_errors(client: FlaskClient, counter_user: StaffUser) -> None:
    for username, password in (("\x00" * 10, "p" * 300), ("ｋａｏｒｉ", "\u202e" * 20), ("", "")):
        response = post_form(
            client, "/staff/login", None, {"username": username, "password": password}
        )
        assert response.status_code in {400, 401}
    assert client.get("/staff/enrol/" + "a" * 500).status_code == 404
    assert client.get("/staff/reports/locked?days=99999999999999999999").status_code == 302


def test_sign_out_deletes_the_session_record(client: FlaskClient, counter_user: StaffUser) -> None:
    sign_in(client, counter_user)
    cookie = client.get_cookie("idp_staff", path="/staff")
    assert cookie is not None
    out = post_form(client, "/staff/", "/staff/logout", {})
    assert out.status_code == 302 and out.headers["Location"] == "/staff/login"
    assert db.session.scalar(select(StaffSession).where(StaffSession.staff_id.is_not(None))) is None
    # The old cookie value is worthless now.
    client.set_cookie("idp_staff", cookie.value, path="/staff")
    assert client.get("/staff/").status_code == 302
    [event] = _events("staff.logout")
    assert event.actor == "kaori"
