"""Password checks are cached by what they depend on, on SQLite and on a real PostgreSQL (issue 9,
item 3).

argon2 is the expensive part of a login. A verified password is remembered for as long as the
account's credential is unchanged, so writes elsewhere in the database (every pull writes an audit
entry) do not make the next login pay for argon2 again, while a changed password, a disabled or
deleted user, a revoked app-specific token or a regenerated robot token stop working at once.
Hash checks run at most about one per CPU at a time. The service runs in-process on a real database
(the same code the server runs); the hash function is observed, not replaced.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_app.config import load_bundle
from registry_app.db.engine import ensure_schema, make_engine, migrate
from registry_app.db.store import Store
from registry_app.services import auth as auth_module
from registry_app.services.auth import PASSWORDS, AuthService
from registry_app.services.errors import Unauthorized
from tests.support.bundle import write_bundle


class HashSpy:
    """Counts argon2/bcrypt verifications and the most that ran at once (each takes at least
    ``hold`` seconds, so that concurrent ones overlap)."""

    def __init__(self, real: Callable[..., Any], hold: float = 0.0) -> None:
        self.real = real
        self.hold = hold
        self.calls = 0
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if self.hold:
                time.sleep(self.hold)
            return self.real(*args, **kwargs)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def auth(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuthService]:
    if request.param == "sqlite":
        db_uri = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        db_uri = request.getfixturevalue("pg_database")
    bundle = write_bundle(tmp_path / "bundle", SERVER_HOSTNAME="registry.test", DB_URI=db_uri)
    config = load_bundle(bundle)
    engine = make_engine(config.db_uri, None)
    if config.is_sqlite:
        ensure_schema(engine, auto_migrate=True)
    else:
        migrate(engine)
    try:
        settings = config.settings
        yield AuthService(Store(engine), settings.auth, settings.secrets, settings.tags)
    finally:
        engine.dispose()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> HashSpy:
    s = HashSpy(PASSWORDS.verify)
    monkeypatch.setattr(auth_module.PASSWORDS, "verify", s)
    return s


def unrelated_writes(auth: AuthService, n: int = 3) -> None:
    """Writes that have nothing to do with the account: new users and repositories."""
    for _ in range(n):
        name = f"someone{os.urandom(4).hex()}"
        auth.identity.create_user(name, None, None)
        auth.store.create_repo(name, "repo", "private", False)


def refused(fn: Callable[[], Any]) -> bool:
    try:
        fn()
    except Unauthorized:
        return True
    return False


def test_unrelated_writes_do_not_void_a_verified_password(auth: AuthService, spy: HashSpy) -> None:
    auth.create_user("alice", "alice-password-1", None)
    assert auth.verify_password("alice", "alice-password-1").username == "alice"
    assert spy.calls == 1
    for _ in range(3):
        unrelated_writes(auth)
        assert auth.verify_password("alice", "alice-password-1").username == "alice"
    assert spy.calls == 1, "argon2 ran again although the account did not change"


def test_account_changes_take_effect_at_once(auth: AuthService, spy: HashSpy) -> None:
    alice = auth.create_user("alice", "alice-password-1", None)
    assert auth.verify_password("alice", "alice-password-1").user_id == alice.id
    # a new password: the old one fails at once, the new one works
    auth.identities.update_account(alice.id, password_hash=PASSWORDS.hash("alice-password-2"))
    assert refused(lambda: auth.verify_password("alice", "alice-password-1"))
    assert auth.verify_password("alice", "alice-password-2").user_id == alice.id
    # disabled, then enabled again
    auth.identities.update_account(alice.id, enabled=False)
    assert refused(lambda: auth.verify_password("alice", "alice-password-2"))
    auth.identities.update_account(alice.id, enabled=True)
    assert auth.verify_password("alice", "alice-password-2").user_id == alice.id
    # deleted, and a new account of the same name with the same password is a different account
    auth.identities.delete_account(alice.id)
    assert refused(lambda: auth.verify_password("alice", "alice-password-2"))
    again = auth.create_user("alice", "alice-password-2", None)
    assert auth.verify_password("alice", "alice-password-2").user_id == again.id != alice.id


def test_token_credentials_are_rechecked(auth: AuthService, spy: HashSpy) -> None:
    bob = auth.create_user("bob", "bob-password-1", None)
    row = auth.identity.create_app_token(bob, "ci")
    code = auth.identity.app_token_code(row)
    assert code is not None
    robot, robot_token = auth.identity.create_robot(bob, "builder")
    for _ in range(2):
        assert auth.verify_password("$app", code).user_id == bob.id
        assert auth.verify_password(robot.username, robot_token).user_id == robot.id
        unrelated_writes(auth, 1)
    auth.identities.delete_app_token(row.id)
    assert refused(lambda: auth.verify_password("$app", code))
    new_robot_token = auth.identity.regenerate_robot(robot)
    assert refused(lambda: auth.verify_password(robot.username, robot_token))
    assert auth.verify_password(robot.username, new_robot_token).user_id == robot.id
    auth.identities.update_account(bob.id, enabled=False)
    other = auth.identity.create_app_token(bob, "other")
    other_code = auth.identity.app_token_code(other)
    assert other_code is not None and refused(lambda: auth.verify_password("$app", other_code))
    assert spy.calls == 0  # none of these is a password


def test_hash_checks_are_bounded_by_the_cpu_count(auth: AuthService, monkeypatch: pytest.MonkeyPatch) -> None:
    cpus = os.cpu_count() or 1
    n = 4 * cpus + 4
    for i in range(n):
        auth.create_user(f"user{i}", f"password-{i}", None)
    spy = HashSpy(PASSWORDS.verify, hold=0.05)
    monkeypatch.setattr(auth_module.PASSWORDS, "verify", spy)
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def login(i: int) -> None:
        barrier.wait()
        try:
            assert auth.verify_password(f"user{i}", f"password-{i}").username == f"user{i}"
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=login, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert spy.calls == n
    assert spy.peak <= cpus, f"{spy.peak} hash checks ran at once on {cpus} CPUs"
