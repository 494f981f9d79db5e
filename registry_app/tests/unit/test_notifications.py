"""Repository notifications delivered (issue 11 item 5), on real SQLite and PostgreSQL databases,
to real receivers on loopback: an HTTP server (webhook, Slack) and an SMTP server (aiosmtpd). The
notification worker is driven round by round (``Worker.round()``), so nothing depends on timing:
a retry is made due by the test moving the delivery's claim time, not by sleeping."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from registry_app.config import Config, embedded_default
from registry_app.db.engine import make_engine, migrate
from registry_app.db.models import NotificationDelivery, RepositoryEvent
from registry_app.db.store import RepoRow
from registry_app.services.notifications import (
    EVENTS,
    NotificationError,
    NotificationService,
    apply_template,
    parse_template,
    vulnerability_should_perform,
)
from registry_app.settings import Settings
from registry_app.wiring import Core, build_core
from registry_app.workers.notifications import NotificationWorker
from tests.support.receivers import HttpReceiver, SmtpReceiver

HOST = "registry.example:8443"


def make_config(tmp_path: Path, db_uri: str | None, **values: Any) -> Settings:
    """The typed settings of the embedded default with ``values`` on top (as the loader makes them)."""
    base = embedded_default(tmp_path, "127.0.0.1", 5999)
    extra: dict[str, Any] = {"SERVER_HOSTNAME": HOST, "PREFERRED_URL_SCHEME": "https"}
    if db_uri is not None:
        extra["DB_URI"] = db_uri
    return Config(values={**base.values, **extra, **values}, data_dir=base.data_dir).settings


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    if request.param == "sqlite":
        return None
    uri = str(request.getfixturevalue("pg_database"))
    engine = make_engine(uri)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    return uri


class World:
    def __init__(self, core: Core) -> None:
        self.core = core
        assert core.notifications is not None
        self.svc: NotificationService = core.notifications
        self.repo: RepoRow = core.store.create_repo("acme", "app", "private", True)

    def worker(self) -> NotificationWorker:
        return NotificationWorker(self.svc)

    def notification(self, event: str, method: str, config: dict[str, Any], event_config: dict[str, Any] | None = None,
                     title: str | None = None) -> str:
        return self.svc.create(self.repo.id, event, method, config, event_config or {}, title).uuid

    def failures(self, uuid: str) -> int:
        return self.svc.get(self.repo.id, uuid).number_of_failures

    def make_retries_due(self) -> None:
        """The backoff passed: every delivery's claim time is set back to 0 (free now)."""
        table = NotificationDelivery.__table__
        with self.core.engine.begin() as conn:
            conn.execute(update(table).values(claimed_until_ms=0))

    def push(self, tags: list[str]) -> None:
        self.svc.record_push(self.repo.id, self.repo.namespace, self.repo.name, tags)


@pytest.fixture
def world(tmp_path: Path, db_uri: str | None) -> Iterator[World]:
    core = build_core(make_config(tmp_path, db_uri, FEATURE_MAILING=True, MAIL_SERVER="127.0.0.1"))
    try:
        yield World(core)
    finally:
        core.engine.dispose()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver().start()
    try:
        yield r
    finally:
        r.stop()


def quay_repo_data(tags: list[str]) -> dict[str, Any]:
    """What Quay's build_repository_event_data + the v2 push's extra data give for acme/app."""
    return {
        "repository": "acme/app",
        "namespace": "acme",
        "name": "app",
        "docker_url": f"{HOST}/acme/app",
        "homepage": f"https://{HOST}/repository/acme/app",
        "updated_tags": tags,
    }


def test_repo_push_is_posted_to_the_webhook_as_quay_does(world: World, receiver: HttpReceiver) -> None:
    world.notification("repo_push", "webhook", {"url": receiver.url()})
    world.push(["latest", "v1"])
    assert world.worker().round()
    assert receiver.bodies("/hook") == [quay_repo_data(["latest", "v1"])]
    _path, headers, _body = receiver.received[0]
    assert headers.get("Content-Type") == "application/json"
    world.worker().round()  # the event was handed out once: nothing more is sent
    assert len(receiver.bodies()) == 1


def test_no_event_is_recorded_without_a_notification(world: World) -> None:
    world.push(["latest"])
    with world.core.engine.connect() as conn:
        assert conn.execute(select(RepositoryEvent.__table__.c.id)).all() == []


def test_the_json_body_template_shapes_the_webhook(world: World, receiver: HttpReceiver) -> None:
    template = json.dumps({"text": "pushed ${updated_tags} to ${repository}", "repo": "${docker_url}",
                           "missing": "x ${nothing} y"})
    world.notification("repo_push", "webhook", {"url": receiver.url(), "template": template})
    world.push(["a", "b"])
    world.worker().round()
    expected = {"text": "pushed a,b to acme/app", "repo": f"{HOST}/acme/app", "missing": "x (none) y"}
    assert receiver.bodies() == [expected]


def test_bad_templates_and_urls_are_refused_with_quays_messages(world: World) -> None:
    with pytest.raises(NotificationError, match="Could not parse template"):
        world.notification("repo_push", "webhook", {"url": "http://h.example/", "template": "{not json"})
    for url in ("ftp://h.example/", "http://localhost:1/", "http://127.0.0.1/x", ""):
        with pytest.raises(NotificationError, match="webhook URL"):
            world.notification("repo_push", "webhook", {"url": url})
    with pytest.raises(NotificationError, match="Unable to find event"):
        world.notification("repo_pushed", "webhook", {"url": "http://h.example/"})
    with pytest.raises(NotificationError, match="Unable to find method"):
        world.notification("repo_push", "hipchat", {})
    with pytest.raises(NotificationError, match="e-mail"):
        world.notification("repo_push", "email", {"email": "not-an-address"})
    with pytest.raises(NotificationError, match="days"):
        world.notification("repo_image_expiry", "webhook", {"url": "http://h.example/"}, {"days": 0})
    assert world.svc.notifications(world.repo.id) == []


def test_template_expressions_follow_quays_json_template() -> None:
    data = {"updated_tags": ["x"], "repository": "a/b", "n": 3}
    assert apply_template(parse_template('{"${repository}": "${n}", "t": "${updated_tags}"}'), data) == {
        "a/b": 3, "t": ["x"]
    }


def test_receiver_down_then_up_the_event_is_delivered(world: World, receiver: HttpReceiver) -> None:
    uuid = world.notification("repo_push", "webhook", {"url": receiver.url()})
    receiver.stop()  # down: connections refused
    world.push(["latest"])
    worker = world.worker()
    worker.round()
    assert world.failures(uuid) == 1
    assert world.svc.store.pending_deliveries() == 1  # kept for a retry, not lost
    worker.round()  # the retry is not due yet: nothing is tried
    assert world.failures(uuid) == 1
    receiver.start()  # back, same port
    world.make_retries_due()
    worker.round()
    assert receiver.bodies() == [quay_repo_data(["latest"])]
    assert world.failures(uuid) == 0  # a success resets the count, as in Quay
    assert world.svc.store.pending_deliveries() == 0


def test_three_failures_disable_the_notification_until_reset(world: World, receiver: HttpReceiver) -> None:
    uuid = world.notification("repo_push", "webhook", {"url": receiver.url()})
    receiver.status = 500
    world.push(["latest"])
    worker = world.worker()
    for expected in (1, 2, 3):
        worker.round()
        assert world.failures(uuid) == expected
        world.make_retries_due()
    assert len(receiver.bodies()) == 3
    worker.round()  # disabled: the pending retry is dropped without a call
    assert len(receiver.bodies()) == 3
    assert world.svc.store.pending_deliveries() == 0
    world.push(["v2"])  # new events do not reach a disabled notification
    worker.round()
    assert len(receiver.bodies()) == 3 and world.failures(uuid) == 3
    receiver.status = 200
    reset = world.svc.reset_failures(world.repo.id, uuid)
    assert reset is not None and reset.number_of_failures == 0
    world.push(["v3"])
    worker.round()
    assert receiver.bodies()[-1]["updated_tags"] == ["v3"]


def test_a_delivery_is_dropped_after_max_attempts(tmp_path: Path, receiver: HttpReceiver) -> None:
    core = build_core(make_config(tmp_path, None, REGISTRY_APP_NOTIFICATION_MAX_ATTEMPTS=2))
    w = World(core)
    uuid = w.notification("repo_push", "webhook", {"url": receiver.url()})
    receiver.status = 503
    w.push(["latest"])
    worker = w.worker()
    worker.round()
    w.make_retries_due()
    worker.round()
    assert w.failures(uuid) == 2 and w.svc.store.pending_deliveries() == 0
    core.engine.dispose()


def test_test_notification_sends_the_events_sample_data(world: World, receiver: HttpReceiver) -> None:
    uuid = world.notification("vulnerability_found", "webhook", {"url": receiver.url()}, {"level": 1})
    assert world.svc.queue_test(world.repo.id, uuid)
    world.worker().round()
    (body,) = receiver.bodies()
    assert body["repository"] == "acme/app" and body["tags"] == ["latest", "prod", "foo", "bar", "baz"]
    assert body["vulnerability"]["id"] == "CVE-FAKE-CVE" and body["vulnerability"]["priority"] == "High"
    assert not world.svc.queue_test(world.repo.id, "no-such-uuid")


def test_email_goes_through_a_real_smtp_server(tmp_path: Path, db_uri: str | None) -> None:
    smtp = SmtpReceiver().start()
    try:
        core = build_core(make_config(tmp_path, db_uri, FEATURE_MAILING=True, MAIL_SERVER=smtp.host,
                                      MAIL_PORT=smtp.port, MAIL_DEFAULT_SENDER="quay@registry.example"))
        w = World(core)
        w.notification("repo_push", "email", {"email": "ops@example.com"})
        w.push(["latest"])
        w.worker().round()
        ((sender, rcpts, msg),) = smtp.messages
        assert sender == "quay@registry.example" and rcpts == ["ops@example.com"]
        assert msg["Subject"] == "Repository acme/app updated"
        body = msg.get_payload(decode=True)
        assert isinstance(body, bytes) and b"latest" in body and f"https://{HOST}/repository/acme/app".encode() in body
        core.engine.dispose()
    finally:
        smtp.stop()


def test_email_with_the_smtp_server_down_counts_a_failure(tmp_path: Path, receiver: HttpReceiver) -> None:
    port = receiver.port
    receiver.stop()  # nothing listens there now
    core = build_core(make_config(tmp_path, None, FEATURE_MAILING=True, MAIL_SERVER=receiver.host, MAIL_PORT=port,
                                  MAIL_USERNAME="u", MAIL_PASSWORD="hunter2-secret"))  # noqa: S106
    w = World(core)
    uuid = w.notification("repo_push", "email", {"email": "ops@example.com"})
    w.push(["latest"])
    worker = w.worker()
    worker.round()
    assert w.failures(uuid) == 1
    assert "hunter2" not in worker.stats().last_error
    core.engine.dispose()


def test_email_needs_feature_mailing(tmp_path: Path) -> None:
    core = build_core(make_config(tmp_path, None))
    w = World(core)
    with pytest.raises(NotificationError, match="FEATURE_MAILING"):
        w.notification("repo_push", "email", {"email": "ops@example.com"})
    core.engine.dispose()


def test_slack_gets_slacks_message_shape(world: World, receiver: HttpReceiver) -> None:
    world.notification("repo_push", "slack", {"url": receiver.url("/services/T000/B000/XXXX")})
    world.push(["latest"])
    world.worker().round()
    (body,) = receiver.bodies("/services/T000/B000/XXXX")
    assert body["text"] == "Repository acme/app updated" and body["username"] == "quayiobot"
    (attachment,) = body["attachments"]
    assert attachment["fallback"] == body["text"] and attachment["color"] == "good"
    assert attachment["mrkdwn_in"] == ["text"]
    assert "*latest*" in attachment["text"] and f"<https://{HOST}/repository/acme/app|acme/app>" in attachment["text"]


def test_secrets_in_urls_never_reach_the_log(world: World, receiver: HttpReceiver,
                                             caplog: pytest.LogCaptureFixture) -> None:
    world.notification("repo_push", "slack", {"url": receiver.url("/services/T0/B0/sekrit-token")})
    receiver.status = 500
    world.push(["latest"])
    with caplog.at_level("DEBUG"):
        worker = world.worker()
        worker.round()
    assert "sekrit-token" not in caplog.text and "sekrit-token" not in worker.stats().last_error
    assert f"{receiver.host}:{receiver.port}" in caplog.text  # the host is named, the path is not


def vuln(priority: str) -> dict[str, Any]:
    return {"repository": "acme/app", "tags": ["latest"], "vulnerability": {"id": "CVE-1", "priority": priority}}


def test_vulnerability_severity_filter_is_quays() -> None:
    high = {"level": 1}  # Quay's priority index: High and worse
    assert vulnerability_should_perform(vuln("Critical"), high)
    assert vulnerability_should_perform(vuln("High"), high)
    assert not vulnerability_should_perform(vuln("Medium"), high)
    assert not vulnerability_should_perform(vuln("Bogus"), high)
    assert vulnerability_should_perform(vuln("Low"), {})
    assert vulnerability_should_perform(vuln("Low"), {"level": "5"})
    assert not vulnerability_should_perform(vuln("Low"), {"level": "Medium"})
    assert vulnerability_should_perform({"vulnerable_index_report_created": True}, high)
    assert not vulnerability_should_perform({"repository": "acme/app"}, high)


def test_vulnerability_events_from_the_security_worker_are_filtered(world: World, receiver: HttpReceiver) -> None:
    world.notification("vulnerability_found", "webhook", {"url": receiver.url("/high")}, {"level": 1})
    world.notification("vulnerability_found", "webhook", {"url": receiver.url("/all")}, {})
    for priority in ("Low", "Critical"):
        world.svc.store.record_event("vulnerability_found", world.repo.id, vuln(priority))
    world.worker().round()
    assert [b["vulnerability"]["priority"] for b in receiver.bodies("/high")] == ["Critical"]
    assert sorted(b["vulnerability"]["priority"] for b in receiver.bodies("/all")) == ["Critical", "Low"]


def test_quota_events_written_by_others_are_delivered(world: World, receiver: HttpReceiver) -> None:
    world.notification("quota_warning", "webhook", {"url": receiver.url()})
    sample = EVENTS["quota_warning"].sample(world.svc.settings, "acme", "app", {})
    world.svc.store.record_event("quota_warning", world.repo.id, sample)
    world.svc.store.record_event("quota_error", world.repo.id, {"namespace": "acme"})  # no notification for it
    world.worker().round()
    assert receiver.bodies() == [sample]
    assert sample["homepage"] == f"https://{HOST}/organization/acme" and sample["threshold_percent"] == 80


def test_image_expiry_announces_each_expiring_tag_once(world: World, receiver: HttpReceiver) -> None:
    store = world.core.store
    content = b'{"schemaVersion":2}'
    store.put_manifest(world.repo.id, "sha256:" + "a" * 64, "application/vnd.oci.image.manifest.v1+json", None, None,
                       None, content, [], [], ["soon", "later", "never"])
    now = int(time.time() * 1000)
    store.set_tag_expiration(world.repo.id, ["soon"], now + 2 * 86_400_000)
    store.set_tag_expiration(world.repo.id, ["later"], now + 30 * 86_400_000)
    world.notification("repo_image_expiry", "webhook", {"url": receiver.url()}, {"days": 7})
    world.worker().round()
    (body,) = receiver.bodies()
    assert body["tags"] == ["soon"] and body["expiring_in"] == "7 days" and body["repository"] == "acme/app"
    assert world.svc.scan_image_expiry() == 0  # scanned just now, and "soon" was announced


def test_a_push_reports_only_the_tags_it_moved(world: World) -> None:
    store = world.core.store
    args = ("application/vnd.oci.image.manifest.v1+json", None, None, None)
    one, two = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    assert store.put_manifest(world.repo.id, one, *args, b'{"a":1}', [], [], ["a", "b"]) == ["a", "b"]
    assert store.put_manifest(world.repo.id, one, *args, b'{"a":1}', [], [], ["a", "b"]) == []
    assert store.put_manifest(world.repo.id, two, *args, b'{"a":2}', [], [], ["a", "c"]) == ["a", "c"]


@pytest.mark.postgres
def test_two_workers_on_postgresql_deliver_each_event_once(tmp_path: Path, pg_database: str,
                                                           receiver: HttpReceiver) -> None:
    engine = make_engine(pg_database)
    migrate(engine)
    engine.dispose()
    cores = [build_core(make_config(tmp_path / str(i), pg_database)) for i in range(2)]
    w = World(cores[0])
    w.notification("repo_push", "webhook", {"url": receiver.url()})
    for i in range(40):
        w.push([f"t{i}"])
    workers = [NotificationWorker(c.notifications, jitter=0.0) for c in cores if c.notifications is not None]
    assert workers[0].holder == workers[1].holder  # one process: give them distinct holders
    workers[1].holder = workers[1].holder + ":second"
    barrier = threading.Barrier(2)

    def run(worker: NotificationWorker) -> None:
        barrier.wait()
        for _ in range(5):
            worker.round()

    threads = [threading.Thread(target=run, args=(wk,)) for wk in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tags = sorted(b["updated_tags"][0] for b in receiver.bodies())
    assert tags == sorted(f"t{i}" for i in range(40))  # every event, none twice
    for c in cores:
        c.engine.dispose()


def test_mail_settings_are_decided_once_and_the_password_never_shows(tmp_path: Path) -> None:
    secret = secrets.token_urlsafe(12)
    settings = make_config(tmp_path, None, FEATURE_MAILING=True, MAIL_SERVER="smtp.example", MAIL_PORT=2525,
                           MAIL_USERNAME="quay", MAIL_PASSWORD=secret,
                           WEBHOOK_HOSTNAME_BLACKLIST=["Intra.Example"], REGISTRY_APP_NOTIFICATION_INTERVAL=0)
    n = settings.notifications
    assert n.mailing and (n.mail.server, n.mail.port, n.mail.username) == ("smtp.example", 2525, "quay")
    assert n.mail.password == secret
    assert secret not in repr(settings) and secret not in str(n)
    assert (n.scheme, n.hostname) == ("https", HOST)
    assert "intra.example" in n.hostname_blacklist and "localhost" in n.hostname_blacklist
    assert n.worker_off_because == "REGISTRY_APP_NOTIFICATION_INTERVAL is 0"
    defaults = make_config(tmp_path / "d", None).notifications
    assert not defaults.mailing and defaults.mail.sender == "admin@example.com" and defaults.worker_off_because is None
