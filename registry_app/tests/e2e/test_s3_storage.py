"""registry_app on S3Storage against a real S3 server (SeaweedFS, ``s3_server``), end to end:
a chunked push whose PATCHes alternate between two ``registry-app serve`` processes sharing one
database and one bucket; a pull by skopeo and by ``curl -L`` through the presigned redirect; the
``proxy_downloads`` option that streams blobs through the registry; ``config validate`` on
S3Storage and RadosGWStorage parameters. (The OCI conformance suite on S3Storage is in
test_conformance.py, the driver suite in tests/storage/.)"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server, write_bundle
from tests.support.engines import ContainersClients, require
from tests.support.images import build_image, layout_blobs, read_layout
from tests.support.oci import Client, Image, sha256
from tests.support.s3 import SeaweedServer
from tests.support.server import RegistryServer, registry_app_bin

MiB = 1024 * 1024
ROOT = "/datastorage/registry"


def s3_bundle_server(
    tmp_path: Path, s3_server: SeaweedServer, prefix: str, **params: Any
) -> tuple[RegistryServer, str]:
    bucket = s3_server.bucket()
    storage = ["S3Storage", s3_server.s3_storage_params(bucket, ROOT, **params)]
    server = bundle_server(
        tmp_path, prefix=prefix, admin=True, DISTRIBUTED_STORAGE_CONFIG={"default": storage},
        FEATURE_SUPERUSERS_FULL_ACCESS=True,
    )  # fmt: skip
    return server, bucket


def requests_in_log(server: RegistryServer, method: str, path_part: str) -> list[int]:
    """The statuses of the access-log lines for ``METHOD ...path_part...``."""
    pattern = re.compile(rf'"{method} ([^"]*)" (\d{{3}}) ')
    return [int(m.group(2)) for m in pattern.finditer(server.log()) if path_part in m.group(1)]


def test_chunked_push_across_two_processes(tmp_path: Path, s3_server: SeaweedServer) -> None:
    """The PATCHes of one upload go to two servers in turn (one SQLite file and one bucket between
    them, nothing in memory): the upload state in the database is all the next process needs."""
    first, bucket = s3_bundle_server(tmp_path, s3_server, "two-")
    second = RegistryServer(data_dir=first.data_dir, config_dir=first.config_dir)
    data = os.urandom(13 * MiB + 12_345)
    digest = sha256(data)
    repo = "admin/chunked-s3"
    cuts = [0, 6 * MiB, 7 * MiB + 512 * 1024, 11 * MiB, len(data)]  # big, small, big, last
    with first.start(), second.start():
        clients = [Client(first.url, auth=ADMIN), Client(second.url, auth=ADMIN)]
        try:
            r = clients[0].http.post(f"/v2/{repo}/blobs/uploads/")
            assert r.status_code == 202, r.text
            location = r.headers["location"]
            for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
                client = clients[i % 2]
                r = client.http.patch(location, content=data[lo:hi], headers={
                    "content-type": "application/octet-stream", "content-range": f"{lo}-{hi - 1}"})  # fmt: skip
                assert r.status_code == 202, r.text
                assert r.headers["range"] == f"0-{hi - 1}"
                location = r.headers["location"]
                status = clients[(i + 1) % 2].http.get(location)  # the other process sees the same size
                assert status.status_code == 204 and status.headers["range"] == f"0-{hi - 1}"
            r = clients[1].http.put(location, params={"digest": digest})
            assert r.status_code == 201, r.text
            for client in clients:
                got = client.http.get(f"/v2/{repo}/blobs/{digest}")
                assert got.status_code == 307 and got.headers["docker-content-digest"] == digest
                assert hashlib.sha256(httpx.get(got.headers["location"]).content).hexdigest() == digest[7:]
        finally:
            for client in clients:
                client.close()
    # Read once the servers stopped: an access-log line may be written after its response left.
    assert requests_in_log(first, "PATCH", "/blobs/uploads/") == [202, 202]
    assert requests_in_log(second, "PATCH", "/blobs/uploads/") == [202, 202]
    keys = s3_server.keys(bucket)
    assert f"{ROOT[1:]}/blobs/sha256/{digest[7:9]}/{digest[7:]}" in keys
    assert not [k for k in keys if "/uploads/" in k], keys  # the commit removed the segments
    assert s3_server.multipart_uploads(bucket) == []


def test_pull_through_presigned_redirects(
    s3_registry: RegistryServer, s3_server: SeaweedServer, cc: ContainersClients, tmp_path: Path
) -> None:
    """skopeo pushes and pulls an image back; its blob GETs were answered 307 to SeaweedFS, whose
    signature check let them through. curl -L follows the same redirect for one blob; HEAD is
    answered by the registry (a presigned URL is signed for GET only)."""
    host = s3_registry.host
    image = build_image(tmp_path / "src", "v1", seed="s3-presigned", payload_size=3 * MiB)
    cc.skopeo("login", "--username", ADMIN[0], "--password-stdin", "--tls-verify=false", host, input=ADMIN[1])
    ref = f"docker://{host}/admin/s3-pull:v1"
    cc.skopeo("copy", "--dest-tls-verify=false", f"oci:{image.layout}:v1", ref)
    out = tmp_path / "pulled"
    cc.skopeo("copy", "--src-tls-verify=false", ref, f"oci:{out}:v1")
    digest, manifest = read_layout(out, "v1")
    assert digest == image.digest and manifest == image.manifest
    assert image.blob_digests <= layout_blobs(out)
    statuses = requests_in_log(s3_registry, "GET", "/admin/s3-pull/blobs/sha256:")
    assert statuses and set(statuses) == {307}, statuses

    layer = max(image.blob_digests, key=lambda d: (tmp_path / "src" / "blobs" / "sha256" / d[7:]).stat().st_size)
    curl = require("curl")
    target = tmp_path / "layer"
    proc = subprocess.run(
        [curl, "-sS", "-L", "-K", "-", "-o", str(target), "-w", "%{http_code} %{num_redirects}",
         f"{s3_registry.url}/v2/admin/s3-pull/blobs/{layer}"],
        input=f'user = "{ADMIN[0]}:{ADMIN[1]}"\n', capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert proc.stdout == "200 1", proc.stdout + proc.stderr
    assert "sha256:" + hashlib.sha256(target.read_bytes()).hexdigest() == layer
    client = Client(s3_registry.url, auth=ADMIN)
    try:
        head = client.http.head(f"/v2/admin/s3-pull/blobs/{layer}")
        assert head.status_code == 200 and int(head.headers["content-length"]) == target.stat().st_size
        assert "location" not in head.headers
    finally:
        client.close()


def test_proxy_downloads_stream_through_the_registry(tmp_path: Path, s3_server: SeaweedServer) -> None:
    """``proxy_downloads: true``: GET answers 200 with the blob's bytes (no redirect: a client that
    cannot reach the object store still pulls), ranges 206, HEAD the size; the access log shows
    the GETs answered by the registry itself."""
    server, _ = s3_bundle_server(tmp_path, s3_server, "proxy-", proxy_downloads=True)
    image = Image.random(n_layers=1, size=5 * MiB + 3)
    layer = image.layers[0]
    with server.start():
        client = Client(server.url, auth=ADMIN)
        try:
            r = client.push_image("admin/streamed", image, "v1")
            assert r.status_code == 201, r.text
            url = f"/v2/admin/streamed/blobs/{sha256(layer)}"
            got = client.http.get(url)
            assert got.status_code == 200 and got.content == layer and "location" not in got.headers
            assert got.headers["docker-content-digest"] == sha256(layer)
            part = client.http.get(url, headers={"range": "bytes=5242000-5242879"})
            assert part.status_code == 206 and part.content == layer[5242000:5242880]
            assert part.headers["content-range"] == f"bytes 5242000-5242879/{len(layer)}"
            head = client.http.head(url)
            assert head.status_code == 200 and head.headers["content-length"] == str(len(layer))
            config = client.http.get(f"/v2/admin/streamed/blobs/{sha256(image.config)}")
            assert config.status_code == 200 and config.content == image.config
        finally:
            client.close()
    # Read once the server stopped: an access-log line may be written after its response left.
    assert requests_in_log(server, "GET", "/admin/streamed/blobs/") == [200, 206, 200]


def test_config_validate_names_wrong_s3_parameters(tmp_path: Path) -> None:
    """``registry-app config validate`` reports each wrong S3Storage/RadosGWStorage parameter by
    name, never a value (the secret key included), and accepts a correct bundle."""
    secret = "Sup3r-s3cret-value"  # noqa: S105 -- must never be echoed
    bad = {
        "default": ["S3Storage", {"storage_path": "/r", "s3_secret_key": secret, "port": "eighty", "is_secure": "no",
                                  "bucket": "mine"}],
        "ceph": ["RadosGWStorage", {"hostname": "gw", "is_secure": False, "storage_path": "/r", "access_key": "AK",
                                    "secret_key": secret}],
    }  # fmt: skip
    bundle = write_bundle(tmp_path / "bad", DISTRIBUTED_STORAGE_CONFIG=bad, DISTRIBUTED_STORAGE_PREFERENCE=["default"])
    proc = subprocess.run(
        [registry_app_bin(), "config", "validate", "--config-dir", str(bundle)], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    for needle in (
        "DISTRIBUTED_STORAGE_CONFIG.default: S3Storage needs s3_bucket",
        "DISTRIBUTED_STORAGE_CONFIG.default: S3Storage has no parameter 'bucket'",
        "DISTRIBUTED_STORAGE_CONFIG.default: S3Storage parameter port must be an integer",
        "DISTRIBUTED_STORAGE_CONFIG.default: S3Storage parameter is_secure must be true or false",
        "DISTRIBUTED_STORAGE_CONFIG.ceph: RadosGWStorage needs bucket_name",
    ):
        assert needle in text, text
    assert secret not in text and "eighty" not in text

    good = {
        "default": ["S3Storage", {"storage_path": "/r", "s3_bucket": "b", "s3_access_key": "AK",
                                  "s3_secret_key": secret, "host": "s3.example.test", "port": 8443,
                                  "proxy_downloads": True}],
        "ceph": ["RadosGWStorage", {"hostname": "gw", "is_secure": True, "storage_path": "/r", "access_key": "AK",
                                    "secret_key": secret, "bucket_name": "b", "server_side_assembly": False}],
    }  # fmt: skip
    bundle = write_bundle(
        tmp_path / "good", SERVER_HOSTNAME="registry.example.test", DISTRIBUTED_STORAGE_CONFIG=good,
        DISTRIBUTED_STORAGE_PREFERENCE=["ceph"],
    )
    assert yaml.safe_load((bundle / "config.yaml").read_text())["DISTRIBUTED_STORAGE_CONFIG"] == good
    proc = subprocess.run(
        [registry_app_bin(), "config", "validate", "--config-dir", str(bundle)], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0 and "valid" in proc.stdout, proc.stdout + proc.stderr
    assert secret not in proc.stdout + proc.stderr
