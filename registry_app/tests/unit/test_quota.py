"""Quota accounting (db/quota.py) and Quay's limit rules (services/quota.py) on real SQLite and
PostgreSQL: consumption counts a blob once per namespace, the check picks the highest limit
reached, the push checks refuse at a Reject limit and record Quay's events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from registry_app.db.engine import make_engine, migrate
from registry_app.db.quota import QuotaStore
from registry_app.db.store import Store
from registry_app.services.quota import (
    QUOTA_EXCEEDED,
    QuotaError,
    QuotaExceeded,
    QuotaService,
    QuotaSettings,
    formatted_bytes,
    human_bytes,
    parse_limit,
)

OCI = "application/vnd.oci.image.manifest.v1+json"


def settings(default: int = 0) -> QuotaSettings:
    return QuotaSettings(enabled=True, default_reject_bytes=default, scheme="https", hostname="reg.test")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, QuotaStore]]:
    uri = f"sqlite:///{tmp_path / 'r.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    engine = make_engine(uri)
    migrate(engine)
    try:
        yield Store(engine), QuotaStore(engine)
    finally:
        engine.dispose()


def blob(n: int) -> str:
    return f"sha256:{n:064x}"


def push(store: Store, repo_id: int, blobs: dict[int, int], tag: str) -> None:
    """A manifest naming blobs {number: size} (linked into the repository first)."""
    for n, size in blobs.items():
        store.link_blob(repo_id, blob(n), size)
    digests = [blob(n) for n in blobs]
    body = json.dumps({"tag": tag, "blobs": digests}).encode()
    store.put_manifest(repo_id, blob(10_000 + len(tag) + sum(blobs)), OCI, None, None, None, body, digests, [], [tag])


def test_a_blob_counts_once_per_namespace(stores: tuple[Store, QuotaStore]) -> None:
    store, quota = stores
    one = store.create_repo("acme", "one", "private", True)
    two = store.create_repo("acme", "two", "private", True)
    other = store.create_repo("else", "x", "private", True)
    push(store, one.id, {1: 100, 2: 1000}, "a")
    push(store, two.id, {1: 100, 3: 10}, "b")  # blob 1 shared with repository one
    push(store, two.id, {3: 10, 4: 5}, "cc")  # blob 3 twice in one repository
    push(store, other.id, {2: 1000}, "d")
    assert quota.namespace_size(one.namespace_id) == 100 + 1000 + 10 + 5
    assert quota.namespace_size(other.namespace_id) == 1000
    assert quota.repository_sizes([one.id, two.id, 999]) == {one.id: 1100, two.id: 115, 999: 0}
    # What a manifest naming blobs 1, 2 and 9 (9: unknown, 5: a blob only linked) would add.
    store.link_blob(one.id, blob(5), 7)
    assert quota.added_bytes(one.namespace_id, [blob(1), blob(2), blob(5), blob(9)]) == 7
    assert quota.added_bytes(other.namespace_id, [blob(1), blob(2)]) == 100


def test_check_picks_the_highest_limit_reached(stores: tuple[Store, QuotaStore]) -> None:
    store, quota = stores
    repo = store.create_repo("acme", "one", "private", True)
    svc = QuotaService(quota, settings())
    ns = repo.namespace_id
    assert svc.check(ns, 10**12).severity_level is None  # no quota, no default: nothing refused
    q = svc.create(ns, "acme", 1000)
    with pytest.raises(QuotaError, match="already exists"):
        svc.create(ns, "acme", 5)
    assert svc.check(ns, 10**6).severity_level is None  # a quota without limits refuses nothing
    svc.add_limit(ns, q.id, "warning", 50)  # Quay accepts the type in any case
    svc.add_limit(ns, q.id, "Reject", 100)
    with pytest.raises(QuotaError, match="Only one quota limit of type 'Reject'"):
        svc.add_limit(ns, q.id, "Reject", 90)
    assert (svc.check(ns, 499).severity_level, svc.check(ns, 500).severity_level) == (None, "Warning")
    top = svc.check(ns, 1000)
    assert (top.severity_level, top.threshold_percent, top.limit_bytes) == ("Reject", 100, 1000)
    assert top.quota_limit_bytes == 1000
    with_default = QuotaService(quota, settings(default=300))
    other = store.create_repo("solo", "x", "private", True)
    assert with_default.check(other.namespace_id, 300).severity_level == "Reject"
    assert [x.default_config for x in with_default.quotas(other.namespace_id)] == [True]


def test_push_checks_refuse_and_record_quays_events(stores: tuple[Store, QuotaStore]) -> None:
    store, quota = stores
    repo = store.create_repo("acme", "one", "private", True)
    svc = QuotaService(quota, settings())
    q = svc.create(repo.namespace_id, "acme", 1000)
    svc.add_limit(repo.namespace_id, q.id, "Warning", 50)
    svc.add_limit(repo.namespace_id, q.id, "Reject", 100)
    store.link_blob(repo.id, blob(1), 600)
    store.link_blob(repo.id, blob(2), 500)
    svc.check_manifest(repo, [blob(1)])  # 0 -> 600: crosses the Warning limit
    push(store, repo.id, {1: 600}, "a")
    svc.check_manifest(repo, [blob(1)])  # adds nothing: no second warning
    with pytest.raises(QuotaExceeded) as refused:
        svc.check_manifest(repo, [blob(1), blob(2)])  # 600 + 500 >= 1000
    assert (refused.value.code, refused.value.status, refused.value.message) == ("DENIED", 403, QUOTA_EXCEEDED)
    with pytest.raises(QuotaExceeded):
        svc.check_manifest(repo, [blob(2)])  # retried: still one undelivered quota_error
    with quota.engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, payload_json FROM repository_event ORDER BY id")).all()
    events = [(kind, json.loads(payload)) for kind, payload in rows]
    assert [kind for kind, _ in events] == ["quota_warning", "quota_error"]
    assert events[0][1] == {
        "namespace": "acme", "homepage": "https://reg.test/organization/acme", "threshold_percent": 50,
        "usage_bytes": 600, "limit_bytes": 1000, "usage_percent": 60, "usage_bytes_formatted": "600 bytes",
        "limit_bytes_formatted": "1000 bytes",
    }  # fmt: skip
    assert events[1][1]["usage_bytes"] == 1100 and events[1][1]["usage_percent"] == 110


def test_human_forms() -> None:
    assert parse_limit("10 GiB") == parse_limit("10G") == 10 * 1024**3
    assert parse_limit("500MB") == 500 * 1000**2
    assert parse_limit("7") == 7
    for bad in ("ten", "1.5 GiB", "10 XB", ""):
        with pytest.raises(ValueError):
            parse_limit(bad)
    assert human_bytes(1000) == "1000.0 Byte"
    assert human_bytes(10 * 1024**2) == "10.0 MiB"
    assert formatted_bytes(858993459) == "819.20 MB"  # Quay's sample quota_warning data
    assert formatted_bytes(1073741824) == "1.00 GB"
