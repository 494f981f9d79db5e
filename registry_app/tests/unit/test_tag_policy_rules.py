"""The tag policy rules (services/tag_policy.py) without a database: Quay's durations, pattern
selection (search for auto-prune, whole-name match for immutability), what each prune method
selects, immutable tags never counted nor selected, and policy validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from registry_app.db.policies import PolicyRow, PruneCandidate
from registry_app.services.tag_policy import (
    InvalidPolicy,
    age_seconds,
    autoprune_config,
    immutability_config,
    immutable_by,
    pattern_selects,
    policy_view,
    prune_selection,
)
from registry_app.settings.tag_policy import TagPolicySettings

NOW = 1_000_000_000_000  # ms


def tag(name: str, age_s: float, immutable: bool = False) -> PruneCandidate:
    return PruneCandidate(name, NOW - int(age_s * 1000), immutable)


def newest_first(*tags: PruneCandidate) -> list[PruneCandidate]:
    return sorted(tags, key=lambda t: -t.lifetime_start_ms)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60s", 60), ("5m", 300), ("24h", 86400), ("7d", 604800), ("2w", 1209600), (" 3d ", 259200)],
)
def test_age_seconds(text: str, seconds: int) -> None:
    assert age_seconds(text) == seconds


@pytest.mark.parametrize("text", ["7", "d", "7y", "-1d", "1.5d", 7, None, ""])
def test_age_seconds_rejects(text: Any) -> None:
    assert age_seconds(text) is None


def test_pattern_selects_search_and_whole() -> None:
    assert pattern_selects("anything", None, None)
    assert pattern_selects("dev-12", "dev", True)  # auto-prune: found anywhere
    assert pattern_selects("my-dev", "dev", None)
    assert not pattern_selects("my-dev", "dev", False)
    assert pattern_selects("release", "dev", False)
    assert not pattern_selects("my-dev", "dev", True, whole=True)  # immutability: the whole name
    assert pattern_selects("v1", "v[0-9]+", True, whole=True)
    assert not pattern_selects("v1-rc", "v[0-9]+", True, whole=True)
    assert pattern_selects("v1-rc", "v[0-9]+", False, whole=True)
    assert not pattern_selects("x", "(", True)  # an invalid stored pattern covers nothing


def test_number_of_tags_keeps_the_newest() -> None:
    tags = newest_first(tag("a", 40), tag("b", 30), tag("c", 20), tag("d", 10))
    chosen = prune_selection(tags, {"method": "number_of_tags", "value": 2}, NOW)
    assert [t.name for t in chosen] == ["b", "a"]
    assert prune_selection(tags, {"method": "number_of_tags", "value": 4}, NOW) == []


def test_number_of_tags_with_pattern_counts_only_covered_tags() -> None:
    tags = newest_first(tag("dev-1", 50), tag("rel-1", 40), tag("dev-2", 30), tag("dev-3", 20), tag("rel-2", 10))
    config = {"method": "number_of_tags", "value": 1, "tag_pattern": "^dev", "tag_pattern_matches": True}
    assert [t.name for t in prune_selection(tags, config, NOW)] == ["dev-2", "dev-1"]
    config["tag_pattern_matches"] = False
    assert [t.name for t in prune_selection(tags, config, NOW)] == ["rel-1"]


def test_immutable_tags_are_neither_counted_nor_pruned() -> None:
    tags = newest_first(tag("old", 50, immutable=True), tag("a", 40), tag("b", 30), tag("new", 10, immutable=True))
    assert [t.name for t in prune_selection(tags, {"method": "number_of_tags", "value": 1}, NOW)] == ["a"]
    chosen = prune_selection(tags, {"method": "creation_date", "value": "35s"}, NOW)
    assert [t.name for t in chosen] == ["a"]


def test_creation_date() -> None:
    tags = newest_first(tag("fresh", 10), tag("day-old", 86400 + 5), tag("week-old", 7 * 86400))
    chosen = prune_selection(tags, {"method": "creation_date", "value": "1d"}, NOW)
    assert [t.name for t in chosen] == ["day-old", "week-old"]
    # exactly at the age: not older than it, kept (Quay: now - start > age)
    assert prune_selection([tag("edge", 86400)], {"method": "creation_date", "value": "1d"}, NOW) == []


def test_immutable_by_any_policy() -> None:
    def policy(pattern: str, matches: bool = True) -> PolicyRow:
        return PolicyRow("u", "immutability", 1, None, {"tag_pattern": pattern, "tag_pattern_matches": matches})

    assert immutable_by("v1", [policy("v[0-9]+")])
    assert not immutable_by("latest", [policy("v[0-9]+")])
    assert immutable_by("latest", [policy("v[0-9]+"), policy("dev.*", matches=False)])
    assert not immutable_by("anything", [])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"value": 1}, "Missing"),
        ({"method": "count", "value": 1}, "Invalid method"),
        ({"method": "number_of_tags", "value": 0}, "Invalid value"),
        ({"method": "number_of_tags", "value": True}, "Invalid value"),
        ({"method": "number_of_tags", "value": "3"}, "Invalid value"),
        ({"method": "creation_date", "value": 3}, "Invalid value"),
        ({"method": "creation_date", "value": "0d"}, "Invalid value"),
        ({"method": "creation_date", "value": "1d", "tagPattern": ""}, "cannot be empty"),
        ({"method": "creation_date", "value": "1d", "tagPattern": 5}, "must be string"),
        ({"method": "creation_date", "value": "1d", "tagPattern": "["}, "Invalid regex"),
        ({"method": "creation_date", "value": "1d", "tagPattern": "a" * 257}, "256"),
        ({"method": "creation_date", "value": "1d", "tagPatternMatches": "no"}, "must be bool"),
    ],
)
def test_autoprune_config_rejects(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPolicy) as err:
        autoprune_config(body)
    assert message in err.value.message


def test_autoprune_config_accepts_api_and_config_spellings() -> None:
    api = autoprune_config({"method": "number_of_tags", "value": 3, "tagPattern": " ^v ", "tagPatternMatches": False})
    assert api == {"method": "number_of_tags", "value": 3, "tag_pattern": "^v", "tag_pattern_matches": False}
    conf = autoprune_config({"method": "creation_date", "value": "7d", "tag_pattern": "x"})
    assert conf == {"method": "creation_date", "value": "7d", "tag_pattern": "x", "tag_pattern_matches": True}
    row = PolicyRow("id", "autoprune", 1, None, conf)
    assert policy_view(row) == {
        "uuid": "id",
        "method": "creation_date",
        "value": "7d",
        "tagPattern": "x",
        "tagPatternMatches": True,
    }


def test_immutability_config() -> None:
    assert immutability_config({"tagPattern": "v.*"}) == {"tag_pattern": "v.*", "tag_pattern_matches": True}
    for bad in ({}, {"tagPattern": ""}, {"tagPattern": "("}, {"tagPattern": "x", "tagPatternMatches": 1}):
        with pytest.raises(InvalidPolicy):
            immutability_config(bad)
    row = PolicyRow("id", "immutability", 1, 2, {"tag_pattern": "v.*", "tag_pattern_matches": False})
    assert policy_view(row) == {"uuid": "id", "tagPattern": "v.*", "tagPatternMatches": False}


def test_config_validate_reports_a_bad_default_policy(tmp_path: Path) -> None:
    from registry_app.config import ConfigError, embedded_default, validate_values

    base = embedded_default(tmp_path).values

    def validate_values_with(extra: dict[str, Any]) -> list[str]:
        return validate_values({**base, **extra})

    good = {"method": "creation_date", "value": "30d", "tag_pattern": "^dev-"}
    assert validate_values_with({"DEFAULT_NAMESPACE_AUTOPRUNE_POLICY": good}) == []
    for bad, message in (
        ({"method": "number_of_tags", "value": 0}, "Invalid value given for method type"),
        ({"method": "creation_date", "value": "30 days"}, "Invalid value given for method type"),
        ({"method": "number_of_tags", "value": 3, "tag_pattern": "("}, "Invalid regex pattern"),
    ):
        with pytest.raises(ConfigError) as err:
            validate_values_with({"DEFAULT_NAMESPACE_AUTOPRUNE_POLICY": bad})
        assert any(p.startswith("DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: ") and message in p for p in err.value.problems)
    with pytest.raises(ConfigError):  # the schema: an unknown method, an unknown key
        validate_values_with({"DEFAULT_NAMESPACE_AUTOPRUNE_POLICY": {"method": "x", "value": 1, "other": 1}})


def test_the_tag_policy_settings_are_decided_once(tmp_path: Path) -> None:
    """Quay's keys land in settings.tag_policy: defaults when absent (both features on here, Quay's
    30 s period), and when set the default policy in Quay's stored shape; the settings are frozen."""
    import dataclasses

    from registry_app.config import Config, embedded_default

    base = embedded_default(tmp_path)
    assert base.settings.tag_policy == TagPolicySettings()
    assert (base.settings.tag_policy.autoprune, base.settings.tag_policy.interval_s) == (True, 30.0)
    values = {
        **base.values,
        "FEATURE_AUTO_PRUNE": False,
        "FEATURE_IMMUTABLE_TAGS": False,
        "FEATURE_IMMUTABLE_TAGS_CAN_EXPIRE": True,
        "AUTO_PRUNING_POLL_PERIOD": 5,
        "DEFAULT_NAMESPACE_AUTOPRUNE_POLICY": {"method": "number_of_tags", "value": 4, "tag_pattern": " ^v "},
    }
    s = Config(values=values, data_dir=base.data_dir).settings.tag_policy
    assert (s.autoprune, s.immutable_tags, s.immutable_can_expire, s.interval_s) == (False, False, True, 5.0)
    assert s.autoprune_off_because == "FEATURE_AUTO_PRUNE is false"
    expected = {"method": "number_of_tags", "value": 4, "tag_pattern": "^v", "tag_pattern_matches": True}
    assert s.default_policy == expected
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.autoprune = True  # type: ignore[misc]
