"""Tags and manifests as Quay's API presents them: tag history, expiration, moves and restores
("time machine"), the manifest view with layers described by the image config, and labels.

Labels have three sources, as in Quay: ``manifest`` (the image config's ``config.Labels`` and, for
OCI image manifests, the manifest's annotations; read from the config blob when asked, never
stored, immutable), ``api`` (added through the API) and ``internal``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry_app.db.store import ManifestRow, RepoRow, Store, TagImmutable
from registry_app.db.tags import LabelRow, LiveTag, TagHistoryRow, TagStore
from registry_app.services import client_json
from registry_app.services import manifests as mf
from registry_app.services.errors import NotFound, RegistryError, tag_immutable
from registry_app.services.names import TAG
from registry_app.settings.tags import TagSettings
from registry_app.storage.base import BlobStorage, StorageError


class InvalidRequest(RegistryError):
    code = "INVALID_REQUEST"
    status = 400


# Quay's constants (image/shared/schemas, util/validation, config.DEFAULT_LABEL_KEY_RESERVED_PREFIXES).
EMPTY_LAYER_BLOB_DIGEST = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
EMPTY_LAYER_SIZE = 32
TAG_ERROR = 'Invalid tag: must match [A-Za-z0-9_.-], NOT start with "." or "-", and can contain 1-128 characters'
LABEL_KEY = re.compile(r"^[a-z0-9](([a-z0-9]|[-.](?![.-]))*[a-z0-9])?$")
LABEL_MEDIA_TYPES = ("text/plain", "application/json")
DEFAULT_RESERVED_LABEL_PREFIXES = (
    "com.docker.",
    "io.docker.",
    "org.dockerproject.",
    "org.opencontainers.",
    "io.cncf.",
    "io.kubernetes.",
    "io.k8s.",
    "io.quay",
    "com.coreos",
    "com.tectonic",
    "internal",
    "quay",
)
TIMESPAN = re.compile(r"^([0-9]+)([smhdw])$")
TIMESPAN_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Stable ids for labels computed from a manifest (they are not stored).
_LABEL_NS = uuid.UUID("6f1c2d1e-5a7b-4c1e-9a53-0e7c1b7f4a10")


def timespan_s(text: str, default: str) -> int:
    """Quay's duration strings ("1h", "2w"); ``default`` when ``text`` is not one."""
    m = TIMESPAN.match(str(text)) or TIMESPAN.match(default)
    assert m is not None
    return int(m.group(1)) * TIMESPAN_S[m.group(2)]


def is_json(value: str) -> bool:
    """Quay's test for a label value that is a JSON object or array."""
    if (value.startswith("{") and value.endswith("}")) or (value.startswith("[") and value.endswith("]")):
        try:
            client_json.loads(value)
            return True
        except ValueError:
            return False
    return False


# An image config larger than this is not read (labels, layer history): it is a client's upload,
# and a whole read plus parse costs several times its size in memory.
MAX_CONFIG_SIZE = 4 * 1024 * 1024


def read_image_config(storage: BlobStorage, digest: str) -> dict[str, Any] | None:
    """The image config blob ``digest`` as a JSON object; None when it is missing, larger than
    MAX_CONFIG_SIZE, not JSON (or too deeply nested) or not an object."""
    try:
        size = storage.blob_size(digest)
        if size is None or size > MAX_CONFIG_SIZE:
            return None
        config = client_json.loads(storage.read_blob(digest))
    except (StorageError, OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


EARLIEST_TIME_S = -62135596800.0  # 0001-01-01T00:00:00Z
LATEST_TIME_S = 253402300800.0  # 10000-01-01T00:00:00Z


def parse_time(text: Any) -> float | None:
    """An RFC 3339 time from an image config (nanoseconds allowed) as Unix seconds, or None."""
    if not isinstance(text, str) or not text:
        return None
    m = re.match(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$", text.strip())
    if not m:
        return None
    frac = (m.group(3) or ".0")[:7]
    zone = m.group(4) or "Z"
    zone = "+00:00" if zone in ("Z", "z") else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        seconds = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{frac}{zone}").timestamp()
    except ValueError:
        return None
    # A time an offset pushes outside years 1-9999 in UTC is the client's nonsense, and no date
    # formatter can write it (formatdate raised ValueError: a 500 on the manifest view).
    return seconds if EARLIEST_TIME_S <= seconds < LATEST_TIME_S else None


@dataclass(frozen=True)
class TagRecord:
    """A tag history row with what Quay shows about its manifest."""

    row: TagHistoryRow
    is_manifest_list: bool
    size: int | None


@dataclass(frozen=True)
class LayerInfo:
    index: int
    compressed_size: int | None
    is_remote: bool
    urls: list[str] | None
    command: Any
    comment: str | None
    author: str | None
    blob_digest: str
    created: float | None


@dataclass(frozen=True)
class ManifestInfo:
    manifest: ManifestRow
    is_manifest_list: bool
    config_media_type: str | None
    layers: list[LayerInfo] | None


def _doc(manifest: ManifestRow | TagHistoryRow) -> dict[str, Any]:
    try:
        doc = json.loads(manifest.content)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _layers_size(manifest_media_type: str, doc: dict[str, Any]) -> int | None:
    if manifest_media_type in mf.INDEX_TYPES:
        return None
    layers = doc.get("layers") or []
    return sum(int(layer.get("size") or 0) for layer in layers if isinstance(layer, dict))


class TagService:
    def __init__(
        self, store: Store, storage: BlobStorage, settings: TagSettings, immutable_can_expire: bool = False
    ) -> None:
        self.store = store
        self.storage = storage
        self.tags = TagStore(store.engine)
        self.min_expiration_s = settings.label_expiration_min_s
        self.max_expiration_s = settings.label_expiration_max_s
        self.immutable_can_expire = immutable_can_expire
        self.reserved_prefixes = tuple(DEFAULT_RESERVED_LABEL_PREFIXES) + settings.reserved_label_prefixes

    def repository(self, namespace: str, name: str) -> RepoRow | None:
        return self.store.get_repo(namespace, name)

    # -- tags ----------------------------------------------------------------------------------
    def history(
        self,
        repo: RepoRow,
        page: int,
        limit: int,
        specific_tag: str | None,
        filter_tag_name: str | None,
        active_only: bool,
    ) -> tuple[list[TagRecord], bool]:
        """Quay's listRepoTags: ``limit`` is capped to 1..100; ``filter_tag_name`` is
        ``like:TEXT`` (name contains) or ``eq:NAME``."""
        page = max(1, page)
        limit = min(100, max(1, limit))
        name_contains = None
        name = specific_tag or None
        if filter_tag_name:
            operation, sep, value = filter_tag_name.partition(":")
            if not sep:
                raise InvalidRequest(
                    "Unsupported syntax for filter_tag_name. Expected <operation>:<tag_name> where <operation>"
                    "can be 'like' or 'eq'."
                )
            if operation == "like":
                name_contains = value
            elif operation == "eq":
                if name is not None and name != value:
                    return [], False
                name = value
        rows, more = self.tags.history(
            repo.id, page, limit, name=name, name_contains=name_contains, active_only=active_only
        )
        out = []
        for r in rows:
            out.append(TagRecord(r, r.media_type in mf.INDEX_TYPES, _layers_size(r.media_type, _doc(r))))
        return out, more

    def live_tag(self, repo: RepoRow, tag: str) -> LiveTag | None:
        return self.tags.live_tag(repo.id, tag)

    @staticmethod
    def check_tag_name(tag: str) -> None:
        if not TAG.fullmatch(tag):
            raise InvalidRequest(TAG_ERROR)

    def change_expiration(self, repo: RepoRow, tag: str, expiration: float | None) -> tuple[int | None, int | None]:
        """Set (Unix seconds) or clear (None) a live tag's expiration, as Quay does: a time in the
        past is refused; otherwise the tag lives at least LABELED_EXPIRATION_MINIMUM and at most
        LABELED_EXPIRATION_MAXIMUM after it was pushed. Returns (old, new) expiration in ms."""
        live = self.tags.live_tag(repo.id, tag)
        if live is None:
            raise NotFound(f"tag {tag} not found in {repo.full_name}")
        if live.immutable and expiration is not None and not self.immutable_can_expire:
            raise tag_immutable(tag, "set expiration on")  # Quay 3.17, without ..._CAN_EXPIRE
        new_ms: int | None = None
        if expiration is not None:
            if expiration <= time.time():
                raise InvalidRequest("the expiration must be in the future")
            start_s = live.lifetime_start_ms // 1000
            offset = min(max(int(expiration) - start_s, self.min_expiration_s), self.max_expiration_s)
            new_ms = live.lifetime_start_ms + offset * 1000
        if new_ms == live.expiration_ms:
            return live.expiration_ms, new_ms
        if not self.tags.set_expiration(live, new_ms):
            raise InvalidRequest("Could not update tag expiration; Tag has probably changed")
        return live.expiration_ms, new_ms

    def retarget(self, repo: RepoRow, tag: str, digest: str | None) -> str | None:
        """Point a tag at a manifest of the repository; returns the digest it was live on before."""
        manifest = self.tags.manifest(repo.id, digest) if digest else None
        if manifest is None:
            raise NotFound(f"manifest {digest} not found in {repo.full_name}")
        before = self.tags.live_tag(repo.id, tag)
        try:
            self.tags.retarget(repo.id, tag, manifest.id)
        except LookupError:  # garbage-collected since it was looked up (docs/gc.md)
            raise NotFound(f"manifest {digest} not found in {repo.full_name}") from None
        except TagImmutable as exc:
            raise tag_immutable(exc.tag, exc.operation) from None
        return before.manifest_digest if before is not None else None

    def delete(self, repo: RepoRow, tag: str) -> None:
        try:
            deleted = self.store.delete_tag(repo.id, tag)
        except TagImmutable as exc:
            raise tag_immutable(exc.tag, exc.operation) from None
        if not deleted:
            raise NotFound(f"tag {tag} not found in {repo.full_name}")

    # -- manifests -----------------------------------------------------------------------------
    def manifest(self, repo: RepoRow, digest: str) -> ManifestRow:
        found = self.tags.manifest(repo.id, digest)
        if found is None:
            raise NotFound(f"manifest {digest} not found in {repo.full_name}")
        return found

    def _config(self, manifest: ManifestRow, doc: dict[str, Any]) -> dict[str, Any] | None:
        """The image config of an image manifest, or None (an index, or unreadable)."""
        if manifest.media_type not in mf.IMAGE_TYPES:
            return None
        desc = doc.get("config")
        if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str):
            return None
        return read_image_config(self.storage, desc["digest"])

    def manifest_info(self, manifest: ManifestRow) -> ManifestInfo:
        """The manifest and its layers as Quay's manifest view shows them: one entry per history
        entry of the image config (empty layers included), or per layer when the config has none."""
        doc = _doc(manifest)
        if manifest.media_type in mf.INDEX_TYPES:
            return ManifestInfo(manifest, True, None, None)
        desc = doc.get("config")
        image_config = self._config(manifest, doc)
        if image_config is None:
            raise NotFound(f"the config of manifest {manifest.digest} cannot be read")
        blobs = [layer for layer in (doc.get("layers") or []) if isinstance(layer, dict)]

        def blob_layer(i: int, layer: dict[str, Any], hist: dict[str, Any] | None) -> LayerInfo:
            hist = hist or {}
            return LayerInfo(
                index=i,
                compressed_size=layer.get("size"),
                is_remote=layer.get("mediaType") in mf.FOREIGN_LAYERS,
                urls=layer.get("urls"),
                command=hist.get("created_by"),
                comment=hist.get("comment"),
                author=hist.get("author"),
                blob_digest=str(layer.get("digest")),
                created=parse_time(hist.get("created")),
            )

        history = [h for h in (image_config.get("history") or []) if isinstance(h, dict)]
        layers: list[LayerInfo] = []
        if history and sum(1 for h in history if not h.get("empty_layer")) == len(blobs):
            it = iter(blobs)
            for i, hist in enumerate(history):
                if hist.get("empty_layer"):
                    layers.append(
                        LayerInfo(
                            i,
                            EMPTY_LAYER_SIZE,
                            False,
                            None,
                            hist.get("created_by"),
                            hist.get("comment"),
                            hist.get("author"),
                            EMPTY_LAYER_BLOB_DIGEST,
                            parse_time(hist.get("created")),
                        )
                    )
                else:
                    layers.append(blob_layer(i, next(it), hist))
        else:
            # Without history Quay describes the last layer with the config itself.
            inner = image_config.get("config")
            inner = inner if isinstance(inner, dict) else {}
            synthesized = {"created": image_config.get("created"), "author": image_config.get("author")}
            for i, layer in enumerate(blobs):
                last = i == len(blobs) - 1
                info = blob_layer(i, layer, synthesized if last else None)
                if last:
                    info = dataclasses.replace(info, command=inner.get("Cmd"))
                layers.append(info)
        media = desc.get("mediaType") if isinstance(desc, dict) else None
        return ManifestInfo(manifest, False, media or None, layers)

    # -- labels --------------------------------------------------------------------------------
    def manifest_labels(self, manifest: ManifestRow) -> list[LabelRow]:
        """The labels the manifest itself carries (source ``manifest``), with stable ids."""
        doc = _doc(manifest)
        found: dict[str, str] = {}
        image_config = self._config(manifest, doc)
        if image_config is not None:
            inner = image_config.get("config")
            labels = inner.get("Labels") if isinstance(inner, dict) else None
            if isinstance(labels, dict):
                found.update({str(k): str(v) for k, v in labels.items() if v is not None})
        if manifest.media_type == mf.OCI_MANIFEST and isinstance(doc.get("annotations"), dict):
            found.update({str(k): str(v) for k, v in doc["annotations"].items()})
        return [
            LabelRow(
                str(uuid.uuid5(_LABEL_NS, f"{manifest.digest}\n{key}")),
                key,
                value,
                "application/json" if is_json(value) else "text/plain",
                "manifest",
            )
            for key, value in found.items()
        ]

    def labels(self, manifest: ManifestRow, prefix: str | None = None) -> list[LabelRow]:
        """Every label of a manifest, those it carries first; ``prefix`` filters keys (any case)."""
        out = self.manifest_labels(manifest) + self.tags.labels(manifest.id)
        if prefix is not None:
            out = [label for label in out if label.key.lower().startswith(prefix.lower())]
        return out

    def label(self, manifest: ManifestRow, label_id: str) -> LabelRow:
        found = self.tags.label(manifest.id, label_id)
        if found is None:
            found = next((x for x in self.manifest_labels(manifest) if x.uuid == label_id), None)
        if found is None:
            raise NotFound(f"label {label_id} not found")
        return found

    def check_label_key(self, key: str) -> None:
        if any(key.startswith(p) for p in self.reserved_prefixes):
            raise InvalidRequest("Label has a reserved prefix")

    def add_label(self, manifest: ManifestRow, key: str, value: str, media_type: str | None) -> LabelRow:
        if not key or len(key) > 255 or not LABEL_KEY.match(key):
            raise InvalidRequest(
                f"Label is of an invalid format or missing please use {LABEL_KEY.pattern} format for labels"
            )
        if media_type is None:
            media_type = "application/json" if is_json(value) else "text/plain"
        if media_type not in LABEL_MEDIA_TYPES:
            raise InvalidRequest("Media type is invalid please use a valid media type: text/plain, application/json")
        return self.tags.add_label(manifest.id, key, value, media_type, "api")

    def delete_label(self, manifest: ManifestRow, label_id: str) -> LabelRow:
        label = self.label(manifest, label_id)
        if label.source_type != "api":
            raise InvalidRequest("Cannot delete immutable label")
        if not self.tags.delete_label(manifest.id, label_id):
            raise NotFound(f"label {label_id} not found")
        return label


__all__ = [
    "InvalidRequest",
    "LayerInfo",
    "ManifestInfo",
    "TagRecord",
    "TagService",
    "is_json",
    "parse_time",
    "timespan_s",
]
