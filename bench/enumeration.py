"""Time a wrong password on an issued card against one on an unknown card number.

If the two differ, an attacker can tell which card numbers exist (docs/security.md,
"Unknown and issued cards cost the same"). The provider runs in-process with the
default Argon2 settings and limits, on a fresh SQLite database (or ``--database-url``),
with the database throttle store (or Redis with ``--redis-url``). Every attempt is the
first failure of its own card from its own network, so that no limit cuts it short, and
the two kinds alternate so that the machine's load affects both alike.

    .venv/bin/python bench/enumeration.py
    .venv/bin/python bench/enumeration.py --attempts 25 --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WRONG = "wrong-guess"


def measure(attempts: int, options: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Milliseconds per wrong password: (issued cards, unknown cards)."""
    from flask_migrate import upgrade

    from idp import create_app
    from idp.extensions import db
    from idp.services.accounts.patrons import issue_patron
    from idp.services.signin import SignInOutcome
    from idp.services.signin import Source
    from idp.services.signin import check_patron

    folder = Path(tempfile.mkdtemp(prefix="idp-enumeration-"))
    config = {
        "TESTING": True,
        "IDP_ISSUER": "http://127.0.0.1",
        "IDP_SECRET_KEY": secrets.token_urlsafe(48),
        "IDP_INSTANCE_DIR": str(folder),
        "IDP_KEYS_DIR": str(folder / "keys"),
        "IDP_THROTTLE_REDIS_PREFIX": f"idp-bench:{secrets.token_hex(8)}:",
        **options,
    }
    app = create_app(config)
    known: list[float] = []
    unknown: list[float] = []
    try:
        with app.app_context():
            upgrade()
            for i in range(attempts):
                issue_patron(f"03000{i:05d}", dt.date(2099, 12, 31), password="honyomu-42")
            db.session.commit()
            db.session.remove()
            for i in range(attempts):
                for card, times, net in (
                    (f"03000{i:05d}", known, 1),
                    (f"03999{i:05d}", unknown, 2),
                ):
                    db.session.remove()  # a fresh session, as for a new request
                    started = time.perf_counter()
                    outcome = check_patron(
                        card, WRONG, channel="web", source=Source(ip=f"10.{net}.{i}.1")
                    ).outcome
                    times.append((time.perf_counter() - started) * 1000)
                    if outcome is not SignInOutcome.INVALID_CREDENTIALS:
                        raise RuntimeError(f"{card}: {outcome}, not a plain wrong password")
            db.session.remove()
            _forget(config, db.engine.dispose)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return known, unknown


def _forget(config: dict[str, Any], dispose: Callable[[], None]) -> None:
    """Drop what the run left behind: the Redis keys of its prefix, the connections."""
    url = config.get("IDP_REDIS_URL")
    if url:
        import redis

        client = redis.Redis.from_url(str(url))
        keys = list(client.scan_iter(f"{config['IDP_THROTTLE_REDIS_PREFIX']}*"))
        if keys:
            client.delete(*keys)
        client.close()
    dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=25, help="wrong passwords of each kind")
    parser.add_argument("--database-url", help="an empty database (default: fresh SQLite)")
    parser.add_argument("--redis-url", help="count the throttle in Redis")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {}
    if args.database_url:
        options["IDP_DATABASE_URL"] = args.database_url
    if args.redis_url:
        options["IDP_REDIS_URL"] = args.redis_url
    known, unknown = measure(args.attempts, options)
    database = (args.database_url or "sqlite").split(":")[0].split("+")[0]
    store = "redis" if args.redis_url else "database"
    print(f"{database}, throttle store {store}: {args.attempts} attempts each, default Argon2")
    print(f"issued card, wrong password: median {statistics.median(known):6.1f} ms")
    print(f"unknown card number:         median {statistics.median(unknown):6.1f} ms")
    gap = statistics.median(known) - statistics.median(unknown)
    print(f"difference:                  {gap:+6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
