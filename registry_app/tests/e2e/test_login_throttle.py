"""Failed password logins slow down the guesser, not the account's owner (issue 9, item 7).

Failures are counted per account *and client address*: an address that guesses wrong
``REGISTRY_APP_LOGIN_FAILURES_PER_ADDRESS`` times in ``REGISTRY_APP_LOGIN_FAILURE_WINDOW`` seconds
gets 429 for that account, while the same account keeps working from other addresses. A looser
ceiling across all addresses (``REGISTRY_APP_LOGIN_FAILURES_PER_ACCOUNT``) still bounds guessing
from many addresses. Robots, app-specific and API tokens are never throttled.

The clients connect from different loopback addresses (127.0.0.2, ...): the whole 127/8 is local
on Linux, so the server sees a different peer address for each.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.support.bundle import bundle_server
from tests.support.server import RegistryServer

PER_ADDRESS = 3
PER_ACCOUNT = 7
OWNER = "owner"
OWNER_PASSWORD = "owner-password-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryServer, str]]:
    """Limits lowered so the test is short; the window is long enough never to roll over during it.
    The first user comes from /api/v1/user/initialize, which also gives an API token."""
    base = tmp_path_factory.mktemp("throttle")
    srv = bundle_server(
        base,
        FEATURE_USER_INITIALIZE=True,
        SUPER_USERS=[OWNER],
        REGISTRY_APP_LOGIN_FAILURES_PER_ADDRESS=PER_ADDRESS,
        REGISTRY_APP_LOGIN_FAILURES_PER_ACCOUNT=PER_ACCOUNT,
        REGISTRY_APP_LOGIN_FAILURE_WINDOW=3600,
    )
    with srv.start():
        body = {"username": OWNER, "password": OWNER_PASSWORD, "email": "owner@example.test", "access_token": True}
        r = httpx.post(f"{srv.url}/api/v1/user/initialize", json=body)
        assert r.status_code == 200, r.text
        yield srv, r.json()["access_token"]


def client(address: str) -> httpx.Client:
    """A client whose connections come from ``address``."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60)


def login(srv: RegistryServer, address: str, user: str, password: str) -> httpx.Response:
    with client(address) as c:
        return c.get(f"{srv.url}/v2/auth", params={"service": srv.host}, auth=(user, password))


def new_user(srv: RegistryServer, token: str, prefix: str) -> tuple[str, str]:
    name = f"{prefix}{secrets.token_hex(4)}"
    r = httpx.post(
        f"{srv.url}/api/v1/superuser/users/", json={"username": name}, headers={"authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    return name, r.json()["password"]


def test_an_attackers_address_is_locked_out_not_the_user(server: tuple[RegistryServer, str]) -> None:
    srv, token = server
    victim, password = new_user(srv, token, "victim")
    codes = [login(srv, "127.0.0.2", victim, f"guess-{i}").status_code for i in range(PER_ADDRESS)]
    assert codes == [401] * PER_ADDRESS
    locked = login(srv, "127.0.0.2", victim, "one-more-guess")
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0, locked.text
    # from the attacker's address even the right password waits: guessing it would be learning it
    assert login(srv, "127.0.0.2", victim, password).status_code == 429
    # the owner, from their own address, is not locked out: on /v2/auth, on /v2 and on the API
    assert login(srv, "127.0.0.1", victim, password).status_code == 200
    with client("127.0.0.3") as c:
        assert c.get(f"{srv.url}/v2/", auth=(victim, password)).status_code == 200
        assert c.get(f"{srv.url}/api/v1/user/", auth=(victim, password)).status_code == 200
    with client("127.0.0.2") as c:
        assert c.get(f"{srv.url}/api/v1/user/", auth=(victim, password)).status_code == 429
    # the attacker's address is locked out of this account only
    other, other_password = new_user(srv, token, "other")
    assert login(srv, "127.0.0.2", other, other_password).status_code == 200


def test_the_per_account_ceiling_still_applies(server: tuple[RegistryServer, str]) -> None:
    srv, token = server
    victim, password = new_user(srv, token, "target")
    failures = 0
    addresses = iter(f"127.0.1.{i}" for i in range(1, 50))
    while failures < PER_ACCOUNT:
        address = next(addresses)
        for _ in range(min(PER_ADDRESS, PER_ACCOUNT - failures)):
            assert login(srv, address, victim, f"guess-{failures}").status_code == 401
            failures += 1
        if failures < PER_ACCOUNT:
            # a success in between clears only its own address's count, not the account's
            assert login(srv, "127.0.0.1", victim, password).status_code == 200
    # the ceiling is reached: the account is locked for every address, the right password included
    for address in ("127.0.0.1", next(addresses)):
        r = login(srv, address, victim, password)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0, r.text
    # other accounts are not affected
    other, other_password = new_user(srv, token, "bystander")
    assert login(srv, "127.0.0.1", other, other_password).status_code == 200


def test_robots_and_tokens_are_never_throttled(server: tuple[RegistryServer, str]) -> None:
    srv, api_token = server
    # the owner's account reaches the ceiling from many addresses
    for i in range(PER_ACCOUNT):
        login(srv, f"127.0.2.{i // PER_ADDRESS + 1}", OWNER, f"guess-{i}")
    assert login(srv, "127.0.0.1", OWNER, OWNER_PASSWORD).status_code == 429
    bearer = {"authorization": f"Bearer {api_token}"}
    # the owner's API token works on the API and as $oauthtoken on /v2/auth
    assert httpx.get(f"{srv.url}/api/v1/user/", headers=bearer).status_code == 200
    assert login(srv, "127.0.0.1", "$oauthtoken", api_token).status_code == 200
    # an app-specific token and a robot made with it work too
    r = httpx.post(f"{srv.url}/api/v1/user/apptoken", json={"title": "ci"}, headers=bearer)
    assert r.status_code == 200, r.text
    assert login(srv, "127.0.0.1", "$app", r.json()["token"]["token_code"]).status_code == 200
    r = httpx.put(f"{srv.url}/api/v1/user/robots/builder", headers=bearer)
    assert r.status_code == 201, r.text
    assert login(srv, "127.0.0.1", f"{OWNER}+builder", r.json()["token"]).status_code == 200
    # wrong tokens are refused (401), but they do not lock the robot or the token out
    for _ in range(PER_ADDRESS + 1):
        assert login(srv, "127.0.0.4", f"{OWNER}+builder", "X" * 64).status_code == 401
        assert login(srv, "127.0.0.4", "$app", "X" * 60).status_code == 401
    assert login(srv, "127.0.0.4", f"{OWNER}+builder", r.json()["token"]).status_code == 200
