"""Route classes (the only path-derived label of the request metrics) and the metrics settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_app.http.metrics import route_class
from registry_app.observability.metrics import ROUTE_CLASSES
from registry_app.settings.metrics import MetricsSettings


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/", "v2_base"),
        ("/v2", "v2_base"),
        ("/v2/auth", "v2_auth"),
        ("/v2/_catalog", "v2_catalog"),
        ("/v2/org/deep/name/blobs/uploads/", "v2_upload"),
        ("/v2/org/name/blobs/uploads/0b7e-uuid", "v2_upload"),
        ("/v2/org/name/blobs/sha256:" + "a" * 64, "v2_blob"),
        ("/v2/org/name/manifests/latest", "v2_manifest"),
        ("/v2/org/name/tags/list", "v2_tags"),
        ("/v2/org/name/referrers/sha256:" + "b" * 64, "v2_referrers"),
        ("/v2/org/name/something", "v2_other"),
        ("/api/v1/repository/org/name", "api"),
        ("/oauth2/keycloak/callback", "api"),
        ("/csrf_token", "api"),
        ("/health/instance", "health"),
        ("/health/endtoend", "health"),
        ("/secscan/notification", "secscan"),
        ("/repository/org/name", "ui"),
        ("/metrics", "ui"),
        ("/%00weird/../path", "ui"),
    ],
)
def test_route_class(path: str, expected: str) -> None:
    assert route_class(path) == expected
    assert expected in ROUTE_CLASSES


def test_metrics_settings() -> None:
    default = MetricsSettings.from_values({})
    assert default == MetricsSettings(9091, None)
    assert default.host_or("10.1.2.3") == "10.1.2.3"
    off = MetricsSettings.from_values({"REGISTRY_APP_METRICS_PORT": 0})
    assert not off.enabled
    mine = MetricsSettings.from_values({"REGISTRY_APP_METRICS_PORT": 9200, "REGISTRY_APP_METRICS_HOST": "::1"})
    assert (mine.port, mine.host_or("x"), mine.enabled) == (9200, "::1", True)


def test_metrics_settings_in_settings(tmp_path: Path) -> None:
    """The loader validates the metrics keys and decides the area with the others (Settings.metrics)."""
    from registry_app.config import ConfigError, load_bundle
    from tests.support.bundle import write_bundle

    base = {"SERVER_HOSTNAME": "registry.test"}
    assert load_bundle(write_bundle(tmp_path / "a", **base)).settings.metrics == MetricsSettings(9091, None)
    custom = {**base, "REGISTRY_APP_METRICS_PORT": 9300, "REGISTRY_APP_METRICS_HOST": "0.0.0.0"}  # noqa: S104
    assert load_bundle(write_bundle(tmp_path / "b", **custom)).settings.metrics == MetricsSettings(9300, "0.0.0.0")  # noqa: S104
    with pytest.raises(ConfigError):
        load_bundle(write_bundle(tmp_path / "c", **base, REGISTRY_APP_METRICS_PORT=70000))
