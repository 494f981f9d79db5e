from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from tests.support.bundle import ADMIN as ADMIN  # the superuser the fixtures create; tests import it from here
from tests.support.bundle import bundle_server, start_https_registry
from tests.support.engines import ContainersClients, ensure_containers_conf, require
from tests.support.oci import Client
from tests.support.server import RegistryServer

if TYPE_CHECKING:
    from tests.support.clair import ClairServer
    from tests.support.postgres import PostgresServer
    from tests.support.s3 import SeaweedServer
    from tests.support.tls import CertificateAuthority
    from tests.support.vulnfeed import VulnFeed


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """One embedded-default server for a whole test module (tests use distinct repositories)."""
    server = RegistryServer(data_dir=tmp_path_factory.mktemp("shared") / "data")
    server.create_user(*ADMIN, superuser=True)
    with server.start():
        yield server


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A fresh embedded-default server (SQLite + filesystem) with superuser ``admin``."""
    server = RegistryServer(data_dir=tmp_path / "data")
    server.create_user(*ADMIN, superuser=True)
    with server.start():
        yield server


@pytest.fixture
def client(registry: RegistryServer) -> Iterator[Client]:
    """A /v2 client (tests/support/oci.py) logged in as ``admin`` to this test's ``registry``."""
    c = Client(registry.url, auth=ADMIN)
    yield c
    c.close()


# --- Real PostgreSQL -------------------------------------------------------------------------------


def missing_dependency(reason: str) -> NoReturn:
    """Skip on a developer machine; fail in CI (CI=true), where every dependency must be installed."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set: .ci/run must install it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL 15 cluster on a free loopback port, shared by the session (one per xdist worker)."""
    from tests.support.postgres import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as exc:
        missing_dependency(str(exc))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_database(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database owned by a fresh role with a random password: its DB_URI."""
    user, password, dbname = postgres_server.create_database()
    try:
        yield postgres_server.uri(user, password, dbname)
    finally:
        postgres_server.drop_database(user, dbname)


@pytest.fixture
def pg_registry(tmp_path: Path, pg_database: str) -> Iterator[RegistryServer]:
    """A server on a Quay config bundle backed by real PostgreSQL, with superuser ``admin``."""
    server = bundle_server(tmp_path, prefix="pg-", admin=True, DB_URI=pg_database, FEATURE_SUPERUSERS_FULL_ACCESS=True)
    with server.start():
        yield server


# --- A real S3 server (SeaweedFS) -----------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """SeaweedFS's S3 gateway on a free loopback port with generated keys, shared by the session
    (one per xdist worker); tests make their own bucket or use a fresh ``storage_path`` prefix."""
    from tests.support.s3 import S3Unavailable, SeaweedServer

    server = SeaweedServer(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.start()
    except S3Unavailable as exc:
        missing_dependency(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_registry(tmp_path: Path, s3_server: SeaweedServer) -> Iterator[RegistryServer]:
    """A server on a Quay config bundle whose storage is S3Storage on the real SeaweedFS (a fresh
    bucket; SQLite metadata), with superuser ``admin``; blob GETs redirect to presigned URLs."""
    storage = ["S3Storage", s3_server.s3_storage_params(s3_server.bucket(), "/datastorage/registry")]
    server = bundle_server(
        tmp_path, prefix="s3-", admin=True, DISTRIBUTED_STORAGE_CONFIG={"default": storage},
        FEATURE_SUPERUSERS_FULL_ACCESS=True,
    )  # fmt: skip
    with server.start():
        yield server


# --- HTTPS server with a test CA (real-client e2e tests) -------------------------------------------


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    """A throw-away CA (CA:TRUE, keyCertSign) shared by the session; ``test_ca.cert_path`` is the PEM."""
    from tests.support.tls import make_ca

    return make_ca(tmp_path_factory.mktemp("test-ca"))


@pytest.fixture
def registry_https(tmp_path: Path, test_ca: CertificateAuthority) -> Iterator[RegistryServer]:
    """Like ``registry`` but HTTPS (PREFERRED_URL_SCHEME https, cert from ``test_ca``) on a config bundle.

    Clients must be told to trust ``test_ca.cert_path`` (``server.ca_file``); nothing here installs it.
    """
    with start_https_registry(tmp_path, test_ca) as server:
        yield server


# --- podman / buildah / skopeo (tests/support/engines.py) -----------------------------------------


@pytest.fixture(scope="session")
def containers_conf() -> None:
    """runc is there and containers.conf has what the clients need here (``ensure_containers_conf``)."""
    require("runc")
    ensure_containers_conf()


@pytest.fixture
def cc(tmp_path: Path, containers_conf: None) -> Iterator[ContainersClients]:
    """skopeo/podman/buildah with storage and auth file private to this test."""
    with ContainersClients(tmp_path / "containers") as clients:
        yield clients


# --- Real Clair v4 with a vulnerability feed on loopback (tests/support/clair.py, vulnfeed.py) -----


@pytest.fixture
def vuln_feed() -> Iterator[VulnFeed]:
    """A Debian security-tracker feed on loopback (``plant(...)`` vulnerabilities into it)."""
    from tests.support.vulnfeed import VulnFeed

    with VulnFeed() as feed:
        yield feed


@pytest.fixture
def clair(
    tmp_path: Path, postgres_server: PostgresServer, vuln_feed: VulnFeed
) -> Iterator[Callable[..., ClairServer]]:
    """Factory: ``clair(feed=vuln_feed, webhook_url=None, psk=None, period="1m")`` starts a real Clair.

    Each call gets its own database in the session's PostgreSQL and its own work directory; every
    Clair started is stopped and its database dropped afterwards. The binary is CLAIR_BIN or the
    one scripts/build-go-tools caches; without it the test is skipped (fails in CI).
    """
    from tests.support.clair import clair_binary, start_clair

    binary = clair_binary()
    if binary is None:
        missing_dependency("no Clair binary (scripts/build-go-tools builds it; or set CLAIR_BIN)")
    started: list[ClairServer] = []
    databases: list[tuple[str, str]] = []

    def start(*, feed: VulnFeed | None = None, **kwargs: object) -> ClairServer:
        user, password, dbname = postgres_server.create_database()
        databases.append((user, dbname))
        server = start_clair(
            tmp_path / f"clair-{len(databases)}",
            postgres_server.uri(user, password, dbname),
            feed=feed or vuln_feed,
            binary=binary,
            **kwargs,  # type: ignore[arg-type]
        )
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
        for user, dbname in databases:
            postgres_server.drop_database(user, dbname)
