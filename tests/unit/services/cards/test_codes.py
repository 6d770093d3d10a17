"""Rotating card codes: TOTP steps, skew window, replay memory (real Redis)."""

from __future__ import annotations

import hmac
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from idp.services.cards.codes import CardCodeSettings
from idp.services.cards.codes import IssuedCode
from idp.services.cards.codes import RedisReplayStore
from idp.services.cards.codes import ReplayStore
from idp.services.cards.codes import ScanResult
from idp.services.cards.codes import current_code
from idp.services.cards.codes import derive_card_key
from idp.services.cards.codes import match_code
from idp.services.cards.codes import split_value
from idp.services.cards.codes import verify_scan

SECRET = b"card-code test secret, 32 bytes!"
CARD = "0300012345"
STEP = 30
#: The first second of a time step (2023-11-14), so offsets below land where they say.
T0 = 56_666_667 * STEP


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings() -> CardCodeSettings:
    return CardCodeSettings(secret=SECRET)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


class ClockedReplayStore:
    """Replay memory on the test's clock, so that the scan rules can be tested without a
    store; the stores the server uses are tested below and in tests/card/."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._expires_at: dict[str, float] = {}

    def claim(self, key: str, ttl_seconds: int) -> bool:
        now = self._clock()
        self._expires_at = {k: at for k, at in self._expires_at.items() if at > now}
        if key in self._expires_at:
            return False
        self._expires_at[key] = now + ttl_seconds
        return True

    def __len__(self) -> int:
        return len(self._expires_at)


@pytest.fixture
def replay(clock: FakeClock) -> ClockedReplayStore:
    return ClockedReplayStore(clock)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        client.close()
        pytest.skip(f"Redis at 127.0.0.1:6379 is unreachable: {exc}")
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    prefix = f"idp-test:card-replay:{uuid.uuid4().hex}:"
    yield prefix
    for key in redis_client.scan_iter(match=prefix + "*"):
        redis_client.delete(key)


# --- issuing ---------------------------------------------------------------------------


def test_value_is_card_number_followed_by_six_digit_code(settings: CardCodeSettings) -> None:
    issued = current_code(settings, CARD, T0 + 7)

    assert issued.card_number == CARD
    assert issued.value == CARD + issued.code
    assert len(issued.code) == 6
    assert issued.code.isascii()
    assert issued.code.isdigit()
    assert issued.step == T0 // STEP
    assert (issued.valid_from, issued.valid_until) == (T0, T0 + STEP)


def test_code_is_pinned_to_hkdf_and_rfc6238(settings: CardCodeSettings) -> None:
    # Known answer: if this changes, every card on every phone stops scanning at once.
    assert current_code(settings, CARD, T0) == IssuedCode(
        card_number=CARD,
        value=CARD + "312472",
        code="312472",
        step=T0 // STEP,
        valid_from=T0,
        valid_until=T0 + STEP,
    )


def test_code_is_rfc6238_totp_sha256_of_the_step(settings: CardCodeSettings) -> None:
    issued = current_code(settings, CARD, T0 + 11)
    # RFC 4226 §5.3 written out once, as an independent reference for the library call.
    mac = hmac.digest(derive_card_key(settings, CARD), issued.step.to_bytes(8, "big"), "sha256")
    offset = mac[-1] & 0x0F
    number = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFF_FFFF

    assert issued.code == f"{number % 10**6:06d}"


def test_card_key_is_hkdf_sha256_with_card_number_in_info(settings: CardCodeSettings) -> None:
    expected = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"idp card-code v1\x00" + CARD.encode(),
    ).derive(SECRET)

    assert derive_card_key(settings, CARD) == expected


def test_code_is_stable_within_a_step_and_changes_at_its_end(settings: CardCodeSettings) -> None:
    first = current_code(settings, CARD, T0)
    last_moment = current_code(settings, CARD, T0 + STEP - 0.001)
    next_step = current_code(settings, CARD, T0 + STEP)

    assert last_moment == first
    assert next_step.step == first.step + 1
    assert next_step.valid_from == first.valid_until
    assert next_step.code != first.code


def test_step_length_is_configurable() -> None:
    settings = CardCodeSettings(secret=SECRET, step_seconds=60, digits=8)

    issued = current_code(settings, CARD, T0 + 59)

    assert len(issued.code) == 8
    assert issued.value == CARD + issued.code
    assert issued.valid_until - issued.valid_from == 60
    assert current_code(settings, CARD, issued.valid_until).code != issued.code


def test_keys_differ_per_card(settings: CardCodeSettings) -> None:
    assert derive_card_key(settings, CARD) != derive_card_key(settings, "0300012346")
    # "03" + "0001…" must not collide with "030" + "001…": the card number is the whole info.
    assert derive_card_key(settings, "03") != derive_card_key(settings, "030")


def test_keys_differ_per_secret(settings: CardCodeSettings) -> None:
    other = CardCodeSettings(secret=b"another secret, also 32 bytes..")

    assert derive_card_key(settings, CARD) != derive_card_key(other, CARD)
    assert current_code(settings, CARD, T0).code != current_code(other, CARD, T0).code


def test_code_from_another_secret_is_refused(settings: CardCodeSettings) -> None:
    other = CardCodeSettings(secret=b"another secret, also 32 bytes..")
    forged = current_code(other, CARD, T0)

    assert match_code(settings, CARD, forged.code, T0) is None


@pytest.mark.parametrize("card_number", ["", "03-0001", "０３００", "12a", " 123"])
def test_issuing_refuses_card_numbers_that_are_not_ascii_digits(
    settings: CardCodeSettings, card_number: str
) -> None:
    with pytest.raises(ValueError, match="card number must be ASCII digits"):
        current_code(settings, card_number, T0)


def test_issuing_refuses_card_numbers_too_long_for_a_value(settings: CardCodeSettings) -> None:
    with pytest.raises(ValueError, match="card number too long"):
        current_code(settings, "1" * 59, T0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"secret": b"short"}, "at least 16 bytes"),
        ({"step_seconds": 0}, "step_seconds must be at least 1"),
        ({"digits": 5}, "digits must be between 6 and 8"),
        ({"digits": 9}, "digits must be between 6 and 8"),
        ({"accepted_past_steps": -1}, "must not be negative"),
    ],
)
def test_settings_refuse_unusable_values(changes: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"secret": SECRET, **changes}
    with pytest.raises(ValueError, match=message):
        CardCodeSettings(**values)  # type: ignore[arg-type]


# --- matching --------------------------------------------------------------------------


def test_current_step_matches(settings: CardCodeSettings) -> None:
    issued = current_code(settings, CARD, T0 + 3)

    assert match_code(settings, CARD, issued.code, T0 + 29) == issued.step


def test_previous_step_is_accepted_for_clock_skew(settings: CardCodeSettings) -> None:
    issued = current_code(settings, CARD, T0)

    assert match_code(settings, CARD, issued.code, T0 + STEP) == issued.step
    assert match_code(settings, CARD, issued.code, T0 + 2 * STEP - 0.001) == issued.step


def test_two_steps_back_is_refused(settings: CardCodeSettings) -> None:
    issued = current_code(settings, CARD, T0)

    assert match_code(settings, CARD, issued.code, T0 + 2 * STEP) is None


def test_future_step_is_refused(settings: CardCodeSettings) -> None:
    ahead = current_code(settings, CARD, T0 + STEP)

    assert match_code(settings, CARD, ahead.code, T0) is None
    assert match_code(settings, CARD, ahead.code, T0 + STEP - 0.001) is None


def test_no_skew_window_when_no_past_steps_are_accepted() -> None:
    settings = CardCodeSettings(secret=SECRET, accepted_past_steps=0)
    issued = current_code(settings, CARD, T0)

    assert match_code(settings, CARD, issued.code, T0 + STEP - 1) == issued.step
    assert match_code(settings, CARD, issued.code, T0 + STEP) is None


def test_first_step_after_the_epoch_has_no_previous_step(settings: CardCodeSettings) -> None:
    issued = current_code(settings, CARD, 5)

    assert issued.step == 0
    assert match_code(settings, CARD, issued.code, 5) == 0


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12345a", "１２３４５６"])
def test_code_of_wrong_shape_never_matches(settings: CardCodeSettings, code: str) -> None:
    assert match_code(settings, CARD, code, T0) is None


# --- splitting -------------------------------------------------------------------------


def test_split_value_takes_the_code_from_the_end() -> None:
    assert split_value("0300012345557104") == ("0300012345", "557104")
    assert split_value("1234567") == ("1", "234567")
    assert split_value("123456789", code_digits=8) == ("1", "23456789")


def test_split_value_accepts_up_to_64_characters() -> None:
    assert split_value("1" * 64) == ("1" * 58, "1" * 6)
    assert split_value("1" * 65) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "123456",  # a code and no card number
        "abcdefghij",
        "030001234555710A",
        "０３０００１２３４５５５７１０４",  # full-width digits: normalising is the caller's job
        "0300012345 557104",
        "0300012345557104\n",
        "-300012345557104",
        "²300012345557104",  # str.isdigit() says yes; it is not a digit we print
        "1" * 10_000,
    ],
)
def test_malformed_values_are_refused(
    settings: CardCodeSettings, replay: ClockedReplayStore, value: str
) -> None:
    assert split_value(value) is None
    assert verify_scan(settings, value, T0, replay=replay) == ScanResult(None, "malformed")
    assert len(replay) == 0


# --- verifying scans -------------------------------------------------------------------


def test_fresh_scan_is_ok(settings: CardCodeSettings, replay: ClockedReplayStore) -> None:
    issued = current_code(settings, CARD, T0)

    assert verify_scan(settings, issued.value, T0 + 1, replay=replay) == ScanResult(CARD, "ok")


def test_second_scan_of_the_same_code_is_replayed(
    settings: CardCodeSettings, replay: ClockedReplayStore
) -> None:
    issued = current_code(settings, CARD, T0)

    first = verify_scan(settings, issued.value, T0 + 1, replay=replay)
    second = verify_scan(settings, issued.value, T0 + 2, replay=replay)

    assert first == ScanResult(CARD, "ok")
    assert second == ScanResult(CARD, "replayed")


def test_code_used_in_its_step_is_still_replayed_in_the_skew_window(
    settings: CardCodeSettings, clock: FakeClock, replay: ClockedReplayStore
) -> None:
    issued = current_code(settings, CARD, T0)
    assert verify_scan(settings, issued.value, T0, replay=replay).reason == "ok"

    clock.now = T0 + 2 * STEP - 1
    later = verify_scan(settings, issued.value, clock.now, replay=replay)

    assert later == ScanResult(CARD, "replayed")


def test_code_scanned_late_is_expired_not_replayed(
    settings: CardCodeSettings, clock: FakeClock, replay: ClockedReplayStore
) -> None:
    issued = current_code(settings, CARD, T0)
    assert verify_scan(settings, issued.value, T0, replay=replay).reason == "ok"

    clock.now = T0 + 2 * STEP
    late = verify_scan(settings, issued.value, clock.now, replay=replay)

    assert late == ScanResult(CARD, "expired_code")


def test_screenshot_stops_working_two_steps_later(
    settings: CardCodeSettings, replay: ClockedReplayStore
) -> None:
    issued = current_code(settings, CARD, T0 + 29)

    result = verify_scan(settings, issued.value, T0 + 2 * STEP, replay=replay)

    assert result == ScanResult(CARD, "expired_code")
    assert len(replay) == 0


def test_code_from_the_future_is_refused(
    settings: CardCodeSettings, replay: ClockedReplayStore
) -> None:
    ahead = current_code(settings, CARD, T0 + STEP)

    assert verify_scan(settings, ahead.value, T0, replay=replay) == ScanResult(CARD, "expired_code")


def test_wrong_code_is_refused_as_expired(
    settings: CardCodeSettings, replay: ClockedReplayStore
) -> None:
    issued = current_code(settings, CARD, T0)
    wrong = f"{(int(issued.code) + 1) % 1_000_000:06d}"

    assert verify_scan(settings, CARD + wrong, T0, replay=replay) == ScanResult(
        CARD, "expired_code"
    )


def test_code_of_one_card_does_not_open_another(
    settings: CardCodeSettings, replay: ClockedReplayStore
) -> None:
    issued = current_code(settings, CARD, T0)

    result = verify_scan(settings, "0300012346" + issued.code, T0, replay=replay)

    assert result == ScanResult("0300012346", "expired_code")


def test_replay_memory_is_per_card(settings: CardCodeSettings, replay: ClockedReplayStore) -> None:
    one = current_code(settings, CARD, T0)
    other = current_code(settings, "0300012346", T0)

    assert verify_scan(settings, one.value, T0, replay=replay).reason == "ok"
    assert verify_scan(settings, other.value, T0, replay=replay).reason == "ok"


def test_each_step_can_be_used_once(
    settings: CardCodeSettings, clock: FakeClock, replay: ClockedReplayStore
) -> None:
    for offset in range(0, 5 * STEP, STEP):
        clock.now = T0 + offset
        issued = current_code(settings, CARD, clock.now)
        assert verify_scan(settings, issued.value, clock.now, replay=replay).reason == "ok"
        assert verify_scan(settings, issued.value, clock.now, replay=replay).reason == "replayed"


def test_replay_ttl_covers_the_acceptance_window() -> None:
    assert CardCodeSettings(secret=SECRET).replay_ttl_seconds == 60
    assert CardCodeSettings(secret=SECRET, accepted_past_steps=2).replay_ttl_seconds == 90
    assert CardCodeSettings(secret=SECRET, step_seconds=45).replay_ttl_seconds == 90


# --- RedisReplayStore (real Redis on 127.0.0.1:6379) ----------------------------------


def test_redis_store_claims_a_key_once(redis_client: redis.Redis, redis_prefix: str) -> None:
    store: ReplayStore = RedisReplayStore(redis_client, prefix=redis_prefix)

    assert store.claim("0300012345:1", 60) is True
    assert store.claim("0300012345:1", 60) is False
    assert store.claim("0300012345:2", 60) is True


def test_redis_store_sets_the_ttl_on_a_prefixed_key(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    store = RedisReplayStore(redis_client, prefix=redis_prefix)

    store.claim("0300012345:7", 60)

    assert redis_client.get(redis_prefix + "0300012345:7") == b"1"
    assert 0 < redis_client.ttl(redis_prefix + "0300012345:7") <= 60


def test_redis_store_does_not_extend_the_ttl_of_a_used_key(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    store = RedisReplayStore(redis_client, prefix=redis_prefix)
    store.claim("k", 60)
    redis_client.expire(redis_prefix + "k", 5)

    assert store.claim("k", 60) is False
    assert redis_client.ttl(redis_prefix + "k") <= 5


def test_redis_store_claims_again_once_the_key_expired(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    store = RedisReplayStore(redis_client, prefix=redis_prefix)
    store.claim("k", 60)
    # Stands in for the TTL running out, without sleeping.
    redis_client.delete(redis_prefix + "k")

    assert store.claim("k", 60) is True


def test_redis_store_refuses_a_ttl_below_one_second(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    store = RedisReplayStore(redis_client, prefix=redis_prefix)

    with pytest.raises(ValueError, match="ttl_seconds must be at least 1"):
        store.claim("k", 0)
    assert redis_client.exists(redis_prefix + "k") == 0


def test_redis_store_lets_one_of_many_threads_claim_a_key(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    store = RedisReplayStore(redis_client, prefix=redis_prefix)

    wins = _claim_concurrently(store, "shared", threads=16)

    assert wins.count(True) == 1


def test_scan_replayed_through_redis(
    settings: CardCodeSettings, redis_client: redis.Redis, redis_prefix: str
) -> None:
    store = RedisReplayStore(redis_client, prefix=redis_prefix)
    issued = current_code(settings, CARD, T0)

    first = verify_scan(settings, issued.value, T0, replay=store)
    second = verify_scan(settings, issued.value, T0 + STEP, replay=store)

    assert first == ScanResult(CARD, "ok")
    assert second == ScanResult(CARD, "replayed")
    key = f"{redis_prefix}{CARD}:{issued.step}"
    assert 0 < redis_client.ttl(key) <= settings.replay_ttl_seconds


def _claim_concurrently(store: ReplayStore, key: str, *, threads: int) -> list[bool]:
    start = threading.Barrier(threads)
    wins: list[bool] = []
    lock = threading.Lock()

    def claim() -> None:
        start.wait()
        won = store.claim(key, 60)
        with lock:
            wins.append(won)

    workers = [threading.Thread(target=claim) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert len(wins) == threads
    return wins
