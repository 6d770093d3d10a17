"""Supervisor reports: the right patrons in each, CSV in UTF-8 with a BOM for Excel."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from flask.testing import FlaskClient

from idp.extensions import db
from idp.services.staff.reports import Report
from idp.services.staff.reports import run_report
from idp.services.staff.reports import to_csv
from tests.support.factories import make_patron


def _cards(report: Report, **kw: Any) -> set[str]:
    return {row.card_number for row in run_report(report, **kw)}


def test_each_report_finds_its_patrons(app: Any, now: dt.datetime) -> None:
    old = make_patron("0300000001", temporary=True, name="古い 仮")
    old.password_changed_at = now - dt.timedelta(days=20)
    fresh = make_patron("0300000002", temporary=True)
    fresh.password_changed_at = now - dt.timedelta(days=1)
    fresh.temporary_password_expires_at = now + dt.timedelta(days=3)
    make_patron("0300000003", locked_at=now)
    make_patron("0300000004", expires_on=(now + dt.timedelta(hours=9)).date())
    make_patron("0300000005", expires_on=dt.date(2099, 1, 1))
    db.session.commit()
    assert _cards(Report.TEMPORARY_UNCHANGED, days=14) == {"0300000001"}
    assert _cards(Report.TEMPORARY_UNCHANGED, days=1) == {"0300000001", "0300000002"}
    assert _cards(Report.TEMPORARY_EXPIRING, days=7) == {"0300000002"}
    assert _cards(Report.TEMPORARY_EXPIRING, days=2) == set()
    assert _cards(Report.LOCKED) == {"0300000003"}
    assert "0300000004" in _cards(Report.EXPIRING_THIS_MONTH)
    assert "0300000005" not in _cards(Report.EXPIRING_THIS_MONTH)


def test_csv_has_a_bom_and_quotes_formulas(app: Any) -> None:
    make_patron(
        "0300000001", name="=HYPERLINK(1)", locked_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    body = to_csv(run_report(Report.LOCKED), ["番号", "氏名", "a", "b", "c", "d", "e"])
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:2] == ["番号", "氏名"]
    assert rows[1][0] == "0300000001" and rows[1][1] == "'=HYPERLINK(1)"


def test_supervisor_downloads_a_report(supervisor_client: FlaskClient, now: dt.datetime) -> None:
    make_patron("0300000009", locked_at=now, name="ロック 中")
    page = supervisor_client.get("/staff/reports/locked")
    assert page.status_code == 200 and "0300000009" in page.get_data(as_text=True)
    download = supervisor_client.get("/staff/reports/locked.csv")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in download.headers["Content-Disposition"]
    text = download.data.decode("utf-8-sig")
    assert "ロック 中" in text and "貸出カード番号" in text
    assert supervisor_client.get("/staff/reports/nonsense").status_code == 404
    assert supervisor_client.get("/staff/reports/temporary-unchanged?days=-3").status_code == 400


def test_supervisor_reads_the_audit_log_by_staff_member(
    supervisor_client: FlaskClient, counter_user: Any
) -> None:
    page = supervisor_client.get("/staff/audit?staff=sato")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "staff.login" in html
    assert "kaori" not in supervisor_client.get("/staff/audit?staff=sato").get_data(as_text=True)
