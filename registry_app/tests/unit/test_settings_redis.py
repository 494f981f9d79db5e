"""The Redis and pull-statistics settings (settings/redis.py, settings/pull_stats.py), decided from
a real bundle through the loader: which key wins, defaults, and the password in no repr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry_app.config import load_bundle
from registry_app.settings import Settings
from tests.support.bundle import write_bundle


def settings_of(tmp_path: Path, **values: Any) -> Settings:
    bundle = write_bundle(tmp_path / "bundle", **{"SERVER_HOSTNAME": "registry.test", **values})
    return load_bundle(bundle).settings


def test_no_redis_and_no_pull_stats_by_default(tmp_path: Path) -> None:
    s = settings_of(tmp_path)
    assert s.redis is None
    assert not s.pull_stats.enabled and s.pull_stats.off_because is not None


def test_user_events_redis_wins_and_its_password_is_in_no_repr(tmp_path: Path) -> None:
    password = "redis-pw-" + "y" * 24
    s = settings_of(
        tmp_path,
        USER_EVENTS_REDIS={"host": "events.test", "port": 6380, "password": password, "ssl": True},
        BUILDLOGS_REDIS={"host": "buildlogs.test"},
        FEATURE_IMAGE_PULL_STATS=True,
    )
    assert s.redis is not None
    assert (s.redis.host, s.redis.port, s.redis.password, s.redis.ssl) == ("events.test", 6380, password, True)
    assert s.redis.where == "events.test:6380"
    assert s.pull_stats.enabled and s.pull_stats.off_because is None
    shown = repr(s) + str(s) + repr(s.redis)
    assert "events.test" in shown and password not in shown


def test_buildlogs_redis_alone_is_used_with_the_default_port(tmp_path: Path) -> None:
    s = settings_of(tmp_path, BUILDLOGS_REDIS={"host": "buildlogs.test"})
    assert s.redis is not None
    assert (s.redis.host, s.redis.port, s.redis.password, s.redis.ssl) == ("buildlogs.test", 6379, None, False)
