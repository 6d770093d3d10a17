"""``idp audit``: print the audit log of security events (SPEC §6)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from idp.cli.times import library_iso
from idp.cli.times import library_zone
from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from idp.services.accounts.patrons import find_patron
from idp.services.cards.numbers import normalize_card_number


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD or an ISO 8601 time") from None
    # A bare date or a time without zone is the library's, like the printed times.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=library_zone())


def _row(event: AuditEvent, cards: dict[int, str]) -> dict[str, Any]:
    return {
        "time": library_iso(event.created_at),
        "event": event.event,
        "card_number": cards.get(event.patron_id) if event.patron_id else None,
        "patron_id": event.patron_id,
        "client_id": event.client_id,
        "actor": event.actor,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "detail": event.detail or {},
    }


@click.command("audit")
@click.option("--card", default=None, help="Only events of this library card.")
@click.option("--since", callback=_since, help="Only events from then on (YYYY-MM-DD or ISO).")
@click.option("--event", "event_name", default=None, help="Only this event, e.g. login.failed.")
@click.option(
    "--staff", "staff_name", default=None, help="Only actions of this staff member or operator."
)
@click.option("--limit", default=1000, show_default=True, help="At most this many events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
def audit_command(
    card: str | None,
    since: dt.datetime | None,
    event_name: str | None,
    staff_name: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Print security events, oldest first: time, event, card, client, actor, IP, user agent."""
    query = select(AuditEvent)
    if card is not None:
        patron = find_patron(normalize_card_number(card))
        if patron is None:
            raise click.ClickException(f"no patron with card number {card!r}")
        query = query.where(AuditEvent.patron_id == patron.id)
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if event_name:
        query = query.where(AuditEvent.event == event_name)
    if staff_name:
        query = query.where(AuditEvent.actor.in_({staff_name.strip(), staff_name.strip().lower()}))
    events = list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)))
    events.reverse()
    ids = {e.patron_id for e in events if e.patron_id is not None}
    rows = db.session.execute(select(Patron.id, Patron.card_number).where(Patron.id.in_(ids)))
    cards = {patron_id: card_number for patron_id, card_number in rows}
    for event in events:
        row = _row(event, cards)
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        detail = " ".join(f"{k}={v}" for k, v in sorted(row["detail"].items()))
        click.echo(
            "\t".join(
                str(row[k] or "-")
                for k in ("time", "event", "card_number", "client_id", "actor", "ip", "user_agent")
            )
            + (f"\t{detail}" if detail else "")
        )
