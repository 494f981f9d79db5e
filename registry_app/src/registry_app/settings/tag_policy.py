"""Tag policies (auto-prune and immutable tags): the features, the worker's period and the
namespaces' default auto-prune policy, decided once. The policy rules a configured default must
pass (Quay's assert_valid_*_autoprune_policy) live here because the loader checks the default
with them and the settings import nothing above them; services/tag_policy.py applies the same
rules to the API's bodies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NUMBER_OF_TAGS = "number_of_tags"
CREATION_DATE = "creation_date"
METHODS = (NUMBER_OF_TAGS, CREATION_DATE)
MAX_PATTERN = 256  # Quay's limit for immutability patterns, applied to both kinds here
# Quay's convert_to_timedelta: <number><s|m|h|d|w>.
AGE = re.compile(r"^([0-9]+)([smhdw])$")
AGE_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DEFAULT_POLL_PERIOD_S = 30.0


class PolicyValueError(ValueError):
    """A policy Quay would refuse; the message is Quay's."""


def age_seconds(value: Any) -> int | None:
    """Quay's duration strings ("7d", "24h", "2w") in seconds; None for anything else."""
    if not isinstance(value, str):
        return None
    m = AGE.match(value.strip())
    if m is None:
        return None
    return int(m.group(1)) * AGE_S[m.group(2)]


def compile_pattern(pattern: str) -> re.Pattern[str]:
    if len(pattern) > MAX_PATTERN:
        raise PolicyValueError(f"tag_pattern must be {MAX_PATTERN} characters or less")
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:  # "a{99999999999}" overflows
        raise PolicyValueError(f"Invalid regex pattern: {exc}") from None


def autoprune_policy(body: Mapping[str, Any]) -> dict[str, Any]:
    """Quay's policy config from an API body (camelCase) or DEFAULT_NAMESPACE_AUTOPRUNE_POLICY
    (snake_case), validated as Quay's assert_valid_*_autoprune_policy does."""
    method = body.get("method")
    value = body.get("value")
    if method is None or value is None:
        raise PolicyValueError("Missing the following parameters: method, value")
    pattern = body.get("tagPattern", body.get("tag_pattern"))
    if isinstance(pattern, str):
        pattern = pattern.strip()
    matches = body.get("tagPatternMatches", body.get("tag_pattern_matches", True))
    if method not in METHODS:
        raise PolicyValueError("Invalid method provided")
    if method == NUMBER_OF_TAGS:
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 2**31 - 1
    else:
        ok = (age_seconds(value) or 0) > 0
    if not ok:
        raise PolicyValueError("Invalid value given for method type")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise PolicyValueError("tag_pattern must be string")
        if pattern == "":
            raise PolicyValueError("tag_pattern cannot be empty")
        compile_pattern(pattern)
    if matches is not None and not isinstance(matches, bool):
        raise PolicyValueError("tag_pattern_matches must be bool")
    return {"method": method, "value": value, "tag_pattern": pattern, "tag_pattern_matches": matches}


def default_policy_problems(values: Mapping[str, Any]) -> list[str]:
    """What `registry-app config validate` says about DEFAULT_NAMESPACE_AUTOPRUNE_POLICY beyond
    the schema (the value's range and shape for its method, the pattern)."""
    policy = values.get("DEFAULT_NAMESPACE_AUTOPRUNE_POLICY")
    if not isinstance(policy, dict):
        return []
    try:
        autoprune_policy(policy)
    except PolicyValueError as exc:
        return [f"DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: {exc}"]
    return []


@dataclass(frozen=True)
class TagPolicySettings:
    autoprune: bool = True  # FEATURE_AUTO_PRUNE
    immutable_tags: bool = True  # FEATURE_IMMUTABLE_TAGS
    immutable_can_expire: bool = False  # FEATURE_IMMUTABLE_TAGS_CAN_EXPIRE
    # DEFAULT_NAMESPACE_AUTOPRUNE_POLICY, validated and in Quay's stored shape
    default_policy: dict[str, Any] | None = field(default=None, hash=False)
    interval_s: float = DEFAULT_POLL_PERIOD_S  # AUTO_PRUNING_POLL_PERIOD

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> TagPolicySettings:
        default = values.get("DEFAULT_NAMESPACE_AUTOPRUNE_POLICY")
        return cls(
            autoprune=bool(values.get("FEATURE_AUTO_PRUNE", True)),
            immutable_tags=bool(values.get("FEATURE_IMMUTABLE_TAGS", True)),
            immutable_can_expire=bool(values.get("FEATURE_IMMUTABLE_TAGS_CAN_EXPIRE", False)),
            default_policy=autoprune_policy(default) if isinstance(default, dict) else None,
            interval_s=float(values.get("AUTO_PRUNING_POLL_PERIOD") or DEFAULT_POLL_PERIOD_S),
        )

    @property
    def autoprune_off_because(self) -> str | None:
        return None if self.autoprune else "FEATURE_AUTO_PRUNE is false"
