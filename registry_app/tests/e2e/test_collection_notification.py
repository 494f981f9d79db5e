"""quay.registry.quay_notification run by the real ``ansible-playbook`` against a real registry_app
over HTTPS (the harness of test_collection_modules.py): check mode changes nothing, converge
creates the notification Quay's API shows, a second run changes nothing, a new URL replaces it,
``test`` sends the event's sample data to a real HTTP receiver, and the webhook URL (which holds a
token) never appears in ansible-playbook's output. Every check is made through the API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ADMIN
from tests.e2e.test_collection_modules import Playbook, admin_token, api, playbook, server  # noqa: F401
from tests.support.receivers import HttpReceiver
from tests.support.server import RegistryServer

TITLE = "CI hook"


def task(repo: str, url: str, **extra: Any) -> list[dict[str, Any]]:
    args = {"repository": repo, "title": TITLE, "event": "repo_push", "method": "webhook",
            "config": {"url": url}, **extra}
    return [{"name": "notification", "quay.registry.quay_notification": args}]


def listed(api: httpx.Client, repo: str) -> list[dict[str, Any]]:  # noqa: F811
    r = api.get(f"/repository/{repo}/notification/")
    assert r.status_code == 200, r.text
    return list(r.json()["notifications"])


def outcome(run: dict[str, Any]) -> dict[str, Any]:
    assert run["rc"] == 0, str(run["results"])[:4000] + run["stderr"][-2000:]
    return dict(run["results"]["notification"])


def test_quay_notification_check_converge_idempotence_test_absent(
    playbook: Playbook,  # noqa: F811
    api: httpx.Client,  # noqa: F811
    server: RegistryServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    repo = f"{ADMIN[0]}/notified"
    r = api.post("/repository", json={"namespace": ADMIN[0], "repository": "notified", "visibility": "private",
                                      "description": ""})
    assert r.status_code == 201, r.text
    receiver = HttpReceiver().start()
    try:
        url = receiver.url("/hooks/secret-token-in-the-path")
        checked = playbook.run(task(repo, url), check=True)
        assert outcome(checked)["changed"] is True and listed(api, repo) == []

        first = outcome(playbook.run(task(repo, url)))
        assert first["changed"] is True
        (made,) = listed(api, repo)
        assert (made["title"], made["event"], made["method"], made["config"]) == (
            TITLE, "repo_push", "webhook", {"url": url})

        again = playbook.run(task(repo, url))
        assert outcome(again)["changed"] is False and listed(api, repo) == [made]
        for run in (checked, again):
            assert "secret-token-in-the-path" not in str(run["results"])

        other = receiver.url("/hooks/other")
        assert outcome(playbook.run(task(repo, other, test=True)))["changed"] is True
        (replaced,) = listed(api, repo)
        assert replaced["config"] == {"url": other} and replaced["uuid"] != made["uuid"]
        deadline = time.monotonic() + 90
        while not receiver.bodies("/hooks/other") and time.monotonic() < deadline:
            time.sleep(0.2)
        (sample,) = receiver.bodies("/hooks/other")
        assert sample["repository"] == repo and sample["updated_tags"] == ["latest", "foo"]

        gone = playbook.run(task(repo, other, state="absent"))
        assert outcome(gone)["changed"] is True and listed(api, repo) == []
        assert outcome(playbook.run(task(repo, other, state="absent")))["changed"] is False
    finally:
        receiver.stop()

