"""Quay's duration and size strings, read once when the settings are built."""

from __future__ import annotations

import re
from typing import Any

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LENIENT_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_SIZE = re.compile(r"^([0-9]+)([BKMGT])$", re.IGNORECASE)
_SIZE_UNITS = {"B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_duration(text: str) -> int:
    """Seconds in a Quay-style duration (``30s``, ``15m``, ``24h``, ``7d``, ``2w``); ValueError otherwise."""
    value = text.strip()
    if len(value) < 2 or value[-1] not in DURATION_UNITS or not value[:-1].isascii() or not value[:-1].isdigit():
        raise ValueError(f"{text!r} is not a duration such as 30s, 15m, 24h, 7d or 2w")
    return int(value[:-1]) * DURATION_UNITS[value[-1]]


def optional_duration(value: Any) -> int | None:
    """Seconds in a duration that may be absent or unreadable (None then), as Quay reads
    ``APP_SPECIFIC_TOKEN_EXPIRATION``; blanks around the number and unit are allowed."""
    if value is None:
        return None
    m = _LENIENT_DURATION.match(str(value))
    return int(m.group(1)) * DURATION_UNITS[m.group(2)] if m else None


def parse_size(value: Any) -> int | None:
    """A size in bytes (``8G``, ``512M``, an integer); None: no limit. ValueError for anything else."""
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("must not be negative")
        return value
    m = _SIZE.match(str(value).strip())
    if not m:
        raise ValueError(f"{value!r} is not a size such as 512M or 8G")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]
