"""Scripted online-guessing attacks against the login page, to check docs/security.md.

Three attacks, each bounded in requests and time, on loopback only:

1. **one card**: guess the 4-digit password of one card from one address, waiting out
   every delay, until the card locks or a day has passed;
2. **spray**: one common PIN against many cards from one address for a day;
3. **spray from a /24**: the same from every address of one network (127.0.0.1–254);
4. **in parallel**: bursts of simultaneous requests — 30 wrong passwords for one card from
   one address, 30 cards from one address, 40 addresses of one /24 — released together
   from one thread each against a threaded server, to show that no burst gets past the
   limits (every check reserves its counters before the password is checked).

By default the provider runs in-process (werkzeug on 127.0.0.1, a fresh SQLite database,
the default limits) on a *simulated clock*: when the answer says ``Retry-After: N`` the
attacker's clock jumps N seconds instead of sleeping, so a day of attack takes seconds
and the figures are exact. The figures are then compared with the ones documented in
docs/security.md (computed here from the same defaults).

``--database-url`` runs the in-process provider on PostgreSQL (a scratch database is
created there and dropped afterwards) and ``--redis-url`` keeps the counters in Redis.
``--url http://127.0.0.1:5000`` attacks a running server in real time instead, for at
most ``--seconds`` (the server's own clock: only the first minutes can be observed).

    .venv/bin/python bench/attack.py
    .venv/bin/python bench/attack.py --database-url postgresql+psycopg://postgres@127.0.0.1/test
    .venv/bin/python bench/attack.py --redis-url redis://127.0.0.1:6379/0
    .venv/bin/python bench/attack.py --url http://127.0.0.1:5000 --seconds 70
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import ipaddress
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from idp.settings import Settings
from idp.settings.sections import ThrottleSettings

MAX_REQUESTS = 5000
#: The limits as shipped (what docs/security.md states).
DEFAULT_THROTTLE = Settings().throttle
DAY = 86400


# --------------------------------------------------------------------------- the numbers


def documented_figures(throttle: ThrottleSettings = DEFAULT_THROTTLE) -> dict[str, Any]:
    """The worst case the limits allow (the default settings), as docs/security.md states it."""
    free = throttle.card_free_failures
    lock = throttle.card_lock_after
    delays = [
        min(throttle.card_delay * 2 ** (n - free), throttle.card_max_delay)
        for n in range(free, lock)
    ]
    return {
        "card_free": free,
        "card_guesses_before_lock": lock,
        "card_seconds_to_lock": sum(delays),
        "ip_checks_first_minute": throttle.ip_per_minute,
        "ip_checks_per_day": throttle.ip_failures_per_day,
        "net_checks_first_minute": throttle.net_per_minute,
        "net_checks_per_day": throttle.net_failures_per_day,
        # Parallel bursts: exactly what one window allows, however many arrive at once.
        "burst_card_checked": free,
        "burst_ip_checked": throttle.ip_per_minute,
        "burst_net_checked": throttle.net_per_minute,
    }


# --------------------------------------------------------------------------- the attacker


class Clock:
    """The simulated clock shared by the in-process provider and the attacker."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class RealClock:
    """Real time, for a server we do not control (waits are real sleeps)."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Attacker:
    """One source address posting the login form (keeps its cookie and CSRF token)."""

    host: str
    port: int
    source: str
    cookie: str = ""
    token: str = ""
    requests: list[int] = field(default_factory=list)

    def _send(self, method: str, path: str, body: str = "") -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection(
            self.host, self.port, timeout=30, source_address=(self.source, 0)
        )
        headers = {"User-Agent": "bench-attack/1", "Cookie": self.cookie}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        found = {k.lower(): v for k, v in response.getheaders()}
        cookie = found.get("set-cookie", "")
        if cookie.startswith("idp_session="):
            self.cookie = cookie.split(";", 1)[0]
        conn.close()
        return response.status, found, text

    def fetch_token(self) -> None:
        """Open the login page once for the session cookie and CSRF token."""
        if not self.token:
            _status, _headers, page = self._send("GET", "/login")
            match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
            assert match, "no CSRF token on the login page"
            self.token = match.group(1)

    def guess(self, card: str, password: str) -> tuple[int, int]:
        """Post one guess; return the status and the Retry-After seconds (0 if none)."""
        self.fetch_token()
        body = urlencode({"card_number": card, "password": password, "csrf_token": self.token})
        status, headers, _page = self._send("POST", "/login", body)
        self.requests.append(status)
        return status, int(headers.get("retry-after", "0") or 0)


@dataclass
class Tally:
    """What an attack achieved."""

    checked: int = 0  # answers that came from a password check (401, or success)
    throttled: int = 0
    locked_after: float | None = None
    #: Checks before the first throttled answer: one window's allowance (the attacks
    #: start on a window boundary).
    before_delay: int | None = None
    found: bool = False
    seconds: float = 0.0


def run_attack(
    attackers: list[Attacker],
    clock: Any,
    cards: Callable[[int], str],
    passwords: Callable[[int], str],
    *,
    horizon: float,
    budget: int,
    simulated: bool,
) -> Tally:
    """Guess until the horizon (seconds), the budget (requests) or a lock."""
    tally = Tally()
    start = clock.now
    sent = 0
    index = 0
    refused_in_a_row = 0
    # Refused by several addresses in a row: the network is throttled, so wait.
    patience = min(3, len(attackers))
    while sent < budget:
        elapsed = (clock.now - start).total_seconds()
        if elapsed >= horizon:
            break
        attacker = attackers[index % len(attackers)]
        status, retry_after = attacker.guess(cards(index), passwords(index))
        sent += 1
        if status == 429:
            if tally.before_delay is None:
                tally.before_delay = tally.checked
            tally.throttled += 1
            refused_in_a_row += 1
            if refused_in_a_row >= patience:
                if not simulated:
                    break  # real time: the first window is all we report
                clock.wait(retry_after)
                refused_in_a_row = 0
            else:
                index += 1
            continue
        refused_in_a_row = 0
        if status == 403:
            tally.locked_after = elapsed
            break
        tally.checked += 1
        if status == 302:
            tally.found = True
            break
        index += 1
    tally.seconds = (clock.now - start).total_seconds()
    return tally


def burst(attackers: list[Attacker], cards: Callable[[int], str], password: str) -> dict[int, int]:
    """Every attacker posts one guess, all released together; count the statuses."""
    for attacker in attackers:
        attacker.fetch_token()
    barrier = threading.Barrier(len(attackers))
    statuses: list[int] = []
    lock = threading.Lock()

    def one(index: int) -> None:
        barrier.wait()
        status, _retry = attackers[index].guess(cards(index), password)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(attackers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {status: statuses.count(status) for status in sorted(set(statuses))}


# --------------------------------------------------------------------------- the target


def _scratch_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    """A new PostgreSQL database next to ``admin_url``'s, and how to drop it."""
    from sqlalchemy import create_engine
    from sqlalchemy import make_url
    from sqlalchemy import text

    name = f"idp_attack_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def start_in_process(
    clock: Clock, database_url: str | None = None, redis_url: str | None = None
) -> tuple[str, int, Callable[[], None], str]:
    """A provider on 127.0.0.1 with the default limits, a fresh database and one patron.

    Threaded, so that parallel requests really run at the same time.
    """
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from idp import create_app
    from idp.extensions import db
    from idp.services.accounts.patrons import issue_patron

    folder = Path(tempfile.mkdtemp(prefix="idp-attack-"))
    drop: Callable[[], None] = lambda: None  # noqa: E731
    config: dict[str, Any] = {
        "TESTING": True,
        "IDP_ISSUER": "http://127.0.0.1",
        "IDP_SECRET_KEY": secrets.token_urlsafe(48),
        "IDP_INSTANCE_DIR": str(folder),
        "IDP_KEYS_DIR": str(folder / "keys"),
        # Cheap hashing keeps the run short; it changes no count.
        "IDP_ARGON2_TIME_COST": 1,
        "IDP_ARGON2_MEMORY_COST": 1024,
        # Room for every thread of a burst: a check holds two connections for a moment.
        "IDP_DB_POOL_SIZE": 50,
        "IDP_DB_MAX_OVERFLOW": 50,
    }
    if database_url:
        config["IDP_DATABASE_URL"], drop = _scratch_database(database_url)
    if redis_url:
        config["IDP_REDIS_URL"] = redis_url
        config["IDP_THROTTLE_REDIS_PREFIX"] = f"idp-attack:{secrets.token_hex(6)}:"
    app = create_app(config)
    app.extensions["idp"].clock = clock
    pin = f"{secrets.randbelow(10000):04d}"
    with app.app_context():
        upgrade()
        patron, _ = issue_patron("0300000001", dt.date(2099, 12, 31), password=pin)
        patron.is_temporary_password = False
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        with app.app_context():
            db.engine.dispose()
        drop()
        shutil.rmtree(folder, ignore_errors=True)

    return "127.0.0.1", server.server_port, stop, pin


def _same_source(host: str, port: int, count: int, source: str) -> list[Attacker]:
    """``count`` browsers (each its own cookie and token) behind one address."""
    return [Attacker(host, port, source) for _ in range(count)]


# --------------------------------------------------------------------------- the report


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="attack a running server (loopback only) in real time")
    parser.add_argument("--card", default="0300000001", help="the card of the one-card attack")
    parser.add_argument("--seconds", type=float, default=70, help="real-time limit per attack")
    parser.add_argument("--max-requests", type=int, default=2000, help="per attack")
    parser.add_argument("--database-url", help="in-process on this PostgreSQL (scratch database)")
    parser.add_argument("--redis-url", help="in-process, with the counters in this Redis")
    args = parser.parse_args(argv)
    budget = min(args.max_requests, MAX_REQUESTS)

    figures = documented_figures()
    stop: Callable[[], None] = lambda: None  # noqa: E731
    if args.url:
        parts = urlsplit(args.url)
        if parts.scheme != "http" or parts.hostname not in {"127.0.0.1", "localhost"}:
            parser.error("only http://127.0.0.1 or http://localhost targets")
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        clock: Any = RealClock()
        simulated, horizon = False, args.seconds
        print(f"target {args.url} (real time: the first minute of each attack)")
    else:
        midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        clock = Clock(midnight + dt.timedelta(days=1))
        host, port, stop, _pin = start_in_process(clock, args.database_url, args.redis_url)
        simulated, horizon = True, DAY
        store = "PostgreSQL" if args.database_url else "SQLite"
        store += " + Redis" if args.redis_url else ""
        print(f"target in-process http://{host}:{port} on {store} (simulated clock, 24 h)")

    def fresh(count: int, offset: int = 1) -> list[Attacker]:
        return [
            Attacker(host, port, str(ipaddress.ip_address("127.0.0.0") + offset + i))
            for i in range(count)
        ]

    def next_minute() -> None:
        if not simulated:  # the server's windows start on the minute
            time.sleep(61 - time.time() % 60)

    started = time.monotonic()
    try:
        next_minute()
        # Guesses are PINs the real one is unlikely to be first among; never the real one.
        one = run_attack(
            fresh(1, 1),
            clock,
            lambda i: args.card,
            lambda i: f"{(i * 7919) % 10000:04d}",
            horizon=horizon,
            budget=budget,
            simulated=simulated,
        )
        if simulated:
            clock.wait(DAY - one.seconds % DAY)  # the next attack starts on a fresh day
        next_minute()
        spray = run_attack(
            fresh(1, 2),
            clock,
            lambda i: f"04{i:08d}",
            lambda i: "2580",
            horizon=horizon,
            budget=budget,
            simulated=simulated,
        )
        if simulated:
            clock.wait(DAY - spray.seconds % DAY)
        next_minute()
        net = run_attack(
            fresh(254, 1),
            clock,
            lambda i: f"05{i:08d}",
            lambda i: "1357",
            horizon=horizon,
            budget=budget,
            simulated=simulated,
        )
        # The parallel bursts, each on fresh addresses and cards (an unknown card is
        # counted exactly like an issued one).
        if simulated:
            clock.wait(DAY - net.seconds % DAY)
        next_minute()
        burst_card = burst(
            _same_source(host, port, 30, "127.0.1.1"), lambda i: "0300000099", "0000"
        )
        next_minute()
        burst_ip = burst(_same_source(host, port, 30, "127.0.2.1"), lambda i: f"06{i:08d}", "2580")
        next_minute()
        burst_net = burst(
            [Attacker(host, port, f"127.0.3.{i + 1}") for i in range(40)],
            lambda i: f"07{i:08d}",
            "1357",
        )
    finally:
        stop()

    rows = [
        (
            "one card: guesses checked before the lock",
            one.checked + (1 if one.locked_after is not None else 0),
            figures["card_guesses_before_lock"],
        ),
        (
            "one card: time until locked",
            _hours(one.locked_after),
            _hours(figures["card_seconds_to_lock"]),
        ),
        (
            "spray, one address: checks in the first minute",
            spray.before_delay,
            figures["ip_checks_first_minute"],
        ),
        ("spray, one address: checks per day", spray.checked, figures["ip_checks_per_day"]),
        (
            "spray, one /24: checks in the first minute",
            net.before_delay,
            figures["net_checks_first_minute"],
        ),
        ("spray, one /24: checks per day", net.checked, figures["net_checks_per_day"]),
        (
            "30 at once, one card: answered wrong",
            burst_card.get(401, 0),
            figures["burst_card_checked"],
        ),
        ("30 at once, one card: locked answers", burst_card.get(403, 0), 0),
        (
            "30 at once, one address: answered wrong",
            burst_ip.get(401, 0),
            figures["burst_ip_checked"],
        ),
        (
            "40 at once, one /24: answered wrong",
            burst_net.get(401, 0),
            figures["burst_net_checked"],
        ),
        (
            "bursts: answers neither 401 nor 429",
            sum(
                n
                for b in (burst_card, burst_ip, burst_net)
                for k, n in b.items()
                if k not in {401, 429}
            ),
            0,
        ),
    ]
    if not simulated:
        # Real time: only what the first minute shows (windows start on the minute).
        rows = [
            ("one card: guesses before the first delay", one.before_delay, figures["card_free"]),
            *[r for r in rows if "first minute" in r[0] or "at once" in r[0]],
        ]
    print(f"{'figure':52} {'measured':>10} {'documented':>11}")
    ok = True
    for name, measured, documented in rows:
        same = str(measured) == str(documented)
        ok &= same
        print(f"{name:52} {measured!s:>10} {documented!s:>11}  {'ok' if same else 'DIFFERS'}")
    found = one.found or spray.found or net.found
    print(
        f"throttled answers: one card {one.throttled}, spray {spray.throttled}, /24 {net.throttled}"
    )
    print(f"bursts (status: count): card {burst_card}, address {burst_ip}, /24 {burst_net}")
    print(f"password found: {found}")
    print(f"wall time {time.monotonic() - started:.1f} s")
    print("matches docs/security.md" if ok else "DOES NOT match docs/security.md")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
