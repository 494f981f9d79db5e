"""Repository notifications, as Quay's ``notifications/`` package has them: events (what happened,
with Quay's event data, sample data for test notifications, a summary and a level), methods
(``webhook``, ``email``, ``slack``: how it is sent) and the delivery of one queued event through one
notification, with Quay's failure rule (a success resets ``number_of_failures``, a failure adds
one; three or more and the notification is disabled until reset).

Events come from ``repository_event`` rows (written by the push path, the security worker, the
quota code, the image-expiry scan); ``db/notifications`` fans them out into deliveries that the
notification worker (workers/notifications.py) sends with retries and backoff.
"""

from __future__ import annotations

import html
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from jsonpath_ng import parse as parse_json_path

from registry_app.clients.mail import send_mail
from registry_app.clients.webhook import DeliveryError, post_json
from registry_app.db.notifications import NotificationRow, NotificationStore
from registry_app.settings.notifications import NotificationSettings

log = logging.getLogger("registry_app.notifications")

# Quay's util/secscan PRIORITY_LEVELS: name -> index (0 most severe); a vulnerability_found
# notification with eventConfig {"level": i} fires for priorities of index <= i.
PRIORITY_INDEX = {"Unknown": 5, "Negligible": 4, "Low": 3, "Medium": 2, "High": 1, "Critical": 0}
PRIORITY_BY_INDEX = {v: k for k, v in PRIORITY_INDEX.items()}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class NotificationError(Exception):
    """A request about notifications cannot be done: ``status`` (400, 404) and Quay's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def repository_event_data(scheme: str, hostname: str, namespace: str, repository: str,
                          extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Quay's ``build_repository_event_data``."""
    name = f"{namespace}/{repository}"
    return {
        "repository": name,
        "namespace": namespace,
        "name": repository,
        "docker_url": f"{hostname}/{name}",
        "homepage": f"{scheme}://{hostname}/repository/{name}",
        **(extra or {}),
    }


def namespace_event_data(scheme: str, hostname: str, namespace: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Quay's ``build_namespace_event_data`` (quota events)."""
    return {"namespace": namespace, "homepage": f"{scheme}://{hostname}/organization/{namespace}", **extra}


# -- events -----------------------------------------------------------------------------------------
def _vuln_level(data: dict[str, Any]) -> str:
    priority = (data.get("vulnerability") or {}).get("priority")
    return "error" if priority == "Critical" else "warning" if priority in ("Medium", "High") else "info"


def _vuln_summary(data: dict[str, Any]) -> str:
    vulns = data.get("vulnerabilities")
    tags = len(data.get("tags") or [])
    if isinstance(vulns, list) and vulns:
        top = vulns[0].get("priority", "Unknown")
        matching = [v for v in vulns if v.get("priority", "Unknown") == top]
        msg = f"{len(matching)} {top}"
        if len(matching) < len(vulns):
            msg += f" and {len(vulns) - len(matching)} more"
        return msg + f" vulnerabilities were detected in repository {data.get('repository')} in {tags} tags"
    priority = (data.get("vulnerability") or {}).get("priority", "Unknown")
    return f"{priority} vulnerability detected in repository {data.get('repository')} in {tags} tags"


def level_index(value: Any) -> int | None:
    """eventConfig ``level`` as Quay stores it (a priority index, int or numeric string) or a name."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value in PRIORITY_BY_INDEX:
        return value
    if isinstance(value, str):
        if value.strip().isdigit() and int(value) in PRIORITY_BY_INDEX:
            return int(value)
        return PRIORITY_INDEX.get(value.strip().capitalize())
    return None


def vulnerability_should_perform(data: dict[str, Any], event_config: dict[str, Any]) -> bool:
    """Quay's ``VulnerabilityFoundEvent.should_perform``: with a ``level`` filter, only
    vulnerabilities at least that severe (index <= level)."""
    if "level" not in event_config:
        return True
    if "vulnerable_index_report_created" in data:
        return True
    if "vulnerability" not in data:
        return False
    index = PRIORITY_INDEX.get(str((data.get("vulnerability") or {}).get("priority", "Unknown")))
    wanted = level_index(event_config["level"])
    if index is None or wanted is None:
        return False
    return index <= wanted


@dataclass(frozen=True)
class Event:
    name: str
    level: Callable[[dict[str, Any]], str]
    summary: Callable[[dict[str, Any]], str]
    sample: Callable[[NotificationSettings, str, str, dict[str, Any]], dict[str, Any]]
    should_perform: Callable[[dict[str, Any], dict[str, Any]], bool] = lambda _d, _c: True


def _repo_sample(extra: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def sample(s: NotificationSettings, ns: str, repo: str, cfg: dict[str, Any]) -> dict[str, Any]:
        return repository_event_data(s.scheme, s.hostname, ns, repo, extra(cfg))

    return sample


def _quota_sample(extra: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    def sample(s: NotificationSettings, ns: str, _repo: str, _cfg: dict[str, Any]) -> dict[str, Any]:
        return namespace_event_data(s.scheme, s.hostname, ns, dict(extra))

    return sample


def _vuln_sample(cfg: dict[str, Any]) -> dict[str, Any]:
    index = level_index(cfg.get("level"))
    return {
        "tags": ["latest", "prod", "foo", "bar", "baz"],
        "image": "some-image-id",
        "vulnerability": {
            "id": "CVE-FAKE-CVE",
            "description": "A futurist vulnerability",
            "link": "https://security-tracker.debian.org/tracker/CVE-FAKE-CVE",
            "priority": PRIORITY_BY_INDEX.get(index if index is not None else 0, "Critical"),
        },
    }


EVENTS: dict[str, Event] = {
    e.name: e
    for e in (
        Event(
            "repo_push",
            lambda _d: "primary",
            lambda d: f"Repository {d.get('repository')} updated",
            _repo_sample(lambda _c: {"updated_tags": ["latest", "foo"], "pruned_image_count": 3}),
        ),
        Event(
            "repo_image_expiry",
            lambda _d: "info",
            lambda d: f"Repository {d.get('repository')} image(s) expiring",
            _repo_sample(lambda c: {"tags": ["latest", "v1"], "expiring_in": f"{c.get('days', None)} days"}),
        ),
        Event("vulnerability_found", _vuln_level, _vuln_summary, _repo_sample(_vuln_sample),
              vulnerability_should_perform),
        Event(
            "quota_warning",
            lambda _d: "warning",
            lambda d: f"Namespace {d.get('namespace')} storage usage has reached "
            f"{d.get('threshold_percent')}% of its quota limit",
            _quota_sample({"threshold_percent": 80, "usage_bytes": 858993459, "limit_bytes": 1073741824,
                           "usage_percent": 80, "usage_bytes_formatted": "819.20 MB",
                           "limit_bytes_formatted": "1.00 GB"}),
        ),
        Event(
            "quota_error",
            lambda _d: "error",
            lambda d: f"Namespace {d.get('namespace')} storage usage has exceeded its quota limit "
            f"({d.get('usage_percent')}%)",
            _quota_sample({"threshold_percent": 100, "usage_bytes": 1127428915, "limit_bytes": 1073741824,
                           "usage_percent": 105, "usage_bytes_formatted": "1.05 GB",
                           "limit_bytes_formatted": "1.00 GB"}),
        ),
    )
}


def message_html(event: Event, data: dict[str, Any]) -> str:
    """The HTML body of an e-mail (Quay renders templates/events/<event>.html; this is the same
    facts in one short form): the summary, the tags, the link to the repository."""
    parts = [html.escape(event.summary(data))]
    for key in ("updated_tags", "tags"):
        if isinstance(data.get(key), list) and data[key]:
            parts.append("Tags: " + ", ".join(f"<b>{html.escape(str(t))}</b>" for t in data[key]))
    vuln = data.get("vulnerability")
    if isinstance(vuln, dict) and vuln.get("id"):
        parts.append(f"Vulnerability: <b>{html.escape(str(vuln['id']))}</b>")
    if data.get("homepage"):
        href = html.escape(str(data["homepage"]), quote=True)
        parts.append(f'<a href="{href}">{html.escape(str(data.get("repository") or data.get("namespace")))}</a>')
    return "<br>".join(parts)


# -- JSON body templates (Quay's util/jsontemplate.py, with jsonpath-ng for jsonpath_rw) -----------
INLINE_PATH = re.compile(r"\$\{([^}]*)\}")


def _inline(expression: str, data: Any) -> Any:
    if not expression:
        raise NotificationError(400, "Empty expression found")
    try:
        found = parse_json_path(expression).find(data)
    except Exception as exc:  # jsonpath-ng raises several kinds for a bad expression
        raise NotificationError(400, f"For expression `{expression}`: {exc}") from None
    if not found:
        return None
    return [f.value for f in found] if len(found) > 1 else found[0].value


def _process_string(value: str, data: Any) -> Any:
    whole = re.fullmatch(INLINE_PATH, value)
    if whole:
        return _inline(whole.group(1), data)

    def one(match: re.Match[str]) -> str:
        result = _inline(match.group(1), data)
        if result is None:
            return "(none)"
        if isinstance(result, list) and len(result) > 1:
            return ",".join(str(r) for r in result)
        return str(result)

    return INLINE_PATH.sub(one, value)


def apply_template(obj: Any, data: Any) -> Any:
    if isinstance(obj, str):
        return _process_string(obj, data)
    if isinstance(obj, dict):
        return {str(_process_string(k, data)): apply_template(v, data) for k, v in obj.items()}
    if isinstance(obj, list):
        return [apply_template(v, data) for v in obj]
    return obj


def parse_template(template: str) -> Any:
    import json

    try:
        parsed = json.loads(template)
    except ValueError as exc:
        raise NotificationError(400, f"Could not parse template: {exc}") from None
    apply_template(parsed, {})  # validate the expressions, as Quay's JSONTemplate does
    return parsed


# -- Slack (Quay's SlackMethod) --------------------------------------------------------------------
class _SlackAdjuster(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.result: list[str] = []

    def handle_data(self, data: str) -> None:
        self.result.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.result.append("<%s|" % (dict(attrs).get("href") or ""))
        elif tag == "i":
            self.result.append("_")
        elif tag in ("b", "strong"):
            self.result.append("*")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self.result.append(">")
        elif tag in ("b", "strong"):
            self.result.append("*")
        elif tag == "i":
            self.result.append("_")


def format_for_slack(message: str) -> str:
    message = re.sub(r"\s+", " ", message.replace("\n", " ")).replace("<br>", "\n")
    adjuster = _SlackAdjuster()
    adjuster.feed(message)
    return "".join(adjuster.result)


SLACK_COLORS = {"info": "#ffffff", "warning": "warning", "error": "danger", "success": "good", "primary": "good"}


def slack_payload(event: Event, data: dict[str, Any]) -> dict[str, Any]:
    summary = event.summary(data)
    return {
        "text": summary,
        "username": "quayiobot",
        "attachments": [
            {
                "fallback": summary,
                "text": format_for_slack(message_html(event, data)),
                "color": SLACK_COLORS.get(event.level(data), "#ffffff"),
                "mrkdwn_in": ["text"],
            }
        ],
    }


# -- the service ----------------------------------------------------------------------------------
METHODS = ("webhook", "email", "slack")


@dataclass(frozen=True)
class Notification:
    """A repository notification as the API shows it (Quay's ``RepositoryNotification.to_dict``)."""

    uuid: str
    title: str | None
    event: str
    method: str
    config: dict[str, Any]
    event_config: dict[str, Any]
    number_of_failures: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "title": self.title,
            "event": self.event,
            "method": self.method,
            "config": self.config,
            "event_config": self.event_config,
            "number_of_failures": self.number_of_failures,
        }


def _view(row: NotificationRow) -> Notification:
    return Notification(row.uuid, row.title, row.event, row.method, row.config, row.event_config,
                        row.number_of_failures)


@dataclass(frozen=True)
class Outcome:
    """What a delivery attempt did: ``sent``; or not, with a loggable ``error`` and whether the
    notification is now ``disabled``; ``skipped`` when there was nothing to send."""

    sent: bool
    error: str = ""
    failures: int = 0
    skipped: bool = False

    @property
    def disabled(self) -> bool:
        from registry_app.db.notifications import FAILURE_LIMIT

        return self.failures >= FAILURE_LIMIT


class NotificationService:
    def __init__(self, store: NotificationStore, settings: NotificationSettings) -> None:
        self.store = store
        self.settings = settings
        self._ssl: ssl.SSLContext | None = None
        self.on_event_recorded: Callable[[], None] | None = None  # wakes an in-process worker

    # -- validation (Quay's NotificationMethod.validate) ---------------------------------------
    def validate(self, event: str, method: str, method_config: dict[str, Any], event_config: dict[str, Any]) -> None:
        if event not in EVENTS:
            raise NotificationError(400, f"Unable to find event: {event}")
        if method not in METHODS:
            raise NotificationError(400, f"Unable to find method: {method}")
        if method == "webhook":
            url = method_config.get("url") or ""
            if not isinstance(url, str) or not url:
                raise NotificationError(400, "Missing webhook URL")
            self._check_url(url, "Invalid webhook URL")
            template = method_config.get("template")
            if template:
                if not isinstance(template, str):
                    raise NotificationError(400, "Could not parse template: not a string")
                parse_template(template)
        elif method == "slack":
            url = method_config.get("url") or ""
            if not isinstance(url, str) or not url:
                raise NotificationError(400, "Missing Slack Callback URL")
            self._check_url(url, "Invalid Slack Callback URL")
        elif method == "email":
            email = method_config.get("email") or ""
            if not isinstance(email, str) or not email:
                raise NotificationError(400, "Missing e-mail address")
            if not EMAIL.match(email) or len(email) > 254:
                raise NotificationError(400, "Invalid e-mail address")
            if not self.settings.mailing:
                raise NotificationError(400, "E-mail notifications need FEATURE_MAILING")
        if event == "vulnerability_found" and "level" in event_config and level_index(event_config["level"]) is None:
            raise NotificationError(400, "eventConfig.level: a priority index 0-5 or a priority name")
        if event == "repo_image_expiry":
            days = event_config.get("days")
            if isinstance(days, bool) or not isinstance(days, int) or not 0 < days <= 3650:
                raise NotificationError(400, "eventConfig.days: the number of days (1-3650) before expiry")

    def _check_url(self, url: str, message: str) -> None:
        if len(url) > 2048:
            raise NotificationError(400, message)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotificationError(400, message)
        if parts.hostname.lower() in self.settings.hostname_blacklist:
            raise NotificationError(400, message)

    # -- the API's operations ------------------------------------------------------------------
    def create(self, repository_id: int, event: str, method: str, config: dict[str, Any],
               event_config: dict[str, Any], title: str | None) -> Notification:
        self.validate(event, method, config, event_config)
        return _view(self.store.create(repository_id, event, method, title, config, event_config))

    def notifications(self, repository_id: int) -> list[Notification]:
        return [_view(r) for r in self.store.list(repository_id)]

    def get(self, repository_id: int, uuid: str) -> Notification:
        return _view(self._row(repository_id, uuid))

    def _row(self, repository_id: int, uuid: str) -> NotificationRow:
        row = self.store.get(repository_id, uuid)
        if row is None:
            raise NotificationError(404, "Not Found")
        return row

    def delete(self, repository_id: int, uuid: str) -> Notification | None:
        row = self.store.delete(repository_id, uuid)
        return _view(row) if row is not None else None

    def reset_failures(self, repository_id: int, uuid: str) -> Notification | None:
        row = self.store.get(repository_id, uuid)
        if row is None:
            return None
        self.store.reset_failures(row.id)
        return _view(self.store.get(repository_id, uuid) or row)

    def queue_test(self, repository_id: int, uuid: str) -> bool:
        """Quay's ``queue_test_notification``: the event's sample data, queued for this one."""
        row = self.store.get(repository_id, uuid)
        if row is None:
            return False
        event = EVENTS.get(row.event)
        if event is None:
            return False
        sample = event.sample(self.settings, row.namespace, row.repository, row.event_config)
        self.store.queue_delivery(row.id, sample)
        self._wake()
        return True

    # -- events ----------------------------------------------------------------------------------
    def record_push(self, repository_id: int, namespace: str, repository: str, tags: list[str]) -> None:
        """A push moved ``tags`` (Quay's v2 manifest PUT: ``updated_tags``)."""
        if not tags or not self.store.has_notifications(repository_id, "repo_push"):
            return
        s = self.settings
        data = repository_event_data(s.scheme, s.hostname, namespace, repository, {"updated_tags": list(tags)})
        self.store.record_event("repo_push", repository_id, data)
        self._wake()

    def _wake(self) -> None:
        if self.on_event_recorded is not None:
            self.on_event_recorded()

    def fan_out(self, limit: int = 100) -> int:
        return self.store.fan_out(limit)

    def scan_image_expiry(self, limit: int = 100) -> int:
        s = self.settings

        def build(ns: str, repo: str, extra: dict[str, Any]) -> dict[str, Any]:
            return repository_event_data(s.scheme, s.hostname, ns, repo, extra)

        return self.store.scan_image_expiry("repo_image_expiry", int(s.expiry_scan_s * 1000), limit, build)

    # -- delivery ----------------------------------------------------------------------------------
    def deliver(self, notification_id: int, data: dict[str, Any]) -> Outcome:
        """Send ``data`` through the notification (Quay's notification worker): skipped when it is
        gone, disabled, or its event's filter says no; a success resets its failures, a failure
        counts one."""
        row = self.store.by_id(notification_id)
        if row is None or not row.enabled:
            return Outcome(sent=False, skipped=True)
        event = EVENTS.get(row.event)
        if event is None or not event.should_perform(data, row.event_config):
            return Outcome(sent=False, skipped=True)
        try:
            self._perform(row, event, data)
        except (DeliveryError, NotificationError) as exc:
            failures = self.store.count_failure(row.id)
            return Outcome(sent=False, error=exc.message, failures=failures)
        if row.number_of_failures:
            self.store.reset_failures(row.id)
        return Outcome(sent=True)

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = self.settings.ssl_context()
        return self._ssl

    def _perform(self, row: NotificationRow, event: Event, data: dict[str, Any]) -> None:
        timeout = self.settings.send_timeout_s
        method_config = row.config  # the method's own settings (url, template, email)
        if row.method == "webhook":
            url = str(method_config.get("url") or "")
            self._check_url(url, "Invalid webhook URL")
            payload: Any = data
            template = method_config.get("template")
            if isinstance(template, str) and template:
                payload = apply_template(parse_template(template), data)
            post_json(url, payload, timeout_s=timeout, context=self._context())
        elif row.method == "slack":
            url = str(method_config.get("url") or "")
            self._check_url(url, "Invalid Slack Callback URL")
            post_json(url, slack_payload(event, data), timeout_s=timeout, context=self._context())
        elif row.method == "email":
            if not self.settings.mailing:
                raise NotificationError(400, "FEATURE_MAILING is off: no e-mail is sent")
            email = str(method_config.get("email") or "")
            send_mail(self.settings.mail, [email], event.summary(data), message_html(event, data), self._context())
        else:
            raise NotificationError(400, f"Unable to find method: {row.method}")


__all__ = [
    "EVENTS",
    "METHODS",
    "Notification",
    "NotificationError",
    "NotificationService",
    "NotificationSettings",
    "Outcome",
    "apply_template",
    "level_index",
    "repository_event_data",
    "slack_payload",
    "vulnerability_should_perform",
]
