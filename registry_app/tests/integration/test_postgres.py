"""registry_app on a real PostgreSQL: schema checks at start-up, migrate, push/pull, races."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from tests.conftest import ADMIN
from tests.support.bundle import write_bundle
from tests.support.oci import Client, Image, sha256
from tests.support.server import RegistryServer, registry_app_bin

pytestmark = pytest.mark.postgres


def _bundle(tmp_path: Path, db_uri: str) -> Path:
    return write_bundle(tmp_path / "bundle", SERVER_HOSTNAME="localhost:1", DB_URI=db_uri)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([registry_app_bin(), *args], capture_output=True, text=True, timeout=120)


def test_serve_refuses_unmigrated_schema_then_migrate_fixes_it(tmp_path: Path, pg_database: str) -> None:
    bundle = _bundle(tmp_path, pg_database)
    proc = _run("serve", "--bind", "127.0.0.1:1", "--config-dir", str(bundle))
    assert proc.returncode == 3 and "run `registry-app migrate`" in proc.stderr, proc.stderr
    password = pg_database.split(":")[2].split("@")[0]
    assert password not in proc.stderr
    proc = _run("migrate", "--config-dir", str(bundle))
    assert proc.returncode == 0 and "migrated from empty to" in proc.stdout, proc.stderr
    proc = _run("migrate", "--config-dir", str(bundle))
    assert "up to date" in proc.stdout


def test_serve_refuses_schema_it_does_not_know(tmp_path: Path, pg_database: str) -> None:
    bundle = _bundle(tmp_path, pg_database)
    assert _run("migrate", "--config-dir", str(bundle)).returncode == 0
    with psycopg.connect(pg_database) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
    proc = _run("serve", "--bind", "127.0.0.1:1", "--config-dir", str(bundle))
    assert proc.returncode == 3 and "does not know" in proc.stderr, proc.stderr


def test_push_pull_and_races_on_postgres(pg_registry: RegistryServer) -> None:
    c = Client(pg_registry.url, auth=ADMIN)
    img = Image.random(n_layers=2, size=256 * 1024)
    assert c.push_image("admin/pg", img, "v1").status_code == 201
    r = c.http.get("/v2/admin/pg/manifests/v1")
    assert r.content == img.manifest() and r.headers["docker-content-digest"] == sha256(img.manifest())
    assert c.http.get(f"/v2/admin/pg/blobs/{sha256(img.layers[1])}").content == img.layers[1]

    shared = Image.random(size=512 * 1024)

    def push(i: int) -> list[int]:
        ci = Client(pg_registry.url, auth=ADMIN)
        try:
            mine = Image(shared.config, [*shared.layers, bytes([i]) * 100])
            return [ci.push_image("admin/pgrace", mine, "same").status_code]
        finally:
            ci.close()

    with ThreadPoolExecutor(8) as pool:
        codes = [c for codes in pool.map(push, range(8)) for c in codes]
    assert codes == [201] * 8
    assert c.http.get("/v2/admin/pgrace/tags/list").json()["tags"] == ["same"]
    assert "Traceback" not in pg_registry.log()
    c.close()
