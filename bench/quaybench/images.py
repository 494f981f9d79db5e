"""Small, unique, valid OCI images (gzip'd tar layers, config, manifest) made in memory."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT_MANIFESTS = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Blob:
    digest: str
    data: bytes


@dataclass
class Image:
    layers: list[Blob]
    config: Blob
    manifest: bytes
    manifest_digest: str
    media_type: str = OCI_MANIFEST


def _layer(label: str, size: int) -> tuple[bytes, bytes]:
    payload = os.urandom(size)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"bench/{label}.bin")
        info.size = len(payload)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, compresslevel=1, mtime=0)


def make_image(label: str, n_layers: int = 1, layer_size: int = 2048) -> Image:
    layers: list[Blob] = []
    diff_ids: list[str] = []
    for i in range(n_layers):
        tar_bytes, gz = _layer(f"{label}-{i}", layer_size)
        diff_ids.append(sha256_digest(tar_bytes))
        layers.append(Blob(sha256_digest(gz), gz))
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Labels": {"bench.label": label}, "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"quay-bench {label} layer {i}"} for i in range(n_layers)],
    }, separators=(",", ":"), sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": b.digest, "size": len(b.data)} for b in layers],
    }, separators=(",", ":")).encode()
    return Image(layers, Blob(sha256_digest(config), config), manifest, sha256_digest(manifest))


def manifest_for_blob(blob_digest: str, blob_size: int, label: str) -> tuple[Image, Blob]:
    """An image whose only layer is an already-uploaded big blob (so registries keep and link it)."""
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Labels": {"bench.label": label}},
        "rootfs": {"type": "layers", "diff_ids": [blob_digest]},
    }, separators=(",", ":"), sort_keys=True).encode()
    cfg = Blob(sha256_digest(config), config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cfg.digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": blob_digest, "size": blob_size}],
    }, separators=(",", ":")).encode()
    return Image([], cfg, manifest, sha256_digest(manifest)), cfg
