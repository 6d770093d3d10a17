"""Profile one scenario in-process with pyinstrument (where the time of a request goes).

    .venv/bin/python -m bench.profile code_exchange [--backend postgres] [--count 500]

Runs the scenario's requests through the WSGI app (Flask test client; ``--direct``: the
app called straight, :class:`WsgiCaller`) on a fresh instance made like the benchmark's,
and prints pyinstrument's call tree.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
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
    parser.add_argument(
        "--direct", action="store_true", help="Call the app straight, not through the test client."
    )
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
        work = build_work(app, args.scenario, args.count, direct=args.direct)
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


class WsgiCaller:
    """Calls the WSGI application with an environ made by hand (a few microseconds; the
    test client spends 0.1-0.2 ms on each request itself), so that the time measured
    around a call is the application's own."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.status = ""
        self.headers: dict[str, str] = {}

    def _start_response(self, status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        self.status = status
        self.headers = dict(headers)

    def __call__(
        self,
        method: str,
        target: str,
        *,
        form: dict[str, str] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        """The answer's body; its status and headers are left in ``status``, ``headers``."""
        path, _, query = target.partition("?")
        body = b""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "localhost",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if form is not None:
            body = urlencode(form).encode()
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            environ["CONTENT_TYPE"] = "application/json"
        if body:
            environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        answer = self.app(environ, self._start_response)
        try:
            return b"".join(answer)
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()


def build_work(app: Any, scenario: str, count: int, *, direct: bool = False) -> Callable[[], Any]:
    """One request of ``scenario`` per call, against ``app`` (in-process); what the
    scenario needs (a signed-in browser, codes, tokens) is made first. The timed request
    goes through Flask's test client, or, with ``direct``, through :class:`WsgiCaller`
    (the login scenario always uses the test client: it follows a browser's cookies)."""
    auth = {"Authorization": "Basic " + _basic()}
    browser = app.test_client()
    _login(browser, card_number(0))
    api = app.test_client()
    call = WsgiCaller(app)

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

    def send(
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        """One timed request: the answer's body, through the test client or straight."""
        if direct:
            return call(method, path, form=form, json_body=json_body, headers=headers)
        answer = api.open(path, method=method, data=form, json=json_body, headers=headers)
        return bytes(answer.get_data())

    work: Callable[[], Any]
    if scenario == "discovery":
        work = lambda: send("GET", "/.well-known/openid-configuration")  # noqa: E731
    elif scenario == "jwks":
        work = lambda: send("GET", "/jwks.json")  # noqa: E731
    elif scenario == "authorize":
        if direct:
            from idp.settings import app_settings

            with app.app_context():
                name = app_settings(app).sessions.cookie
            session = browser.get_cookie(name)
            assert session is not None, "no session cookie after the login"
            cookie = {"Cookie": f"{name}={session.value}"}
            work = lambda: send("GET", with_nonce(authorize_path()), headers=cookie)  # noqa: E731
        else:
            work = code  # the browser's own cookies
    elif scenario == "code_exchange":
        it = iter([code() for _ in range(count + 1)])
        work = lambda: send(  # noqa: E731
            "POST",
            "/token",
            form={
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
            form = {"grant_type": "refresh_token", "refresh_token": state["rt"]}
            state["rt"] = json.loads(send("POST", "/token", form=form, headers=auth))[
                "refresh_token"
            ]

    elif scenario == "userinfo":
        bearer = {"Authorization": "Bearer " + tokens()["access_token"]}
        work = lambda: send("GET", "/userinfo", headers=bearer)  # noqa: E731
    elif scenario == "introspection":
        form = {"token": tokens()["access_token"]}
        work = lambda: send("POST", "/introspect", form=form, headers=auth)  # noqa: E731
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
        work = lambda: send(  # noqa: E731
            "POST", "/api/card/verify", json_body={"code": next(values)}, headers=bearer
        )
    else:
        return lambda: _login(app.test_client(), card_number(1))
    if not direct:
        return work
    measured = work

    def checked() -> Any:
        """The call, refused loudly unless it succeeded (the test client's callers check
        their answers; a refusal must not be timed as if it were the scenario)."""
        answer = measured()
        code_given = "code=" in call.headers.get("Location", "")
        if not (call.status.startswith("200") or (call.status.startswith("302") and code_given)):
            raise RuntimeError(f"{scenario}: {call.status} {call.headers.get('Location', '')}")
        return answer

    return checked


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
