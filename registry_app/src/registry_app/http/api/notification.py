"""/api/v1/repository/{namespace}/{repository}/notification/: repository notifications as Quay's
endpoints/api/repositorynotification.py answers them (create, list, get, delete, reset failures,
test), for repository admins. Delivery is the notification worker's (workers/notifications.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from registry_app.db.store import RepoRow
from registry_app.http.api.common import ApiContext, ApiError, Caller, Ctx
from registry_app.http.api.repository import audit_repo, authorize
from registry_app.http.api.tag import repository_for
from registry_app.services.auth import Identity
from registry_app.services.notifications import Notification, NotificationError, NotificationService

router = APIRouter(tags=["repositorynotification"])
BASE = "/repository/{namespace}/{repository}/notification"


class NotificationCreateRequest(BaseModel):
    """Information for creating a notification on a repository (Quay's schema)."""

    event: str = Field(max_length=64, description="The event on which the notification will respond")
    method: str = Field(max_length=64, description="The method of notification (such as email or web callback)")
    config: dict[str, Any] = Field(description="JSON config information for the specific method of notification")
    eventConfig: dict[str, Any] = Field(description="JSON config information for the specific event of notification")
    title: str | None = Field(default=None, max_length=255, description="The human-readable title of the notification")


def _service(ctx: ApiContext) -> NotificationService:
    if ctx.notifications is None:
        raise ApiError(404, "Not Found")
    service: NotificationService = ctx.notifications
    return service


def _admin_repo(ctx: ApiContext, ident: Identity, namespace: str, repository: str) -> RepoRow:
    """The repository, for its admins; changes refused (503) while it is read-only or a mirror."""
    return repository_for(ctx, ident, namespace, repository, "admin")


def _admin_read(ctx: ApiContext, ident: Identity, namespace: str, repository: str) -> RepoRow:
    """The repository, for its admins, whatever its state (listing changes nothing)."""
    return authorize(ctx, ident, namespace, repository, "admin")[0].row


def _audit(ctx: ApiContext, request: Request, ident: Identity, kind: str, repo: RepoRow, n: Notification) -> None:
    audit_repo(
        ctx, request, ident, kind, repo,
        {"repo": repo.name, "namespace": repo.namespace, "notification_id": n.uuid, "event": n.event,
         "method": n.method},
    )


def _missing(namespace: str, repository: str, uuid: str) -> ApiError:
    return ApiError(400, f"No repository notification found for: {namespace}, {repository}, {uuid}")


@router.post(f"{BASE}/", status_code=201, summary="Create a notification on a repository")
def create_repo_notification(
    namespace: str, repository: str, body: NotificationCreateRequest, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    """Quay's ``createRepoNotification``: validated by its method (a webhook or Slack URL, an
    e-mail address with FEATURE_MAILING) and event (``level``, ``days``); 201 with the notification."""
    repo = _admin_repo(ctx, ident, namespace, repository)
    try:
        created = _service(ctx).create(repo.id, body.event, body.method, body.config, body.eventConfig, body.title)
    except NotificationError as exc:
        raise ApiError(exc.status, exc.message) from None
    _audit(ctx, request, ident, "add_repo_notification", repo, created)
    return created.to_dict()


@router.get(f"{BASE}/", summary="List the notifications of a repository")
def list_repo_notifications(namespace: str, repository: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    repo = _admin_read(ctx, ident, namespace, repository)
    return {"notifications": [n.to_dict() for n in _service(ctx).notifications(repo.id)]}


@router.get(BASE + "/{uuid}", summary="Get a notification")
def get_repo_notification(namespace: str, repository: str, uuid: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    repo = _admin_read(ctx, ident, namespace, repository)
    try:
        return _service(ctx).get(repo.id, uuid).to_dict()
    except NotificationError as exc:
        raise ApiError(exc.status, exc.message) from None


@router.delete(BASE + "/{uuid}", status_code=204, summary="Delete a notification")
def delete_repo_notification(
    namespace: str, repository: str, uuid: str, ident: Caller, ctx: Ctx, request: Request
) -> Response:
    repo = _admin_repo(ctx, ident, namespace, repository)
    deleted = _service(ctx).delete(repo.id, uuid)
    if deleted is None:
        raise _missing(namespace, repository, uuid)
    _audit(ctx, request, ident, "delete_repo_notification", repo, deleted)
    return Response(status_code=204)


@router.post(BASE + "/{uuid}", status_code=204, summary="Reset a notification's failures to 0")
def reset_repository_notification_failures(
    namespace: str, repository: str, uuid: str, ident: Caller, ctx: Ctx, request: Request
) -> Response:
    """Quay's ``resetRepositoryNotificationFailures``: a notification disabled after three failed
    deliveries in a row is enabled again."""
    repo = _admin_repo(ctx, ident, namespace, repository)
    reset = _service(ctx).reset_failures(repo.id, uuid)
    if reset is None:
        raise _missing(namespace, repository, uuid)
    _audit(ctx, request, ident, "reset_repo_notification", repo, reset)
    return Response(status_code=204)


@router.post(BASE + "/{uuid}/test", summary="Queue a test notification")
def test_repo_notification(namespace: str, repository: str, uuid: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    """Quay's ``testRepoNotification``: the event's sample data, sent through this notification."""
    repo = _admin_repo(ctx, ident, namespace, repository)
    if not _service(ctx).queue_test(repo.id, uuid):
        raise _missing(namespace, repository, uuid)
    return {}
