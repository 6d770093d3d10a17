"""Two real server processes on one PostgreSQL and one Redis behave as one provider.

Each node is ``idp serve`` (gunicorn with ``idp/gunicorn_conf.py``, two workers) on its
own port; they share the database, Redis, the keys folder and the secret, as nodes behind
a load balancer do. The browser is one cookie jar sent to both.

Runs when ``IDP_TEST_DATABASE_URL`` and ``IDP_TEST_REDIS_URL`` are set (``.ci/run``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy import text

from tests.conftest import PORTAL_SECRET
from tests.conftest import SECRET
from tests.ops.http_rp import TIMEOUT
from tests.ops.http_rp import HttpRelyingParty
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.network import ReservedPort

PG_ADMIN_URL = os.environ.get("IDP_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (PG_ADMIN_URL and REDIS_URL),
        reason="IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL name the PostgreSQL and Redis",
    ),
]

#: Consecutive failures that lock a card on these nodes (before any delay applies).
LOCK_AFTER = 6
IDP = Path(sys.executable).parent / "idp"


@dataclass
class Cluster:
    """Two nodes and what they share."""

    a: str
    b: str
    env: dict[str, str]
    redis_prefix: str
    logs: list[Path]
    database_url: str


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"node exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # bound, but the workers are still starting
            pass
        time.sleep(0.2)
    raise AssertionError(f"node not ready: {log.read_text()[-2000:]}")


def _seed(env: dict[str, str]) -> None:
    """Migrate the scratch database and add a client and a patron (in this process)."""
    from flask_migrate import upgrade

    from idp import create_app
    from idp.extensions import db
    from idp.settings import Settings
    from idp.settings.load import known_keys
    from tests.support.factories import make_client
    from tests.support.factories import make_patron

    settings = {key: value for key, value in env.items() if key in known_keys(Settings)}
    app = create_app({**settings, "TESTING": True})
    with app.app_context():
        upgrade(revision="heads")
        make_client("portal", secret=PORTAL_SECRET)
        make_patron("0300000001")
        make_patron("0300000002")
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    assert PG_ADMIN_URL and REDIS_URL
    tmp = tmp_path_factory.mktemp("nodes")
    name = f"idp_ops_nodes_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    # Held until the nodes are gone, so that nothing else takes them meanwhile.
    reservations = ReservedPort(), ReservedPort()
    ports = [reservation.port for reservation in reservations]
    nodes = [f"http://127.0.0.1:{port}" for port in ports]
    prefix = f"idp-test:{uuid.uuid4().hex}:"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PROMETHEUS_"))},
        "IDP_ISSUER": nodes[0],
        "IDP_SECRET_KEY": SECRET,
        "IDP_DATABASE_URL": database_url,
        "IDP_REDIS_URL": REDIS_URL,
        "IDP_THROTTLE_REDIS_PREFIX": prefix,
        "IDP_KEYS_DIR": str(tmp / "keys"),
        "IDP_ARGON2_TIME_COST": "1",
        "IDP_ARGON2_MEMORY_COST": "256",
        "IDP_THROTTLE_CARD_FREE_FAILURES": "10",
        "IDP_THROTTLE_CARD_LOCK_AFTER": str(LOCK_AFTER),
        "IDP_THROTTLE_IP_PER_MINUTE": "0",
        "IDP_THROTTLE_NET_PER_MINUTE": "0",
        "IDP_WORKERS": "2",
        "IDP_DB_POOL_SIZE": "2",
        "IDP_METRICS": "1",
    }
    env["IDP_INSTANCE_DIR"] = str(tmp / "seed")
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        _seed(env)
        for index, port in enumerate(ports):
            node_env = {
                **env,
                "IDP_BIND": f"127.0.0.1:{port}",
                "IDP_INSTANCE_DIR": str(tmp / f"node{index}"),
                "PROMETHEUS_MULTIPROC_DIR": str(tmp / f"metrics{index}"),
            }
            log = tmp / f"node{index}.log"
            logs.append(log)
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(  # noqa: S603 - our own console script
                        [str(IDP), "serve"], env=node_env, stdout=out, stderr=subprocess.STDOUT
                    )
                )
        for url, process, log in zip(nodes, processes, logs, strict=True):
            _wait_ready(url, process, log)
        yield Cluster(nodes[0], nodes[1], env, prefix, logs, database_url)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for reservation in reservations:
            reservation.close()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def party() -> HttpRelyingParty:
    return HttpRelyingParty("portal", PORTAL_SECRET, "https://portal.example.org/callback")


def _header_kid(token: str) -> str:
    from joserfc import jws

    return str(jws.extract_compact(token.encode()).protected["kid"])


def _jwks_kids(node: str) -> set[str]:
    keys = requests.get(node + "/jwks.json", timeout=TIMEOUT).json()["keys"]
    return {key["kid"] for key in keys}


def test_a_code_issued_at_a_is_redeemed_at_b(cluster: Cluster, party: HttpRelyingParty) -> None:
    code = party.sign_in(cluster.a, "0300000001", DEFAULT_PASSWORD)
    tokens = party.tokens(cluster.b, code)
    jwks = requests.get(cluster.b + "/jwks.json", timeout=TIMEOUT).json()
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(jwks)).claims
    assert claims["iss"] == cluster.a and claims["aud"] == "portal"
    # The code is spent everywhere: a second redemption at either node fails.
    assert party.exchange(cluster.a, code).json()["error"] == "invalid_grant"
    assert party.exchange(cluster.b, code).json()["error"] == "invalid_grant"


def test_a_refresh_token_rotated_at_a_is_refused_when_replayed_at_b(
    cluster: Cluster, party: HttpRelyingParty
) -> None:
    tokens = party.tokens(cluster.a, party.sign_in(cluster.a, "0300000001", DEFAULT_PASSWORD))
    rotated = party.refresh(cluster.a, tokens["refresh_token"])
    assert rotated.status_code == 200
    # The client got the new token and used it (at b): a replay is no retry after a
    # lost answer, so the retry grace does not apply.
    newest = party.refresh(cluster.b, rotated.json()["refresh_token"])
    assert newest.status_code == 200
    replay = party.refresh(cluster.b, tokens["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # Reuse revokes the family: the newest refresh token is dead at both nodes too.
    assert party.refresh(cluster.a, newest.json()["refresh_token"]).status_code == 400


def test_a_key_rotated_by_the_cli_is_published_and_used_by_both(
    cluster: Cluster, party: HttpRelyingParty
) -> None:
    before = _jwks_kids(cluster.a)
    assert before == _jwks_kids(cluster.b)
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(IDP), "keys", "rotate"],
        env={**cluster.env, "IDP_INSTANCE_DIR": str(cluster.logs[0].parent / "cli")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    new_kid = done.stdout.strip().rsplit(" ", 1)[-1]
    assert new_kid not in before
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if all(new_kid in _jwks_kids(node) for node in (cluster.a, cluster.b)):
            break
        time.sleep(0.2)
    # The new RSA key and its ES256 and EdDSA companions join the published ones.
    after = _jwks_kids(cluster.a)
    assert after == _jwks_kids(cluster.b)
    assert new_kid in after and before < after and len(after - before) == 3
    # The worker that answered the JWKS has the new key; every other worker reads the key
    # folder again within its reload interval (1 s), so by then all of them sign with it.
    time.sleep(1.5)
    for node in (cluster.a, cluster.b):
        # Two sign-ins per node, so that both workers of a node are likely asked.
        for _ in range(2):
            tokens = party.tokens(node, party.sign_in(node, "0300000001", DEFAULT_PASSWORD))
            assert _header_kid(tokens["id_token"]) == new_kid


def test_logout_at_a_ends_the_session_at_b(cluster: Cluster, party: HttpRelyingParty) -> None:
    tokens = party.tokens(cluster.a, party.sign_in(cluster.a, "0300000001", DEFAULT_PASSWORD))
    assert "code" in party.silent(cluster.b)  # the same browser is signed in at B
    response = party.browser.get(
        cluster.a + "/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://portal.example.org/",
        },
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.status_code == 302
    assert party.silent(cluster.b)["error"] == "login_required"
    assert party.silent(cluster.a)["error"] == "login_required"


def _post_login(node: str, card: str, password: str) -> requests.Response:
    browser = requests.Session()
    page = browser.get(node + "/login", timeout=TIMEOUT)
    from tests.support.oidc import csrf_token

    return browser.post(
        node + "/login",
        data={"card_number": card, "password": password, "csrf_token": csrf_token(page.text)},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def _scrape(node: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    body = requests.get(node + "/metrics", timeout=TIMEOUT).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_failures_split_across_both_nodes_lock_the_card(cluster: Cluster) -> None:
    failures_at_a_before = _scrape(cluster.a, "idp_logins_total", outcome="invalid_credentials")
    statuses = [
        _post_login(node, "0300000002", f"wrong-{i}").status_code
        for i, node in zip(range(LOCK_AFTER), [cluster.a, cluster.b] * LOCK_AFTER, strict=False)
    ]
    assert statuses[: LOCK_AFTER - 1] == [401] * (LOCK_AFTER - 1)
    # The last failure (at B) is the sixth for the card: locked, even for the right password.
    assert statuses[-1] == 403
    for node in (cluster.a, cluster.b):
        assert _post_login(node, "0300000002", DEFAULT_PASSWORD).status_code == 403
    engine = create_engine(cluster.database_url)
    with engine.connect() as conn:
        locked = conn.execute(
            text("SELECT locked_at FROM patrons WHERE card_number = '0300000002'")
        ).scalar_one()
    engine.dispose()
    assert locked is not None
    # The card's counter lives in the shared Redis (under this cluster's prefix).
    client = redis.Redis.from_url(str(REDIS_URL))
    assert list(client.scan_iter(f"{cluster.redis_prefix}card:*"))
    client.close()
    # Metrics add up both workers of node A (multiprocess mode under gunicorn).
    failures_at_a = _scrape(cluster.a, "idp_logins_total", outcome="invalid_credentials")
    assert failures_at_a - failures_at_a_before == LOCK_AFTER // 2


def test_the_nodes_write_json_access_lines_with_request_ids(cluster: Cluster) -> None:
    response = requests.get(
        cluster.b + "/healthz", headers={"X-Request-ID": "two-nodes-check-0001"}, timeout=TIMEOUT
    )
    assert response.headers["X-Request-ID"] == "two-nodes-check-0001"
    deadline = time.monotonic() + 5
    line: dict[str, Any] | None = None
    while line is None and time.monotonic() < deadline:
        for raw in cluster.logs[1].read_text().splitlines():
            entry = json.loads(raw)  # every line is JSON, gunicorn's own included
            if entry.get("request_id") == "two-nodes-check-0001":
                line = entry
        time.sleep(0.1)
    assert line is not None
    assert line["path"] == "/healthz" and line["status"] == 200 and line["method"] == "GET"
    everything = cluster.logs[0].read_text() + cluster.logs[1].read_text()
    assert DEFAULT_PASSWORD not in everything and PORTAL_SECRET not in everything
    assert "code=" not in everything


def _cli(cluster: Cluster, *args: str) -> None:
    subprocess.run(  # noqa: S603 - our own console script
        [str(IDP), *args],
        env={**cluster.env, "IDP_INSTANCE_DIR": str(cluster.logs[0].parent / "cli")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_a_client_disabled_by_the_cli_is_refused_at_both_nodes_at_once(
    cluster: Cluster, party: HttpRelyingParty
) -> None:
    tokens = party.tokens(cluster.a, party.sign_in(cluster.a, "0300000001", DEFAULT_PASSWORD))
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    nodes = (cluster.a, cluster.b)
    for node in nodes:
        for _ in range(4):  # every worker of both nodes has seen the client
            assert requests.get(node + "/userinfo", headers=bearer, timeout=TIMEOUT).ok
    _cli(cluster, "clients", "disable", "portal")
    try:
        for node in nodes:
            for _ in range(4):
                answer = requests.get(node + "/userinfo", headers=bearer, timeout=TIMEOUT)
                assert answer.status_code == 401
            refused = party.refresh(node, tokens["refresh_token"])
            assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
            introspection = requests.post(
                node + "/introspect",
                data={"token": tokens["access_token"]},
                auth=(party.client_id, party.secret),
                timeout=TIMEOUT,
            )
            assert introspection.status_code == 401
    finally:
        _cli(cluster, "clients", "enable", "portal")
    # Enabling it again does not bring back the tokens that disabling ended.
    assert requests.get(cluster.b + "/userinfo", headers=bearer, timeout=TIMEOUT).status_code == 401
