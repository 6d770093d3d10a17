"""Profile one scenario in-process with pyinstrument (where the time of a request goes).

    .venv/bin/python -m bench.profile code_exchange [--backend postgres] [--count 500]

Runs the scenario's requests through the WSGI app (Flask test client) on a fresh instance
made like the benchmark's, and prints pyinstrument's call tree.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from bench.run import CLIENT_ID
from bench.run import CLIENT_SECRET
from bench.run import REDIRECT_URI
from bench.run import VERIFIER
from bench.run import authorize_path
from bench.run import with_nonce
from bench.seed_patrons import BENCH_PASSWORD
from bench.seed_patrons import card_number
from bench.server import create_instance
from bench.server import destroy_instance

SCENARIOS = [
    "discovery",
    "jwks",
    "authorize",
    "code_exchange",
    "refresh",
    "userinfo",
    "introspection",
    "card_verify",
    "login",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--html", default=None, help="Also write pyinstrument's HTML here.")
    args = parser.parse_args(argv)

    from pyinstrument import Profiler

    instance = create_instance(
        args.backend,
        pg_admin_url=args.pg_url,
        redis_url=args.redis_url,
        patrons=max(100, args.count + 1),
        keep_db=None,
    )
    try:
        os.environ.update(instance.env)
        from idp import create_app

        app = create_app()
        work = build_work(app, args.scenario, args.count)
        work()
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(args.count):
            work()
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        if args.html:
            with open(args.html, "w") as out:
                out.write(profiler.output_html())
    finally:
        destroy_instance(instance)
    return 0


def build_work(app: Any, scenario: str, count: int) -> Callable[[], Any]:
    """One request of ``scenario`` per call, against ``app`` (in-process, its test
    client); what the scenario needs (a signed-in browser, codes, tokens) is made first."""
    auth = {"Authorization": "Basic " + _basic()}
    browser = app.test_client()
    _login(browser, card_number(0))

    def code() -> str:
        response = browser.get(with_nonce(authorize_path()))
        return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]

    def tokens() -> dict[str, Any]:
        data = {
            "grant_type": "authorization_code",
            "code": code(),
            "redirect_uri": REDIRECT_URI,
            "code_verifier": VERIFIER,
        }
        response = app.test_client().post("/token", data=data, headers=auth)
        assert response.status_code == 200, response.data
        return dict(response.json or {})

    api = app.test_client()
    work: Callable[[], Any]
    if scenario == "discovery":
        work = lambda: api.get("/.well-known/openid-configuration")  # noqa: E731
    elif scenario == "jwks":
        work = lambda: api.get("/jwks.json")  # noqa: E731
    elif scenario == "authorize":
        work = code
    elif scenario == "code_exchange":
        codes = [code() for _ in range(count + 1)]
        it = iter(codes)
        work = lambda: api.post(  # noqa: E731
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": next(it),
                "redirect_uri": REDIRECT_URI,
                "code_verifier": VERIFIER,
            },
            headers=auth,
        )
    elif scenario == "refresh":
        state = {"rt": tokens()["refresh_token"]}

        def work() -> None:
            response = api.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": state["rt"]},
                headers=auth,
            )
            state["rt"] = (response.json or {})["refresh_token"]

    elif scenario == "userinfo":
        bearer = {"Authorization": "Bearer " + tokens()["access_token"]}
        work = lambda: api.get("/userinfo", headers=bearer)  # noqa: E731
    elif scenario == "introspection":
        token = tokens()["access_token"]
        work = lambda: api.post("/introspect", data={"token": token}, headers=auth)  # noqa: E731
    elif scenario == "card_verify":
        import importlib
        import time

        from bench.card import DESK

        desk = app.test_client().post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "card:verify"},
            auth=DESK,
        )
        bearer = {"Authorization": "Bearer " + (desk.json or {})["access_token"]}
        current_code = importlib.import_module("idp.services.cards.codes").current_code
        with app.app_context():
            settings = importlib.import_module("idp.services.cards.service").card_service().codes
        now = time.time()
        values = iter([current_code(settings, card_number(i), now).value for i in range(count + 1)])
        work = lambda: api.post(  # noqa: E731
            "/api/card/verify", json={"code": next(values)}, headers=bearer
        )
    else:
        work = lambda: _login(app.test_client(), card_number(1))  # noqa: E731
    return work


def _basic() -> str:
    import base64

    return base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


def _login(browser: Any, card: str) -> None:
    first = browser.get(with_nonce(authorize_path()))
    page = browser.get(first.headers["Location"])
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert match is not None
    rid = parse_qs(urlsplit(first.headers["Location"]).query).get("rid", [""])[0]
    posted = browser.post(
        "/login",
        data={
            "card_number": card,
            "password": BENCH_PASSWORD,
            "csrf_token": match.group(1),
            "rid": rid,
        },
    )
    assert posted.status_code == 302, posted.data
    browser.get(posted.headers["Location"])


if __name__ == "__main__":
    raise SystemExit(main())
