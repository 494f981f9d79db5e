"""Tag expiration: the namespaces' default and choices, the bounds of ``quay.expires-after``,
and the label keys reserved beyond Quay's own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry_app.settings.units import parse_duration

DEFAULT_EXPIRATION = "2w"
DEFAULT_EXPIRATION_OPTIONS = ("0s", "1d", "1w", "2w", "4w")
DEFAULT_LABEL_MINIMUM = "1h"
DEFAULT_LABEL_MAXIMUM = "104w"


def _duration(value: Any, default: str) -> int:
    """``value`` in seconds, ``default``'s when it is absent or not a duration (the loader's schema
    already refused such a value; a hand-built mapping falls back as the services used to)."""
    try:
        return parse_duration(str(value)) if value else parse_duration(default)
    except ValueError:
        return parse_duration(default)


@dataclass(frozen=True)
class TagSettings:
    default_expiration_s: int = parse_duration(DEFAULT_EXPIRATION)  # DEFAULT_TAG_EXPIRATION
    expiration_options_s: tuple[int, ...] = tuple(parse_duration(o) for o in DEFAULT_EXPIRATION_OPTIONS)
    label_expiration_min_s: int = parse_duration(DEFAULT_LABEL_MINIMUM)  # LABELED_EXPIRATION_MINIMUM
    label_expiration_max_s: int = parse_duration(DEFAULT_LABEL_MAXIMUM)  # LABELED_EXPIRATION_MAXIMUM
    reserved_label_prefixes: tuple[str, ...] = ()  # LABEL_KEY_RESERVED_PREFIXES (Quay's own are the service's)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> TagSettings:
        options = values.get("TAG_EXPIRATION_OPTIONS") or DEFAULT_EXPIRATION_OPTIONS
        return cls(
            default_expiration_s=_duration(values.get("DEFAULT_TAG_EXPIRATION"), DEFAULT_EXPIRATION),
            expiration_options_s=tuple(parse_duration(str(o)) for o in options),
            label_expiration_min_s=_duration(values.get("LABELED_EXPIRATION_MINIMUM"), DEFAULT_LABEL_MINIMUM),
            label_expiration_max_s=_duration(values.get("LABELED_EXPIRATION_MAXIMUM"), DEFAULT_LABEL_MAXIMUM),
            reserved_label_prefixes=tuple(str(p) for p in values.get("LABEL_KEY_RESERVED_PREFIXES") or ()),
        )
