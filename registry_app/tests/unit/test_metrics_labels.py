"""Route classes (the only path-derived label of the request metrics) and the metrics settings."""

from __future__ import annotations

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
    assert MetricsSettings.from_values({}, "10.1.2.3") == MetricsSettings(9091, "10.1.2.3")
    off = MetricsSettings.from_values({"REGISTRY_APP_METRICS_PORT": 0}, "127.0.0.1")
    assert not off.enabled
    mine = MetricsSettings.from_values({"REGISTRY_APP_METRICS_PORT": 9200, "REGISTRY_APP_METRICS_HOST": "::1"}, "x")
    assert (mine.port, mine.host, mine.enabled) == (9200, "::1", True)
