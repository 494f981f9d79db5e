"""Repository notifications end to end (issue 11 item 5): the real server on a config bundle with
its notification worker, the /api/v1 notification endpoints in Quay's shapes with their audit log
kinds, and a push with skopeo that moves a tag delivering Quay's ``repo_push`` payload to a real
HTTP receiver; the receiver down during a push, then up, and the event delivered.

Waiting is polling with a generous deadline (the worker's round is every half second here): no
assertion is about time."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server
from tests.support.engines import ContainersClients
from tests.support.images import build_image
from tests.support.receivers import HttpReceiver
from tests.support.server import RegistryServer

DEADLINE_S = 90.0


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    base = tmp_path_factory.mktemp("notify")
    server = bundle_server(
        base, admin=True, REGISTRY_APP_NOTIFICATION_INTERVAL=0.5, REGISTRY_APP_NOTIFICATION_RETRY_AFTER=1
    )
    with server.start():
        yield server


@pytest.fixture
def api(registry: RegistryServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{registry.url}/api/v1", auth=ADMIN, timeout=30) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver().start()
    try:
        yield r
    finally:
        r.stop()


def new_repo(api: httpx.Client) -> str:
    name = f"n{uuid.uuid4().hex[:10]}"
    r = api.post("/repository", json={"namespace": ADMIN[0], "repository": name, "visibility": "private",
                                      "description": ""})
    assert r.status_code == 201, r.text
    return f"{ADMIN[0]}/{name}"


def wait_for(what: str, probe: Callable[[], Any], log: Callable[[], str]) -> Any:
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {DEADLINE_S}s\n{log()[-3000:]}")


def log_kinds(api: httpx.Client, repo: str) -> list[str]:
    r = api.get(f"/repository/{repo}/logs")
    assert r.status_code == 200, r.text
    return [e["kind"] for e in r.json()["logs"]]


def test_notification_endpoints_answer_in_quays_shapes(
    registry: RegistryServer, api: httpx.Client, receiver: HttpReceiver
) -> None:
    repo = new_repo(api)
    body = {"event": "repo_push", "method": "webhook", "config": {"url": receiver.url()}, "eventConfig": {},
            "title": "CI hook"}
    r = api.post(f"/repository/{repo}/notification/", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == {"uuid", "title", "event", "method", "config", "event_config", "number_of_failures"}
    assert (created["event"], created["method"], created["title"], created["number_of_failures"]) == (
        "repo_push", "webhook", "CI hook", 0
    )
    assert created["config"] == {"url": receiver.url()} and created["event_config"] == {}
    nid = created["uuid"]
    assert api.get(f"/repository/{repo}/notification/").json() == {"notifications": [created]}
    assert api.get(f"/repository/{repo}/notification/{nid}").json() == created
    assert api.get(f"/repository/{repo}/notification/nope").status_code == 404

    r = api.post(f"/repository/{repo}/notification/{nid}/test")
    assert (r.status_code, r.json()) == (200, {})
    sample = wait_for("the test notification", lambda: receiver.bodies(), registry.log)
    assert sample[0]["updated_tags"] == ["latest", "foo"] and sample[0]["repository"] == repo

    assert api.post(f"/repository/{repo}/notification/{nid}").status_code == 204  # reset failures
    assert api.delete(f"/repository/{repo}/notification/{nid}").status_code == 204
    r = api.delete(f"/repository/{repo}/notification/{nid}")
    assert r.status_code == 400 and "No repository notification found" in r.json()["error_message"]
    assert api.get(f"/repository/{repo}/notification/").json() == {"notifications": []}
    wanted = {"add_repo_notification", "reset_repo_notification", "delete_repo_notification"}
    wait_for("the audit log entries", lambda: wanted <= set(log_kinds(api, repo)), registry.log)


def test_bad_notifications_are_refused_with_400(api: httpx.Client) -> None:
    repo = new_repo(api)
    bad = [
        {"event": "repo_push", "method": "webhook", "config": {"url": "http://localhost/x"}, "eventConfig": {}},
        {"event": "repo_push", "method": "webhook", "config": {}, "eventConfig": {}},
        {"event": "nothing", "method": "webhook", "config": {"url": "http://h.example/"}, "eventConfig": {}},
        {"event": "repo_push", "method": "webhook", "config": {"url": "http://h.example/", "template": "{"},
         "eventConfig": {}},
        {"event": "repo_push", "method": "email", "config": {"email": "a@b.example"}, "eventConfig": {}},
        {"event": "repo_push", "method": "webhook"},
    ]
    for body in bad:
        r = api.post(f"/repository/{repo}/notification/", json=body)
        assert r.status_code == 400, (body, r.text)
    assert api.get(f"/repository/{repo}/notification/").json() == {"notifications": []}


def test_only_repository_admins_manage_notifications(registry: RegistryServer, api: httpx.Client) -> None:
    repo = new_repo(api)
    registry.create_user("notifyreader", "reader-password-1")
    r = api.put(f"/repository/{repo}/permissions/user/notifyreader", json={"role": "write"})
    assert r.status_code == 200, r.text
    body = {"event": "repo_push", "method": "webhook", "config": {"url": "http://h.example/"}, "eventConfig": {}}
    writer = ("notifyreader", "reader-password-1")
    assert api.post(f"/repository/{repo}/notification/", json=body, auth=writer).status_code == 403
    assert api.get(f"/repository/{repo}/notification/", auth=writer).status_code == 403
    assert httpx.get(f"{registry.url}/api/v1/repository/{repo}/notification/").status_code == 401


def test_a_skopeo_push_delivers_repo_push_even_after_the_receiver_was_down(
    registry: RegistryServer, api: httpx.Client, receiver: HttpReceiver, cc: ContainersClients, tmp_path: Path
) -> None:
    repo = new_repo(api)
    body = {"event": "repo_push", "method": "webhook", "config": {"url": receiver.url()}, "eventConfig": {}}
    nid = api.post(f"/repository/{repo}/notification/", json=body).json()["uuid"]
    cc.skopeo("login", "-u", ADMIN[0], "--password-stdin", "--tls-verify=false", registry.host, input=ADMIN[1])
    image = build_image(tmp_path / "layout", "1.0", seed="notify-push")

    receiver.stop()  # down while the push happens
    cc.skopeo("copy", "--dest-tls-verify=false", image.ref, f"docker://{registry.host}/{repo}:1.0")
    wait_for(
        "a failed delivery counted",
        lambda: api.get(f"/repository/{repo}/notification/{nid}").json()["number_of_failures"] >= 1,
        registry.log,
    )
    receiver.start()  # back on the same port: the retry delivers
    (payload,) = wait_for("the repo_push webhook", lambda: receiver.bodies(), registry.log)
    host = registry.host
    assert payload == {
        "repository": repo,
        "namespace": ADMIN[0],
        "name": repo.split("/")[1],
        "docker_url": f"{host}/{repo}",
        "homepage": f"http://{host}/repository/{repo}",
        "updated_tags": ["1.0"],
    }
    wait_for(
        "the failures reset by the success",
        lambda: api.get(f"/repository/{repo}/notification/{nid}").json()["number_of_failures"] == 0,
        registry.log,
    )
    # the same image pushed again moves no tag: no second event
    cc.skopeo("copy", "--dest-tls-verify=false", image.ref, f"docker://{registry.host}/{repo}:1.0")
    cc.skopeo("copy", "--dest-tls-verify=false", image.ref, f"docker://{registry.host}/{repo}:2.0")
    second = wait_for("the second push's webhook", lambda: receiver.bodies()[1:], registry.log)
    assert [b["updated_tags"] for b in second] == [["2.0"]]


def test_the_openapi_document_has_the_endpoints_and_their_links(api: httpx.Client) -> None:
    doc = api.get("/discovery").json()
    base = "/api/v1/repository/{namespace}/{repository}/notification"
    assert {"get", "post"} <= set(doc["paths"][f"{base}/"])
    assert {"get", "post", "delete"} <= set(doc["paths"][base + "/{uuid}"])
    assert "post" in doc["paths"][base + "/{uuid}/test"]
    links = doc["paths"][f"{base}/"]["post"]["responses"]["201"]["links"]
    assert {link["parameters"].get("uuid") for link in links.values()} == {"$response.body#/uuid"}
    assert len(links) == 4
