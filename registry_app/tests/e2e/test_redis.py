"""Redis shared by the app processes (issue 13, item 2), against a real ``redis-server``.

Two ``registry-app serve`` processes on one bundle (``USER_EVENTS_REDIS`` set with a password)
stand for two app hosts. The login backoff counts live in Redis: failures split across both
processes reach one lockout, and flushing Redis lifts it (so the count was Redis's, not the
database's). With Redis stopped, pushes, pulls and logins go on (the database counts meanwhile) and
each process logs once that Redis is unavailable; with Redis started again, the counts are shared
through Redis again and each process logs that it is back.

Pull statistics (``FEATURE_IMAGE_PULL_STATS``): pulls through both processes, by tag and by digest,
reach the database through Redis and show in Quay's ``pull_statistics`` endpoints; counts another
host left in Redis are drained too; pulls made while Redis is down are counted as well.

Clients connect from different loopback addresses (127.0.0.2, ...), as in test_login_throttle.py.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import missing_dependency
from tests.support.bundle import bundle_server
from tests.support.oci import Client, Image
from tests.support.redis import RedisServer, RedisServerUnavailable
from tests.support.server import RegistryServer

PER_ADDRESS = 3
ADMIN = ("admin", "admin-password-" + secrets.token_hex(8))
DB_FILE = "registry.db"  # bundle_config's DB_URI, beside the data directory
UNAVAILABLE = "Redis at 127.0.0.1:{port} is unavailable"
BACK = "Redis at 127.0.0.1:{port} is back"


@dataclass
class Deployment:
    redis: RedisServer
    a: RegistryServer
    b: RegistryServer


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("redis")
    rds = RedisServer(base / "redis")
    try:
        rds.start()
    except RedisServerUnavailable as exc:
        missing_dependency(str(exc))
    a = bundle_server(
        base,
        SUPER_USERS=[ADMIN[0]],
        USER_EVENTS_REDIS=rds.config_block,
        BUILDLOGS_REDIS=rds.config_block,
        REGISTRY_APP_LOGIN_FAILURES_PER_ADDRESS=PER_ADDRESS,
        REGISTRY_APP_LOGIN_FAILURES_PER_ACCOUNT=1000,
        REGISTRY_APP_LOGIN_FAILURE_WINDOW=3600,
        FEATURE_IMAGE_PULL_STATS=True,
    )
    a.create_user(*ADMIN, superuser=True)
    # The second "host": the same bundle and database, its own process and port.
    b = RegistryServer(data_dir=a.data_dir, config_dir=a.config_dir)
    try:
        with a.start(), b.start():
            yield Deployment(rds, a, b)
    finally:
        rds.stop()


def login(srv: RegistryServer, service: str, address: str, user: str, password: str) -> int:
    """The status of a password login at /v2/auth from ``address``."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=60) as c:
        r = c.get(f"{srv.url}/v2/auth", params={"service": service}, auth=(user, password))
        return r.status_code


def new_user(dep: Deployment) -> tuple[str, str]:
    name, password = f"u{secrets.token_hex(4)}", secrets.token_hex(12)
    dep.a.create_user(name, password)
    return name, password


def push_and_pull(srv: RegistryServer, repo: str) -> None:
    image = Image.random()
    with closing(Client(srv.url, auth=ADMIN)) as c:
        r = c.push_image(repo, image, "latest")
        assert r.status_code == 201, r.text
        r = c.http.get(f"/v2/{repo}/manifests/latest", headers={"accept": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 200, r.text
        assert r.content == image.manifest()
        r = c.http.get(f"/v2/{repo}/blobs/{r.json()['layers'][0]['digest']}")
        assert r.status_code == 200 and r.content == image.layers[0]


def lock_out_across_both(dep: Deployment, address: str) -> tuple[str, str]:
    """PER_ADDRESS wrong passwords from ``address``, alternating between the two processes; then the
    right password is refused (429) by both."""
    service = dep.a.host
    user, password = new_user(dep)
    for i in range(PER_ADDRESS):
        srv = (dep.a, dep.b)[i % 2]
        assert login(srv, service, address, user, "wrong") == 401
    assert login(dep.b, service, address, user, password) == 429
    assert login(dep.a, service, address, user, password) == 429
    return user, password


def redis_failures(dep: Deployment, user: str, address: str) -> int:
    value = dep.redis.client().get(f"registry_app:login_failures:{user}\0{address}")
    return int(value) if value is not None else 0


def wait_for(predicate: object, what: str, timeout: float = 120.0) -> None:
    """Poll ``predicate`` (no timing is asserted: the deadline only bounds a broken run)."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.5)


def test_lockout_shared_through_redis(deployment: Deployment) -> None:
    dep = deployment
    user, password = lock_out_across_both(dep, "127.0.0.2")
    assert redis_failures(dep, user, "127.0.0.2") == PER_ADDRESS
    assert redis_failures(dep, user, "") == PER_ADDRESS  # the account-wide count
    # Another address is not locked out, and the password is not in Redis's keys or values.
    assert login(dep.a, dep.a.host, "127.0.0.3", user, password) == 200
    client = dep.redis.client()
    for key in client.scan_iter("*"):
        assert password not in key and password not in str(client.get(key))
    # The counts were Redis's: without them the lockout is gone.
    client.flushdb()
    assert login(dep.b, dep.a.host, "127.0.0.2", user, password) == 200


MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def tag_stats(srv: RegistryServer, repo: str, tag: str) -> dict[str, object]:
    r = httpx.get(f"{srv.url}/api/v1/repository/{repo}/tag/{tag}/pull_statistics", auth=ADMIN, timeout=60)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def manifest_stats(srv: RegistryServer, repo: str, digest: str) -> dict[str, object]:
    r = httpx.get(f"{srv.url}/api/v1/repository/{repo}/manifest/{digest}/pull_statistics", auth=ADMIN, timeout=60)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def pull(srv: RegistryServer, repo: str, ref: str, method: str = "GET") -> str:
    with closing(Client(srv.url, auth=ADMIN)) as c:
        r = c.http.request(method, f"/v2/{repo}/manifests/{ref}", headers={"accept": MANIFEST})
        assert r.status_code == 200, r.text
        return str(r.headers["docker-content-digest"])


def test_pull_statistics(deployment: Deployment) -> None:
    dep = deployment
    repo = f"{ADMIN[0]}/stats"
    with closing(Client(dep.a.url, auth=ADMIN)) as c:
        assert c.push_image(repo, Image.random(), "latest").status_code == 201
    assert tag_stats(dep.b, repo, "latest")["tag_pull_count"] == 0
    digest = pull(dep.a, repo, "latest")
    pull(dep.a, repo, "latest")
    pull(dep.b, repo, "latest")
    pull(dep.b, repo, "latest", "HEAD")  # clients send HEAD before GET: not a pull
    pull(dep.b, repo, digest)

    def flushed() -> bool:
        return tag_stats(dep.a, repo, "latest")["tag_pull_count"] == 3 and (
            manifest_stats(dep.b, repo, digest)["manifest_pull_count"] == 4
        )

    wait_for(flushed, "3 tag pulls and 4 manifest pulls in the database")
    stats = tag_stats(dep.b, repo, "latest")
    assert stats["tag_name"] == "latest" and stats["current_manifest_digest"] == digest
    assert stats["manifest_pull_count"] == 4
    assert isinstance(stats["last_tag_pull_date"], str) and stats["last_tag_pull_date"].endswith("-0000")
    assert manifest_stats(dep.a, repo, digest)["last_manifest_pull_date"] is not None

    # Counts another host left in Redis (the key format of services/pull_stats.py) are drained
    # into the database by these processes' workers.
    client = dep.redis.client()
    pulled_before = manifest_stats(dep.a, repo, digest)["manifest_pull_count"]
    assert pulled_before == 4
    pending = [k for k in client.scan_iter("registry_app:pulls:*") if k != "registry_app:pulls:pending"]
    assert pending == []  # everything was drained
    # The repository's id (the API does not show it), from the SQLite database the processes share.
    with closing(sqlite3.connect(dep.a.data_dir.parent / DB_FILE)) as db:
        (rid,) = db.execute("SELECT id FROM repository WHERE name = 'stats'").fetchone()
    key = f"registry_app:pulls:{rid}:d:\0{digest}"
    client.hset(key, mapping={"count": 10, "last_ms": 1})
    client.sadd("registry_app:pulls:pending", key)
    wait_for(
        lambda: manifest_stats(dep.b, repo, digest)["manifest_pull_count"] == 14,
        "the 10 pulls left in Redis reach the database",
    )
    assert tag_stats(dep.a, repo, "latest")["tag_pull_count"] == 3  # a digest pull is not the tag's


def test_redis_down_then_back(deployment: Deployment) -> None:
    dep = deployment
    port = dep.redis.port
    dep.redis.stop()
    # Pushes and pulls go on through both processes, and logins keep their guard (the database's).
    push_and_pull(dep.a, f"{ADMIN[0]}/down-a")
    push_and_pull(dep.b, f"{ADMIN[0]}/down-b")
    lock_out_across_both(dep, "127.0.0.4")
    push_and_pull(dep.a, f"{ADMIN[0]}/down-a2")
    # Pulls while Redis is down are counted (each process writes its own to the database).
    before = tag_stats(dep.a, f"{ADMIN[0]}/down-a", "latest")["tag_pull_count"]
    assert isinstance(before, int)
    pull(dep.b, f"{ADMIN[0]}/down-a", "latest")
    wait_for(
        lambda: tag_stats(dep.a, f"{ADMIN[0]}/down-a", "latest")["tag_pull_count"] == before + 1,
        "a pull made while Redis is down is counted",
    )
    for srv in (dep.a, dep.b):
        log = srv.log()
        assert log.count(UNAVAILABLE.format(port=port)) == 1, log
        assert dep.redis.password not in log

    dep.redis.start()
    # Each process tries Redis again after its breaker's pause; a failed login from each process
    # is counted in Redis once they do.
    user, _password = new_user(dep)

    def counted_in_redis() -> bool:
        for srv in (dep.a, dep.b):
            assert login(srv, dep.a.host, "127.0.0.5", user, "wrong") in (401, 429)
        return all(BACK.format(port=port) in srv.log() for srv in (dep.a, dep.b))

    wait_for(counted_in_redis, "both processes use Redis again")
    before = redis_failures(dep, user, "127.0.0.5")
    assert before > 0
    assert login(dep.b, dep.a.host, "127.0.0.5", user, "wrong") in (401, 429)
    assert redis_failures(dep, user, "127.0.0.5") == before + 1
    lock_out_across_both(dep, "127.0.0.6")
    for srv in (dep.a, dep.b):
        assert srv.log().count(UNAVAILABLE.format(port=port)) == 1, srv.log()
        assert dep.redis.password not in srv.log()
