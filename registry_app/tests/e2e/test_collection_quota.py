"""The collection's ``quay_quota`` module run by the real ``ansible-playbook`` against a real
registry_app with FEATURE_QUOTA_MANAGEMENT (HTTPS, an API token of the superuser), in the style of
test_collection_modules.py: check mode writes nothing, a run sets the quota and exactly its limits,
a second run changes nothing, a change is applied, ``state: absent`` removes it; every check reads
the API, not what the module reports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

# The token and client fixtures of the module tests, on this module's own server (quotas on).
from tests.e2e.test_collection_modules import Playbook, admin_token, api  # noqa: F401
from tests.support.bundle import DEFAULT_SANS, bundle_server
from tests.support.server import RegistryServer
from tests.support.tls import CertificateAuthority

ORG = "quotaorg"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, test_ca: CertificateAuthority) -> Iterator[RegistryServer]:
    base = tmp_path_factory.mktemp("collection-quota")
    srv = bundle_server(
        base, prefix="https-", hostname="127.0.0.1", admin=True, tls=test_ca, sans=list(DEFAULT_SANS),
        FEATURE_SUPERUSERS_FULL_ACCESS=True, FEATURE_QUOTA_MANAGEMENT=True,
    )  # fmt: skip
    with srv.start():
        yield srv


def quota_task(**args: Any) -> list[dict[str, Any]]:
    return [{"name": "quota", "quay.registry.quay_quota": {"organization": ORG, **args}}]


def state(api: httpx.Client) -> dict[str, Any] | None:  # noqa: F811
    listed = api.get(f"/organization/{ORG}/quota")
    assert listed.status_code == 200, listed.text
    quotas = [q for q in listed.json() if not q["default_config"]]
    if not quotas:
        return None
    return {
        "limit_bytes": quotas[0]["limit_bytes"],
        "limits": sorted((lim["type"], lim["limit_percent"]) for lim in quotas[0]["limits"]),
    }


def result(run: dict[str, Any]) -> dict[str, Any]:
    assert run["rc"] == 0, str(run["results"])[:4000] + run["stderr"][-2000:]
    return dict(run["results"]["quota"])


def test_quay_quota_check_mode_apply_idempotence_change_absent(
    tmp_path: Path, server: RegistryServer, admin_token: str, api: httpx.Client  # noqa: F811
) -> None:
    assert api.post("/organization/", json={"name": ORG, "email": "q@example.com"}).status_code == 201
    book = Playbook(tmp_path, server, admin_token)
    wanted = {"limit": "10 MiB", "limits": [{"type": "Warning", "threshold_percent": 80},
                                             {"type": "Reject", "threshold_percent": 100}]}  # fmt: skip

    dry = result(book.run(quota_task(**wanted), check=True))
    assert dry["changed"] is True and dry["diff"]["before"] == {}
    assert state(api) is None, "check mode wrote something"

    first = result(book.run(quota_task(**wanted)))
    assert first["changed"] is True
    assert state(api) == {"limit_bytes": 10 * 1024**2, "limits": [("Reject", 100), ("Warning", 80)]}

    again = book.run(quota_task(**wanted))
    assert result(again)["changed"] is False and again["stats"]["changed"] == 0

    smaller = {"limit_bytes": 5 * 1024**2, "limits": [{"type": "Reject", "threshold_percent": 90}]}
    changed = result(book.run(quota_task(**smaller)))
    assert changed["changed"] is True
    assert changed["diff"]["before"]["limit_bytes"] == 10 * 1024**2
    assert state(api) == {"limit_bytes": 5 * 1024**2, "limits": [("Reject", 90)]}
    assert result(book.run(quota_task(**smaller)))["changed"] is False

    assert result(book.run(quota_task(state="absent"), check=True))["changed"] is True
    assert state(api) is not None
    assert result(book.run(quota_task(state="absent")))["changed"] is True
    assert state(api) is None
    assert result(book.run(quota_task(state="absent")))["changed"] is False
