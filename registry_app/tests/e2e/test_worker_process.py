"""Background workers in a process of their own: ``registry-app serve --no-workers`` (two server
processes) beside ``registry-app worker``, with a REAL Clair v4 (combo mode, its own PostgreSQL
database) and the loopback vulnerability feed, as in test_secscan.py.

The server processes record scans and deletes but run no shared worker; the separate worker
process indexes the pushed image through Clair (which fetches the layers from the server with the
worker's pull token), stops gracefully on SIGTERM giving its lease back, and deletes Clair's index
report of a deleted manifest from the queue the server filled. Waits poll with generous deadlines.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, missing_dependency
from tests.e2e.test_secscan import SCAN_DEADLINE, push_layout, wait_for
from tests.support.bundle import cli, write_bundle
from tests.support.clair import ClairServer, DebianImage, build_debian_image, clair_binary, start_clair
from tests.support.oci import Client
from tests.support.server import RegistryServer, WorkerProcess
from tests.support.vulnfeed import VulnFeed

pytestmark = [pytest.mark.postgres]

NS = ADMIN[0]
CVE = "CVE-2099-51001"


@dataclass
class Stack:
    registry: RegistryServer
    clair: ClairServer
    client: Client
    api: httpx.Client
    image: DebianImage
    base: Path

    def db(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.base / "registry.db", timeout=30) as conn:
            return list(conn.execute(query, args).fetchall())

    def status(self, repo: str, digest: str) -> str:
        r = self.api.get(f"/api/v1/repository/{repo}/manifest/{digest}/security")
        assert r.status_code == 200, r.text
        return str(r.json()["status"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[Stack]:
    binary = clair_binary()
    if binary is None:
        missing_dependency("no Clair binary (scripts/build-go-tools builds it; or set CLAIR_BIN)")
    base = tmp_path_factory.mktemp("workers")
    from tests.support.clair import DebianRootfsUnavailable

    try:
        image = build_debian_image(base / "image", "latest")
    except DebianRootfsUnavailable as exc:
        missing_dependency(str(exc))
    feed = VulnFeed().start()
    # Clair's matcher answers reports (not 202) once its updater has ingested something.
    feed.plant(package=image.source, fixed_version=f"{image.version}+deb12u99", cve=CVE, severity="medium")
    user, password, dbname = postgres_server.create_database()
    bundle = base / "config"
    registry = RegistryServer(data_dir=base / "data", config_dir=bundle, workers=2, serve_args=("--no-workers",))
    clair = start_clair(base / "clair", postgres_server.uri(user, password, dbname) + "?sslmode=disable", feed=feed)
    try:
        clair.wait_for_feed(feed)
        write_bundle(
            bundle,
            SERVER_HOSTNAME=registry.host,
            PREFERRED_URL_SCHEME="http",
            SUPER_USERS=[ADMIN[0]],
            FEATURE_SUPERUSERS_FULL_ACCESS=True,
            FEATURE_SECURITY_SCANNER=True,
            SECURITY_SCANNER_V4_ENDPOINT=clair.url,
            SECURITY_SCANNER_V4_PSK=clair.psk,
            SECURITY_SCANNER_INDEXING_INTERVAL=1,
            SECURITY_SCANNER_V4_MANIFEST_CLEANUP=True,
        )
        cli(registry, "migrate")
        registry.create_user(*ADMIN, superuser=True)
        registry.start()
        client = Client(registry.url, auth=ADMIN)
        api = httpx.Client(base_url=registry.url, auth=ADMIN, timeout=60)
        try:
            yield Stack(registry, clair, client, api, image, base)
        finally:
            client.close()
            api.close()
            registry.stop()
    finally:
        clair.stop()
        feed.stop()
        postgres_server.drop_database(user, dbname)


def test_the_worker_process_scans_what_the_server_without_workers_received(stack: Stack) -> None:
    assert "background workers: off" in stack.registry.log()
    repo = f"{NS}/debian"
    digest = push_layout(stack.client, repo, stack.image, "latest")
    assert stack.status(repo, digest) == "queued"
    # The two server processes have been up for seconds; none took the security worker's lease.
    assert stack.db("SELECT holder FROM worker_lease WHERE name = 'security-worker'") == []
    # Their audit log is still written (the flush is local to each process, every 0.5 s: the
    # process that took the push may not be the one that answers, so allow it a few flushes).
    def pushed() -> bool:
        logs = stack.api.get(f"/api/v1/repository/{repo}/logs").json()["logs"]
        return "push_repo" in {entry["kind"] for entry in logs}

    wait_for("push_repo in the audit log", pushed, 30, stack.registry.log)

    worker = WorkerProcess(stack.registry, ("security",)).start()
    try:
        logs_of = lambda: worker.log() + "\n--- server ---\n" + stack.registry.log()[-3000:]  # noqa: E731
        wait_for("the scan", lambda: stack.status(repo, digest) == "scanned", SCAN_DEADLINE, logs_of)
        body = stack.api.get(f"/api/v1/repository/{repo}/manifest/{digest}/security?vulnerabilities=true").json()
        assert body["data"]["Layer"]["Name"] == digest and len(body["data"]["Layer"]["Features"]) > 10
        found = {v["Name"] for f in body["data"]["Layer"]["Features"] for v in f["Vulnerabilities"]}
        assert CVE in found
        [(holder,)] = stack.db("SELECT holder FROM worker_lease WHERE name = 'security-worker'")
        assert holder.split(":")[1] == str(worker.proc.pid if worker.proc else None)  # the worker process
        assert f"indexed {repo}@{digest}" in worker.log()
    finally:
        code = worker.stop()
    assert code == 0, worker.log()
    assert "security: stopped" in worker.log()
    # A graceful stop gives the lease back at once: another process need not wait for it to expire.
    assert stack.db("SELECT expires_ms FROM worker_lease WHERE name = 'security-worker'") == [(0,)]
    assert stack.clair.psk not in worker.log()


def test_the_worker_process_deletes_clairs_report_of_a_manifest_deleted_on_the_server(stack: Stack) -> None:
    repo = f"{NS}/short-lived"
    image = build_debian_image(stack.base / "short-lived", "v1", seed="short-lived")
    digest = push_layout(stack.client, repo, image, "v1")
    worker = WorkerProcess(stack.registry).start()  # every worker the configuration turns on
    try:
        logs_of = lambda: worker.log() + "\n--- server ---\n" + stack.registry.log()[-3000:]  # noqa: E731
        wait_for("the scan", lambda: stack.status(repo, digest) == "scanned", SCAN_DEADLINE, logs_of)
        assert stack.clair.index_report(digest).status_code == 200
        r = stack.client.http.delete(f"/v2/{repo}/manifests/{digest}")
        assert r.status_code == 202, r.text
        wait_for(
            "Clair's index report to be deleted",
            lambda: stack.clair.index_report(digest).status_code == 404,
            SCAN_DEADLINE,
            logs_of,
        )
        wait_for(
            "the cleanup queue to empty",
            lambda: stack.db("SELECT count(*) FROM secscan_cleanup") == [(0,)],
            60,
            logs_of,
        )
    finally:
        assert worker.stop() == 0, worker.log()
    assert "clair-cleanup: stopped (" in worker.log()


def test_worker_command_line(stack: Stack) -> None:
    listed = stack.registry.cli("worker", "--list").stdout.decode()
    lines = {line.split()[0]: line for line in listed.splitlines()}
    shared = {"security", "clair-cleanup", "uploads", "notification", "autoprune", "gc", "blob-gc"}
    assert set(lines) == shared | {"audit-flush", "upload-activity", "pull-stats"}
    assert lines["notification"].endswith("[on]") and "queue" in lines["notification"]
    assert lines["gc"].endswith("[on]") and "queue" in lines["gc"] and "queue" in lines["blob-gc"]
    assert lines["security"].endswith("[on]") and "singleton" in lines["security"]
    assert "queue" in lines["clair-cleanup"]
    assert lines["uploads"].endswith("[on]") and "singleton" in lines["uploads"]
    assert "FEATURE_IMAGE_PULL_STATS is not true" in lines["pull-stats"]  # off in this stack
    bad = stack.registry.cli("worker", "nope", "audit-flush", check=False)
    assert bad.returncode == 2
    err = bad.stderr.decode()
    assert (
        "nope: no such worker (workers: security, clair-cleanup, uploads, notification, autoprune, gc, blob-gc)"
        in err
    )
    assert "audit-flush: runs in every process by itself" in err
