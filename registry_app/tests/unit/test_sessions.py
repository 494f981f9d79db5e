"""services/sessions.py with an in-memory store and a clock the test moves: lifetimes, fresh
logins, revocation by password change, CSRF tokens, forged cookies."""

from __future__ import annotations

from dataclasses import dataclass, replace

import jwt
import pytest

from registry_app.services.sessions import SessionService


@dataclass(frozen=True)
class Account:
    id: int
    password_hash: str | None = "$argon2id$first"  # noqa: S105 (a fake hash)
    enabled: bool = True
    robot: bool = False
    organization: bool = False


@dataclass(frozen=True)
class Stored:
    user_id: int
    stamp: str
    login_ms: int
    expires_ms: int


class MemoryStore:
    def __init__(self) -> None:
        self.rows: dict[str, Stored] = {}

    def add(self, key: str, user_id: int, stamp: str, created_ms: int, expires_ms: int) -> None:
        self.rows[key] = Stored(user_id, stamp, created_ms, expires_ms)

    def get(self, key: str) -> Stored | None:
        return self.rows.get(key)

    def set_login(self, key: str, login_ms: int) -> None:
        self.rows[key] = replace(self.rows[key], login_ms=login_ms)

    def delete(self, key: str) -> None:
        self.rows.pop(key, None)

    def delete_user(self, user_id: int) -> int:
        gone = [k for k, v in self.rows.items() if v.user_id == user_id]
        for k in gone:
            del self.rows[k]
        return len(gone)

    def purge_expired(self, now_ms: int) -> int:
        gone = [k for k, v in self.rows.items() if v.expires_ms < now_ms]
        for k in gone:
            del self.rows[k]
        return len(gone)


class World:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.accounts = {1: Account(1), 2: Account(2)}
        self.store = MemoryStore()
        self.sessions: SessionService[Account] = SessionService(
            self.store, self.accounts.get, "the-secret-key", lifetime_s=3600, fresh_s=600, clock=lambda: self.now
        )


@pytest.fixture
def world() -> World:
    return World()


def test_a_session_resolves_until_it_expires(world: World) -> None:
    cookie, session = world.sessions.start(world.accounts[1])
    found = world.sessions.resolve(cookie)
    assert found is not None and found[0] == session and found[1].id == 1
    world.now += 3599
    assert world.sessions.resolve(cookie) is not None
    world.now += 2
    assert world.sessions.resolve(cookie) is None


def test_the_store_never_holds_the_cookie_or_its_session_id(world: World) -> None:
    cookie, _ = world.sessions.start(world.accounts[1])
    sid = jwt.decode(cookie, options={"verify_signature": False})["sid"]
    (key,) = world.store.rows
    assert sid not in key and key not in cookie


def test_fresh_login_window_and_refresh(world: World) -> None:
    cookie, session = world.sessions.start(world.accounts[1])
    assert session.fresh
    world.now += 601
    stale = world.sessions.resolve(cookie)
    assert stale is not None and not stale[0].fresh
    world.sessions.refresh_login(stale[0])
    again = world.sessions.resolve(cookie)
    assert again is not None and again[0].fresh


def test_new_password_or_disabled_account_ends_the_session(world: World) -> None:
    cookie, _ = world.sessions.start(world.accounts[1])
    world.accounts[1] = replace(world.accounts[1], password_hash="$argon2id$second")  # noqa: S106
    assert world.sessions.resolve(cookie) is None
    assert world.store.rows == {}, "an ended session's row is removed"
    cookie, _ = world.sessions.start(world.accounts[1])
    world.accounts[1] = replace(world.accounts[1], enabled=False)
    assert world.sessions.resolve(cookie) is None
    world.accounts[1] = replace(world.accounts[1], enabled=True)
    assert world.sessions.resolve(cookie) is None


def test_end_all_ends_only_that_accounts_sessions(world: World) -> None:
    a1, _ = world.sessions.start(world.accounts[1])
    a2, _ = world.sessions.start(world.accounts[1])
    b, _ = world.sessions.start(world.accounts[2])
    assert world.sessions.end_all(1) == 2
    assert world.sessions.resolve(a1) is None and world.sessions.resolve(a2) is None
    assert world.sessions.resolve(b) is not None


def test_csrf_tokens_belong_to_one_session(world: World) -> None:
    _, s1 = world.sessions.start(world.accounts[1])
    _, s2 = world.sessions.start(world.accounts[1])
    assert s1.csrf_token != s2.csrf_token
    assert SessionService.csrf_ok(s1, s1.csrf_token)
    assert not SessionService.csrf_ok(s1, s2.csrf_token)
    assert not SessionService.csrf_ok(s1, None) and not SessionService.csrf_ok(s1, "")


def test_cookies_signed_with_another_key_are_refused(world: World) -> None:
    cookie, _ = world.sessions.start(world.accounts[1])
    other: SessionService[Account] = SessionService(
        world.store, world.accounts.get, "another-key", clock=lambda: world.now
    )
    assert other.resolve(cookie) is None
    claims = jwt.decode(cookie, options={"verify_signature": False})
    assert world.sessions.resolve(jwt.encode(claims, "another-key", algorithm="HS256")) is None
    assert world.sessions.resolve("not a jwt") is None


@pytest.mark.parametrize("change", [{"robot": True}, {"organization": True}, {"enabled": False}])
def test_only_enabled_people_get_sessions(world: World, change: dict[str, bool]) -> None:
    with pytest.raises(ValueError):
        world.sessions.start(replace(world.accounts[1], **change))
