"""The S3 driver's upload state: the segments an upload is made of, as the services store it.

An upload is a list of segments, each a whole object under ``uploads/<id>/`` written by one append
session; the state is JSON ``{"v": 1, "s": [[name, length], ...]}`` in the upload row. A segment's
name is ``<offset:020d>-<random hex>``; nothing else is accepted, so a state that this driver did
not write never becomes a key outside the upload.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from registry_app.storage.base import StorageError, UploadState

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Segment:
    name: str  # the object's name under uploads/<id>/
    length: int  # the bytes of it that belong to the upload (an object may hold more: see open)


def encode_state(segments: Sequence[Segment]) -> bytes:
    return json.dumps({"v": 1, "s": [[s.name, s.length] for s in segments]}, separators=(",", ":")).encode()


def decode_state(state: UploadState) -> list[Segment]:
    """The segments of a stored state (None: none yet). A state this driver did not write is a
    StorageError, never a key outside the upload."""
    if state is None:
        return []
    try:
        doc = json.loads(state)
        segments = [Segment(str(name), int(length)) for name, length in doc["s"]]
        ok = doc.get("v") == 1 and all(is_segment_name(s.name) and s.length >= 0 for s in segments)
    except (ValueError, TypeError, KeyError, AttributeError):
        ok = False
    if not ok:
        raise StorageError("upload state is damaged", detail=f"upload state {state[:200]!r} is not this driver's")
    return segments


def is_segment_name(name: str) -> bool:
    offset, dash, rand = name.partition("-")
    return len(offset) == 20 and offset.isdigit() and dash == "-" and 0 < len(rand) <= 32 and _HEX.issuperset(rand)


def cut(segments: Sequence[Segment], size: int) -> list[Segment] | None:
    """The segments holding the first ``size`` bytes (the last one cut to length), or None when
    they hold fewer."""
    out: list[Segment] = []
    have = 0
    for seg in segments:
        if have >= size:
            break
        take = min(seg.length, size - have)
        out.append(Segment(seg.name, take))
        have += take
    return out if have >= size else None


def split_range(length: int, most: int) -> list[tuple[int, int]]:
    """``[0, length)`` as (start, end-inclusive) ranges of at most ``most`` bytes, of even size, so
    that none but a segment's only range is small (S3 refuses parts under 5 MiB but the last)."""
    if length <= 0:
        return []
    n = -(-length // most)
    step = -(-length // n)
    return [(start, min(start + step, length) - 1) for start in range(0, length, step)]
