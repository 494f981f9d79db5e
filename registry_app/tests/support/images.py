"""Build small OCI images as ``oci:`` layout directories, in pure Python (no network, no engine).

Each image has a shared base layer (a few files, a symlink, a directory), a ~256 KiB incompressible
"payload" layer and, per platform, a layer naming the platform, plus an OCI config that Docker and
Podman accept (rootfs.diff_ids, history, Cmd). Content is derived from ``seed`` so that two tests
never share blobs by accident, and is byte-for-byte reproducible (fixed mtimes, gzip without a
timestamp) so digests are stable.

``build_image(layout, tag, platforms=[...])`` writes one manifest for a single platform, or an OCI
image index over one manifest per platform when several are given; index.json names it with
``org.opencontainers.image.ref.name = tag`` so ``skopeo copy [--all] oci:LAYOUT:TAG ...`` finds it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
REF_NAME = "org.opencontainers.image.ref.name"

CREATED = "2024-01-01T00:00:00Z"
MTIME = 1704067200  # CREATED as a Unix time


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _pseudo_random(seed: str, size: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


def _tar(files: Sequence[tuple[str, bytes | None, str | None]]) -> bytes:
    """Uncompressed tar. Each entry is (path, content, symlink_target); content None + no link = dir."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content, link in files:
            info = tarfile.TarInfo(path)
            info.mtime = MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                info.mode = 0o777
                tar.addfile(info)
            elif content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(content)
                info.mode = 0o755 if path.endswith(".sh") else 0o644
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", filename="", mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return buf.getvalue()


@dataclass
class Layer:
    diff_id: str
    digest: str
    size: int
    data: bytes = field(repr=False)

    @classmethod
    def from_files(cls, files: Sequence[tuple[str, bytes | None, str | None]]) -> Layer:
        raw = _tar(files)
        data = _gzip(raw)
        return cls(sha256_digest(raw), sha256_digest(data), len(data), data)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": OCI_LAYER_GZIP, "digest": self.digest, "size": self.size}


@dataclass
class OciImage:
    """What ``build_image`` wrote. ``digest`` is the top-level manifest (or index) digest."""

    layout: Path
    tag: str
    digest: str
    media_type: str
    manifest: bytes = field(repr=False)
    platform_digests: dict[str, str] = field(default_factory=dict)  # "linux/arm64/v8" -> manifest digest
    blob_digests: set[str] = field(default_factory=set)  # every blob, manifests and index included

    @property
    def ref(self) -> str:
        """The containers-image reference: ``oci:/path/to/layout:tag``."""
        return f"oci:{self.layout}:{self.tag}"

    @property
    def is_index(self) -> bool:
        return self.media_type == OCI_INDEX


def _platform_key(platform: str) -> tuple[str, str, str | None]:
    parts = platform.split("/")
    os_, arch = parts[0], parts[1]
    variant = parts[2] if len(parts) > 2 else ("v8" if arch == "arm64" else None)
    return os_, arch, variant


class LayoutWriter:
    """Adds blobs and tagged descriptors to an OCI image layout directory (created if missing)."""

    def __init__(self, layout: Path) -> None:
        self.layout = layout
        (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        index_path = layout / "index.json"
        if index_path.exists():
            self.index = json.loads(index_path.read_text())
        else:
            self.index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}

    def blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        path = self.layout / "blobs" / "sha256" / digest.split(":", 1)[1]
        if not path.exists():
            path.write_bytes(data)
        return digest

    def tag(self, tag: str, descriptor: dict[str, Any]) -> None:
        manifests = [m for m in self.index["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag]
        manifests.append({**descriptor, "annotations": {REF_NAME: tag}})
        self.index["manifests"] = manifests
        (self.layout / "index.json").write_text(json.dumps(self.index, indent=2))


def _image_manifest(
    writer: LayoutWriter, name: str, seed: str, platform: str, base: list[Layer], blobs: set[str]
) -> tuple[bytes, dict[str, Any]]:
    os_, arch, variant = _platform_key(platform)
    own = Layer.from_files(
        [
            ("etc/", None, None),
            ("etc/platform", f"{platform}\n".encode(), None),
            ("hello.sh", f"#!/bin/sh\necho hello from {name} on {platform} ({seed})\n".encode(), None),
        ]
    )
    layers = [*base, own]
    for layer in layers:
        blobs.add(writer.blob(layer.data))
    config: dict[str, Any] = {
        "created": CREATED,
        "architecture": arch,
        "os": os_,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/hello.sh"],
            "WorkingDir": "/",
            "Labels": {"org.opencontainers.image.title": name, "test.seed": seed},
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": CREATED, "created_by": f"tests.support.images layer {i}"} for i in range(len(layers))],
    }
    if variant:
        config["variant"] = variant
    config_bytes = canonical_json(config)
    blobs.add(writer.blob(config_bytes))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config_bytes), "size": len(config_bytes)},
        "layers": [layer.descriptor() for layer in layers],
    }
    manifest_bytes = json.dumps(manifest, indent=3).encode()  # not canonical on purpose: digest is of the bytes
    digest = writer.blob(manifest_bytes)
    blobs.add(digest)
    platform_desc: dict[str, Any] = {"os": os_, "architecture": arch}
    if variant:
        platform_desc["variant"] = variant
    descriptor = {
        "mediaType": OCI_MANIFEST,
        "digest": digest,
        "size": len(manifest_bytes),
        "platform": platform_desc,
    }
    return manifest_bytes, descriptor


def build_image(
    layout: Path,
    tag: str = "latest",
    *,
    platforms: Sequence[str] = ("linux/amd64",),
    seed: str | None = None,
    payload_size: int = 256 * 1024,
) -> OciImage:
    """Write an image (one platform) or an OCI index (several) into the layout, tagged ``tag``."""
    seed = seed or f"{layout.name}-{tag}"
    name = f"registry-app-test-{tag}"
    writer = LayoutWriter(layout)
    base = [
        Layer.from_files(
            [
                ("etc/", None, None),
                ("etc/os-release", b'NAME="registry_app test image"\nID=registry-app-test\n', None),
                ("usr/", None, None),
                ("usr/share/", None, None),
                ("usr/share/seed.txt", f"{seed}\n".encode(), None),
                ("var/", None, None),
                ("var/tmp/", None, None),
                ("seed", None, "usr/share/seed.txt"),
            ]
        ),
        Layer.from_files([("payload.bin", _pseudo_random(seed, payload_size), None)]),
    ]
    blobs: set[str] = set()
    per_platform = [_image_manifest(writer, name, seed, p, base, blobs) for p in platforms]
    platform_digests = {
        "/".join(filter(None, _platform_key(p))): desc["digest"]
        for p, (_, desc) in zip(platforms, per_platform, strict=True)
    }
    if len(platforms) == 1:
        manifest_bytes, desc = per_platform[0]
        top = {k: v for k, v in desc.items() if k != "platform"}
        media_type = OCI_MANIFEST
    else:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc for _, desc in per_platform]}
        manifest_bytes = json.dumps(index, indent=2).encode()
        top = {"mediaType": OCI_INDEX, "digest": writer.blob(manifest_bytes), "size": len(manifest_bytes)}
        media_type = OCI_INDEX
        blobs.add(top["digest"])
    writer.tag(tag, top)
    return OciImage(
        layout=layout,
        tag=tag,
        digest=top["digest"],
        media_type=media_type,
        manifest=manifest_bytes,
        platform_digests=platform_digests,
        blob_digests=blobs,
    )


def read_layout(layout: Path, tag: str) -> tuple[str, bytes]:
    """(digest, bytes) of the manifest or index tagged ``tag`` in an OCI layout (e.g. a pulled copy)."""
    index = json.loads((layout / "index.json").read_text())
    matches = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) == tag]
    if not matches:
        raise KeyError(f"{tag!r} not in {layout}/index.json: {index}")
    digest = matches[-1]["digest"]
    data = (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()
    if sha256_digest(data) != digest:
        raise ValueError(f"{layout}: blob {digest} does not match its digest")
    return digest, data


def layout_blobs(layout: Path) -> set[str]:
    """Every blob digest stored in an OCI layout (verifying each one's content)."""
    found = set()
    for path in (layout / "blobs" / "sha256").iterdir():
        digest = "sha256:" + path.name
        if sha256_digest(path.read_bytes()) != digest:
            raise ValueError(f"{path}: content does not match its name")
        found.add(digest)
    return found
