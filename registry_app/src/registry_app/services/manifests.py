"""Parse and check image manifests, indexes, artifacts and Docker schema 2 manifests / lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from registry_app.services import client_json
from registry_app.services.errors import DigestInvalid, ManifestInvalid, Unsupported
from registry_app.services.names import check_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = IMAGE_TYPES + INDEX_TYPES
FOREIGN_LAYERS = (
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
)
MAX_SIZE = 2**63 - 1  # descriptor sizes are int64 (OCI image spec)


@dataclass
class ParsedManifest:
    media_type: str
    blobs: list[str] = field(default_factory=list)  # config + layers that must exist
    children: list[str] = field(default_factory=list)  # manifests an index names
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


def _descriptor(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ManifestInvalid(f"{where}: a descriptor must be an object")
    digest = obj.get("digest")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where}.digest: missing or not a string")
    try:
        check_digest(digest)
    except DigestInvalid as exc:
        raise ManifestInvalid(f"{where}.digest: {exc.message}") from None
    size = obj.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise ManifestInvalid(f"{where}.size: must be an integer from 0 to {MAX_SIZE} (int64)")
    mt = obj.get("mediaType")
    if mt is not None and not isinstance(mt, str):
        raise ManifestInvalid(f"{where}.mediaType: must be a string")
    return obj


def parse(content: bytes, content_type: str | None) -> ParsedManifest:
    """Check ``content`` as the manifest kind named by Content-Type (or its own mediaType)."""
    try:
        doc = client_json.loads(content)
    except ValueError as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType: must be a string")
    if ctype in DOCKER_SCHEMA1 or declared in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise Unsupported("Docker schema 1 manifests are not supported; push with a current client (schema 2 or OCI)")
    if ctype in MANIFEST_TYPES:
        media_type = ctype
        if declared is not None and declared != ctype:
            raise ManifestInvalid(f"mediaType {declared!r} in the manifest does not match Content-Type {ctype!r}")
    elif declared in MANIFEST_TYPES and ctype in ("", "application/json", "application/octet-stream"):
        media_type = declared
    elif not ctype and declared is None:
        # Guess as distribution does: an OCI image manifest or index without mediaType.
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    else:
        raise ManifestInvalid(f"unsupported manifest media type {ctype or declared!r}")
    if doc.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion: must be 2")

    parsed = ParsedManifest(media_type=media_type)
    annotations = doc.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            raise ManifestInvalid("annotations: must be an object of strings")
        parsed.annotations = annotations
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("artifactType: must be a string")
    if "subject" in doc:
        parsed.subject = _descriptor(doc["subject"], "subject")["digest"]

    if media_type in IMAGE_TYPES:
        if "manifests" in doc:
            raise ManifestInvalid("an image manifest cannot have a manifests list")
        config_desc = _descriptor(doc.get("config"), "config")
        parsed.blobs.append(config_desc["digest"])
        layers = doc.get("layers")
        if layers is None and media_type == OCI_MANIFEST:
            layers = []
        if not isinstance(layers, list):
            raise ManifestInvalid("layers: must be a list")
        for i, layer in enumerate(layers):
            d = _descriptor(layer, f"layers[{i}]")
            if d.get("mediaType") in FOREIGN_LAYERS and d.get("urls"):
                continue
            parsed.blobs.append(d["digest"])
        parsed.artifact_type = artifact_type or config_desc.get("mediaType")
    else:
        if "layers" in doc or "config" in doc:
            raise ManifestInvalid("an index cannot have config or layers")
        children = doc.get("manifests")
        if not isinstance(children, list):
            raise ManifestInvalid("manifests: must be a list")
        for i, child in enumerate(children):
            parsed.children.append(_descriptor(child, f"manifests[{i}]")["digest"])
        parsed.artifact_type = artifact_type
    return parsed


def accepts(accept: list[str], media_type: str) -> bool:
    """Content negotiation: does the client's Accept list allow ``media_type``?"""
    if not accept:
        return True
    for item in accept:
        if item in ("*/*", media_type, "application/*"):
            return True
    return False
