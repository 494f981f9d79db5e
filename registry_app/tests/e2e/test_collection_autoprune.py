"""quay.registry.quay_autoprune_policy run by the real ``ansible-playbook`` against a real
registry_app over HTTPS (the fixtures and the Playbook runner of test_collection_modules.py):
check mode changes nothing, a converge creates the policy, a second run changes nothing,
``exclusive`` replaces a policy with a changed value, repository policies, ``state: absent``.
Every check reads the policies back through /api/v1."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.e2e.test_collection_modules import Playbook, admin_token, api, playbook, server  # noqa: F401

ORG = "pruners"


def keep_view(value: int) -> dict[str, Any]:
    return {"method": "number_of_tags", "value": value, "tagPattern": None, "tagPatternMatches": True}


def task(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "quay.registry.quay_autoprune_policy": args}


def ok(run: dict[str, Any], name: str) -> dict[str, Any]:
    assert run["rc"] == 0, json.dumps(run["results"], indent=1)[:6000] + run["stderr"][-3000:]
    return dict(run["results"][name])


def policies(api: httpx.Client, owner: str) -> list[dict[str, Any]]:  # noqa: F811
    r = api.get(f"/{owner}/autoprunepolicy/")
    assert r.status_code == 200, r.text
    return [{k: v for k, v in p.items() if k != "uuid"} for p in r.json()["policies"]]


def test_converge_idempotence_exclusive_absent(playbook: Playbook, api: httpx.Client) -> None:  # noqa: F811
    r = api.post("/organization/", json={"name": ORG, "email": "prune@example.com"})
    assert r.status_code in (201, 400), r.text
    org = f"organization/{ORG}"
    keep = task("keep", namespace=ORG, method="number_of_tags", value=20)

    dry = ok(playbook.run([keep], check=True), "keep")
    assert dry["changed"] is True and policies(api, org) == []
    assert dry["diff"]["after"] == {"policies": [keep_view(20)]}

    first = ok(playbook.run([keep]), "keep")
    assert first["changed"] is True and first["policy"]["uuid"]
    assert policies(api, org) == [keep_view(20)]
    assert ok(playbook.run([keep]), "keep")["changed"] is False

    changed = task("keep", namespace=ORG, method="number_of_tags", value=5, exclusive=True)
    assert ok(playbook.run([changed]), "keep")["changed"] is True
    assert policies(api, org) == [keep_view(5)]
    assert ok(playbook.run([changed]), "keep")["changed"] is False

    # a repository's policy, with a pattern
    assert api.post("/repository", json={"namespace": ORG, "repository": "web", "visibility": "private",
                                         "description": ""}).status_code == 201
    dev = task("dev", namespace=ORG, repository="web", method="creation_date", value="2w", tag_pattern="^dev-")
    assert ok(playbook.run([dev]), "dev")["changed"] is True
    assert policies(api, f"repository/{ORG}/web") == [
        {"method": "creation_date", "value": "2w", "tagPattern": "^dev-", "tagPatternMatches": True}
    ]
    assert ok(playbook.run([dev]), "dev")["changed"] is False

    gone = [task("org", namespace=ORG, state="absent", exclusive=True),
            task("dev", namespace=ORG, repository="web", method="creation_date", value="2w", tag_pattern="^dev-",
                 state="absent")]
    run = playbook.run(gone)
    assert ok(run, "org")["changed"] is True and ok(run, "dev")["changed"] is True
    assert policies(api, org) == [] and policies(api, f"repository/{ORG}/web") == []
    again = playbook.run(gone)
    assert ok(again, "org")["changed"] is False and ok(again, "dev")["changed"] is False
