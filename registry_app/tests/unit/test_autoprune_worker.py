"""The autoprune worker (workers/autoprune.py) on a real SQLite database, built by wiring.py:
DEFAULT_NAMESPACE_AUTOPRUNE_POLICY applied to every namespace, immutable tags skipped, pruned tags
ended (kept in the history) and logged as ``autoprune_tag_delete``; a singleton on its lease."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from registry_app.config import Config, embedded_default
from registry_app.db.models import LogEntry, Tag
from registry_app.settings import Settings
from registry_app.wiring import Core, build_core, build_workers
from registry_app.workers.autoprune import LEASE_NAME, AutoPruneWorker

OCI = "application/vnd.oci.image.manifest.v1+json"


def config(tmp_path: Path, **values: Any) -> Settings:
    base = embedded_default(tmp_path, "127.0.0.1", 5999)
    return Config(values={**base.values, **values}, data_dir=base.data_dir).settings


def push(core: Core, repo_name: str, tag: str) -> None:
    namespace, name = repo_name.split("/")
    repo = core.store.get_repo(namespace, name) or core.store.create_repo(namespace, name, "private", True)
    digest = "sha256:" + f"{abs(hash((repo_name, tag))):064d}"[-64:]
    core.store.put_manifest(repo.id, digest, OCI, None, None, None, json.dumps({"t": tag}).encode(), [], [], [tag])
    time.sleep(0.003)  # distinct push times


def live(core: Core, repo_name: str) -> list[str]:
    namespace, name = repo_name.split("/")
    repo = core.store.get_repo(namespace, name)
    assert repo is not None
    return sorted(core.store.list_tags(repo.id, None, None))


def test_default_policy_prunes_every_namespace_but_not_immutable_tags(tmp_path: Path) -> None:
    core = build_core(config(tmp_path, DEFAULT_NAMESPACE_AUTOPRUNE_POLICY={"method": "number_of_tags", "value": 2}))
    for tag in ("a", "b", "c", "d"):
        push(core, "acme/web", tag)
    for tag in ("x", "y"):
        push(core, "other/api", tag)
    assert core.tag_policy is not None
    repo = core.store.get_repo("acme", "web")
    assert repo is not None
    assert core.tag_policy.store.set_immutable(repo.id, "a", True, True) is False

    worker = build_workers(core, ["autoprune"]).get("autoprune")
    assert isinstance(worker, AutoPruneWorker)
    assert worker.round()
    # "a" is immutable: neither counted nor pruned; of the others the two newest stay
    assert live(core, "acme/web") == ["a", "c", "d"]
    assert live(core, "other/api") == ["x", "y"]
    assert worker.stats().items == 1
    core.audit.flush()
    with core.engine.connect() as conn:
        entries = conn.execute(select(LogEntry.kind, LogEntry.metadata_json, LogEntry.repository_id)).all()
        ended = conn.execute(select(Tag.name).where(Tag.lifetime_end_ms.is_not(None))).scalars().all()
    pruned = [(json.loads(m), r) for k, m, r in entries if k == "autoprune_tag_delete"]
    assert pruned == [({"performer": "autoprune worker", "namespace": "acme", "repo": "web", "tag": "b"}, repo.id)]
    assert ended == ["b"]  # ended, not removed: the time machine keeps it
    assert worker.round() and worker.stats().items == 1  # nothing more to prune


def test_feature_off_leaves_tags_alone(tmp_path: Path) -> None:
    core = build_core(config(tmp_path, FEATURE_AUTO_PRUNE=False))
    assert core.tag_policy is not None and not core.tag_policy.settings.autoprune
    assert "autoprune" not in build_workers(core).names
    lease = build_workers(build_core(config(tmp_path / "on")), ["autoprune"]).get("autoprune")
    assert lease is not None and lease.lease is not None and lease.lease.name == LEASE_NAME


def test_label_expiry_and_deletes_skip_or_refuse_immutable_tags(tmp_path: Path) -> None:
    """``quay.expires-after`` (Store.set_tag_expiration) leaves immutable tags without expiration;
    deleting one (by tag or by its manifest's digest) raises TagImmutable and changes nothing."""
    from registry_app.db.store import TagImmutable

    core = build_core(config(tmp_path))
    assert core.tag_policy is not None
    for tag in ("locked", "free"):
        push(core, "acme/web", tag)
    repo = core.store.get_repo("acme", "web")
    assert repo is not None
    core.tag_policy.store.set_immutable(repo.id, "locked", True, True)
    core.store.set_tag_expiration(repo.id, ["locked", "free"], int(time.time() * 1000) + 3_600_000)
    with core.engine.connect() as conn:
        rows = dict(conn.execute(select(Tag.name, Tag.expiration_ms).where(Tag.lifetime_end_ms.is_(None))).all())
    assert rows["locked"] is None and rows["free"] is not None
    with pytest.raises(TagImmutable):
        core.store.delete_tag(repo.id, "locked")
    digest = "sha256:" + f"{abs(hash(('acme/web', 'locked'))):064d}"[-64:]
    with pytest.raises(TagImmutable):
        core.store.delete_manifest(repo.id, digest)
    assert live(core, "acme/web") == ["free", "locked"]
