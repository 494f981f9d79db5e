"""Repository names, tags and digests as the OCI distribution spec and Quay define them."""

from __future__ import annotations

import re

from registry_app.services.errors import DigestInvalid, NameInvalid
from registry_app.storage.hashing import DIGEST_HEX_LEN

# distribution-spec: path components separated by "/", each [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST = re.compile(r"([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")
MAX_NAME = 255


def split_repository(name: str) -> tuple[str, str]:
    """``namespace/repo[/more]`` → (namespace, repo). Raises NameInvalid saying what is wrong."""
    if len(name) > MAX_NAME:
        raise NameInvalid(
            f"repository name is {len(name)} characters long; the limit is {MAX_NAME}", {"name": name[:300]}
        )
    parts = name.split("/")
    for part in parts:
        if not COMPONENT.fullmatch(part):
            why = "is empty" if not part else "must be lowercase letters and digits separated by . _ __ or -"
            raise NameInvalid(f"invalid repository name component {part!r}: it {why}", {"name": name})
    if len(parts) < 2:
        raise NameInvalid(
            f"repository name {name!r} has no namespace: use NAMESPACE/REPOSITORY (e.g. myorg/{name})", {"name": name}
        )
    return parts[0], "/".join(parts[1:])


def is_digest(reference: str) -> bool:
    return ":" in reference


def check_digest(digest: str) -> str:
    """Validate a digest string; returns its algorithm."""
    m = DIGEST.fullmatch(digest)
    if not m:
        raise DigestInvalid(f"invalid digest {digest!r}", {"digest": digest})
    alg, hexpart = m.group(1), m.group(2)
    if alg not in DIGEST_HEX_LEN:
        raise DigestInvalid(
            f"unsupported digest algorithm {alg!r} (sha256 and sha512 are supported)", {"digest": digest}
        )
    if len(hexpart) != DIGEST_HEX_LEN[alg] or not re.fullmatch(r"[a-f0-9]+", hexpart):
        raise DigestInvalid(
            f"invalid {alg} digest {digest!r}: expected {DIGEST_HEX_LEN[alg]} lowercase hex digits", {"digest": digest}
        )
    return alg


def check_tag(tag: str) -> None:
    from registry_app.services.errors import ManifestInvalid

    if not TAG.fullmatch(tag):
        raise ManifestInvalid(
            f"invalid tag {tag!r}: up to 128 of [A-Za-z0-9_.-], not starting with . or -", {"tag": tag}
        )
