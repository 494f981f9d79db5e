"""/api/v1/repository/{namespace}/{repository}/manifest/{digest}: the manifest view (with layers
described by the image config) and manifest labels, as Quay's endpoints/api/manifest.py answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from registry_app.db.store import ManifestRow, RepoRow
from registry_app.db.tags import LabelRow
from registry_app.http.api.common import ApiContext, ApiError, Caller, Ctx
from registry_app.http.api.repository import audit_repo
from registry_app.http.api.tag import format_date, repository_for, tag_service
from registry_app.services import client_json
from registry_app.services.auth import Identity
from registry_app.services.errors import DigestInvalid
from registry_app.services.names import check_digest
from registry_app.services.tags import LayerInfo

router = APIRouter(tags=["manifest"])

BASE = "/repository/{namespace}/{repository}/manifest/{manifestref}"


def _lookup(ctx: ApiContext, repo: RepoRow, ref: str) -> ManifestRow:
    try:
        check_digest(ref)
    except DigestInvalid:
        raise ApiError(404, f"{ref!r} is not a manifest digest", "not_found") from None
    return tag_service(ctx).manifest(repo, ref)


def _manifest(
    ctx: ApiContext, ident: Identity, namespace: str, repository: str, ref: str, need: str
) -> tuple[RepoRow, ManifestRow]:
    repo = repository_for(ctx, ident, namespace, repository, need)
    return repo, _lookup(ctx, repo, ref)


def _command(command: Any) -> Any:
    """Quay's normalisation: a JSON array as it is, anything else wrapped in a list."""
    if not command:
        return None
    try:
        return client_json.loads(command)
    except (TypeError, ValueError):
        return [command]


def layer_view(layer: LayerInfo) -> dict[str, Any]:
    return {
        "index": layer.index,
        "compressed_size": layer.compressed_size,
        "is_remote": layer.is_remote,
        "urls": layer.urls,
        "command": _command(layer.command),
        "comment": layer.comment,
        "author": layer.author,
        "blob_digest": layer.blob_digest,
        "created_datetime": format_date(layer.created),
    }


def label_view(label: LabelRow) -> dict[str, Any]:
    return {
        "id": label.uuid,
        "key": label.key,
        "value": label.value,
        "source_type": label.source_type,
        "media_type": label.media_type,
    }


@router.get(BASE, summary="A manifest of a repository")
def get_repo_manifest(namespace: str, repository: str, manifestref: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    """Quay's ``getRepoManifest``; ``layers`` is null for an index / manifest list."""
    _repo, manifest = _manifest(ctx, ident, namespace, repository, manifestref, "read")
    info = tag_service(ctx).manifest_info(manifest)
    return {
        "digest": manifest.digest,
        "is_manifest_list": info.is_manifest_list,
        "manifest_data": manifest.content.decode("utf-8", errors="replace"),
        "config_media_type": info.config_media_type,
        "layers": [layer_view(x) for x in info.layers] if info.layers else None,
    }


@router.get(BASE + "/labels", summary="Labels of a manifest")
def list_manifest_labels(
    namespace: str,
    repository: str,
    manifestref: str,
    ident: Caller,
    ctx: Ctx,
    filter: str | None = None,
) -> dict[str, Any]:
    """Quay's ``listManifestLabels``; ``filter`` keeps keys starting with it."""
    _repo, manifest = _manifest(ctx, ident, namespace, repository, manifestref, "read")
    return {"labels": [label_view(x) for x in tag_service(ctx).labels(manifest, filter)]}


class AddLabel(BaseModel):
    key: str
    value: str
    media_type: str | None


@router.post(BASE + "/labels", status_code=201, summary="Add a label to a manifest")
def add_manifest_label(
    namespace: str,
    repository: str,
    manifestref: str,
    body: AddLabel,
    ident: Caller,
    ctx: Ctx,
    request: Request,
) -> JSONResponse:
    """Quay's ``addManifestLabel``: 201 with ``{"label": ...}`` and its URL in Location."""
    repo = repository_for(ctx, ident, namespace, repository, "write")
    svc = tag_service(ctx)
    svc.check_label_key(body.key)
    manifest = _lookup(ctx, repo, manifestref)
    label = svc.add_label(manifest, body.key, body.value, body.media_type)
    audit_repo(
        ctx,
        request,
        ident,
        "manifest_label_add",
        repo,
        {
            "id": label.uuid,
            "key": label.key,
            "value": label.value,
            "manifest_digest": manifestref,
            "media_type": label.media_type,
            "namespace": namespace,
            "repo": repository,
        },
    )
    location = f"/api/v1/repository/{namespace}/{repository}/manifest/{manifestref}/labels/{label.uuid}"
    return JSONResponse({"label": label_view(label)}, status_code=201, headers={"Location": location})


@router.get(BASE + "/labels/{labelid}", summary="A label of a manifest")
def get_manifest_label(
    namespace: str, repository: str, manifestref: str, labelid: str, ident: Caller, ctx: Ctx
) -> dict[str, Any]:
    _repo, manifest = _manifest(ctx, ident, namespace, repository, manifestref, "read")
    return label_view(tag_service(ctx).label(manifest, labelid))


@router.delete(BASE + "/labels/{labelid}", summary="Delete a label of a manifest")
def delete_manifest_label(
    namespace: str, repository: str, manifestref: str, labelid: str, ident: Caller, ctx: Ctx, request: Request
) -> Response:
    """Quay's ``deleteManifestLabel``: labels the manifest itself carries cannot be deleted (400)."""
    repo, manifest = _manifest(ctx, ident, namespace, repository, manifestref, "write")
    label = tag_service(ctx).delete_label(manifest, labelid)
    audit_repo(
        ctx,
        request,
        ident,
        "manifest_label_delete",
        repo,
        {
            "id": labelid,
            "key": label.key,
            "value": label.value,
            "manifest_digest": manifestref,
            "namespace": namespace,
            "repo": repository,
        },
    )
    return Response(status_code=204)
