"""Tag policies: /api/v1/.../autoprunepolicy/ (Quay's endpoints/api/policy.py) and
/api/v1/.../immutabilitypolicy/ (Quay 3.17's endpoints/api/immutability_policy.py), for
organizations, repositories and (auto-prune only, as in Quay) the caller's own namespace.

Shapes as Quay: a list is ``{"policies": [view]}``, a view ``{uuid, method, value, tagPattern,
tagPatternMatches}`` (immutability: no method/value); create answers 201 ``{"uuid"}``, update 204,
delete 200 ``{"uuid"}``. Organization policies need the organization's admin role, repository
policies the repository's admin role; the rules are in services/tag_policy.py. The endpoints answer
404 while FEATURE_AUTO_PRUNE / FEATURE_IMMUTABLE_TAGS is false (Quay's ``show_if``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from registry_app.http.api.common import ApiContext, ApiError, Caller, Ctx, client_ip, require_user
from registry_app.http.api.organization import administered_org
from registry_app.http.api.repository import audit_repo, authorize
from registry_app.services.auth import Identity
from registry_app.services.tag_policy import AUTOPRUNE, IMMUTABILITY, TagPolicyService

router = APIRouter(tags=["policy"])

PolicyBody = Annotated[dict[str, Any], Body(description="the policy configuration (Quay's shape)")]


def _service(ctx: ApiContext, kind: str) -> TagPolicyService:
    svc: TagPolicyService | None = ctx.tag_policy
    on = svc is not None and (svc.settings.autoprune if kind == AUTOPRUNE else svc.settings.immutable_tags)
    if svc is None or not on:
        raise ApiError(404, "Not Found", "not_found")
    return svc


@dataclass(frozen=True)
class Owner:
    """Whose policies a request is about, and how to log a change to them."""

    namespace: str
    namespace_id: int
    repository_id: int | None
    log: Callable[[str, dict[str, Any]], None]
    metadata: dict[str, Any]


def _org_owner(ctx: ApiContext, ident: Identity, request: Request, orgname: str) -> Owner:
    org = administered_org(ctx, ident, orgname)

    def log(kind: str, metadata: dict[str, Any]) -> None:
        ctx.audit.record(kind, account_id=org.id, performer_id=ident.user_id, ip=client_ip(request), metadata=metadata)

    return Owner(org.username, org.id, None, log, {"namespace": org.username})


def _user_owner(ctx: ApiContext, ident: Identity, request: Request) -> Owner:
    require_user(ident, "user:admin")
    assert ident.user_id is not None

    def log(kind: str, metadata: dict[str, Any]) -> None:
        ctx.audit.record(
            kind, account_id=ident.user_id, performer_id=ident.user_id, ip=client_ip(request), metadata=metadata
        )

    name = ident.username or ""
    return Owner(name, ident.user_id, None, log, {"namespace": name})


def _repo_owner(ctx: ApiContext, ident: Identity, request: Request, namespace: str, repository: str) -> Owner:
    info, _role = authorize(ctx, ident, namespace, repository, "admin")

    def log(kind: str, metadata: dict[str, Any]) -> None:
        audit_repo(ctx, request, ident, kind, info, metadata)

    return Owner(namespace, info.namespace_id, info.id, log, {"namespace": namespace, "repo": repository})


def _log_config(kind: str, rule: dict[str, Any]) -> dict[str, Any]:
    keys = (
        ("method", "value", "tag_pattern", "tag_pattern_matches")
        if kind == AUTOPRUNE
        else ("tag_pattern", "tag_pattern_matches")
    )
    return {k: rule.get(k) for k in keys}


def _scope(kind: str, owner: Owner) -> str:
    """Quay's log kind infix: autoprune logs name the scope, immutability ones do not."""
    if kind == IMMUTABILITY:
        return "immutability_policy"
    return ("repository" if owner.repository_id is not None else "namespace") + "_autoprune_policy"


# -- the operations, shared by every owner ----------------------------------------------------------
def _list(ctx: ApiContext, kind: str, owner: Owner) -> dict[str, Any]:
    return {"policies": _service(ctx, kind).views(kind, owner.namespace_id, owner.repository_id)}


def _get(ctx: ApiContext, kind: str, owner: Owner, policy_uuid: str) -> dict[str, Any]:
    return _service(ctx, kind).get(kind, owner.namespace_id, owner.repository_id, policy_uuid)


def _create(ctx: ApiContext, kind: str, owner: Owner, body: dict[str, Any]) -> JSONResponse:
    new_uuid, config = _service(ctx, kind).create(kind, owner.namespace_id, owner.repository_id, body)
    owner.log(f"create_{_scope(kind, owner)}", {**_log_config(kind, config), **owner.metadata})
    return JSONResponse({"uuid": new_uuid}, status_code=201)


def _update(ctx: ApiContext, kind: str, owner: Owner, policy_uuid: str, body: dict[str, Any]) -> Response:
    config = _service(ctx, kind).update(kind, owner.namespace_id, owner.repository_id, policy_uuid, body)
    owner.log(
        f"update_{_scope(kind, owner)}", {**_log_config(kind, config), **owner.metadata, "policy_uuid": policy_uuid}
    )
    return Response(status_code=204)


def _delete(ctx: ApiContext, kind: str, owner: Owner, policy_uuid: str) -> dict[str, Any]:
    _service(ctx, kind).delete(kind, owner.namespace_id, owner.repository_id, policy_uuid)
    owner.log(f"delete_{_scope(kind, owner)}", {**owner.metadata, "policy_uuid": policy_uuid})
    return {"uuid": policy_uuid}


# -- organizations --------------------------------------------------------------------------------
@router.get("/organization/{orgname}/autoprunepolicy/", summary="List an organization's auto-prune policies")
def list_org_autoprune(orgname: str, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    _service(ctx, AUTOPRUNE)
    return _list(ctx, AUTOPRUNE, _org_owner(ctx, ident, request, orgname))


@router.post(
    "/organization/{orgname}/autoprunepolicy/", status_code=201, summary="Create an organization auto-prune policy"
)
def create_org_autoprune(orgname: str, body: PolicyBody, ident: Caller, ctx: Ctx, request: Request) -> JSONResponse:
    _service(ctx, AUTOPRUNE)
    return _create(ctx, AUTOPRUNE, _org_owner(ctx, ident, request, orgname), body)


@router.get("/organization/{orgname}/autoprunepolicy/{policy_uuid}", summary="An organization auto-prune policy")
def get_org_autoprune(orgname: str, policy_uuid: str, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    _service(ctx, AUTOPRUNE)
    return _get(ctx, AUTOPRUNE, _org_owner(ctx, ident, request, orgname), policy_uuid)


@router.put(
    "/organization/{orgname}/autoprunepolicy/{policy_uuid}",
    status_code=204,
    summary="Change an organization auto-prune policy",
)
def update_org_autoprune(
    orgname: str, policy_uuid: str, body: PolicyBody, ident: Caller, ctx: Ctx, request: Request
) -> Response:
    _service(ctx, AUTOPRUNE)
    return _update(ctx, AUTOPRUNE, _org_owner(ctx, ident, request, orgname), policy_uuid, body)


@router.delete(
    "/organization/{orgname}/autoprunepolicy/{policy_uuid}", summary="Delete an organization auto-prune policy"
)
def delete_org_autoprune(orgname: str, policy_uuid: str, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    _service(ctx, AUTOPRUNE)
    return _delete(ctx, AUTOPRUNE, _org_owner(ctx, ident, request, orgname), policy_uuid)


@router.get("/organization/{orgname}/immutabilitypolicy/", summary="List an organization's immutability policies")
def list_org_immutability(orgname: str, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    _service(ctx, IMMUTABILITY)
    return _list(ctx, IMMUTABILITY, _org_owner(ctx, ident, request, orgname))


@router.post(
    "/organization/{orgname}/immutabilitypolicy/", status_code=201, summary="Create an organization immutability policy"
)
def create_org_immutability(orgname: str, body: PolicyBody, ident: Caller, ctx: Ctx, request: Request) -> JSONResponse:
    _service(ctx, IMMUTABILITY)
    return _create(ctx, IMMUTABILITY, _org_owner(ctx, ident, request, orgname), body)


@router.get("/organization/{orgname}/immutabilitypolicy/{policy_uuid}", summary="An organization immutability policy")
def get_org_immutability(orgname: str, policy_uuid: str, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    _service(ctx, IMMUTABILITY)
    return _get(ctx, IMMUTABILITY, _org_owner(ctx, ident, request, orgname), policy_uuid)


@router.put(
    "/organization/{orgname}/immutabilitypolicy/{policy_uuid}",
    status_code=204,
    summary="Change an organization immutability policy",
)
def update_org_immutability(
    orgname: str, policy_uuid: str, body: PolicyBody, ident: Caller, ctx: Ctx, request: Request
) -> Response:
    _service(ctx, IMMUTABILITY)
    return _update(ctx, IMMUTABILITY, _org_owner(ctx, ident, request, orgname), policy_uuid, body)


@router.delete(
    "/organization/{orgname}/immutabilitypolicy/{policy_uuid}", summary="Delete an organization immutability policy"
)
def delete_org_immutability(
    orgname: str, policy_uuid: str, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    _service(ctx, IMMUTABILITY)
    return _delete(ctx, IMMUTABILITY, _org_owner(ctx, ident, request, orgname), policy_uuid)


# -- the caller's own namespace (auto-prune only, as in Quay) --------------------------------------
@router.get("/user/autoprunepolicy/", summary="List the caller's auto-prune policies")
def list_user_autoprune(ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    _service(ctx, AUTOPRUNE)
    return _list(ctx, AUTOPRUNE, _user_owner(ctx, ident, request))


@router.post(
    "/user/autoprunepolicy/", status_code=201, summary="Create an auto-prune policy for the caller's namespace"
)
def create_user_autoprune(body: PolicyBody, ident: Caller, ctx: Ctx, request: Request) -> JSONResponse:
    _service(ctx, AUTOPRUNE)
    return _create(ctx, AUTOPRUNE, _user_owner(ctx, ident, request), body)


@router.get("/user/autoprunepolicy/{policy_uuid}", summary="One of the caller's auto-prune policies")
def get_user_autoprune(policy_uuid: str, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    _service(ctx, AUTOPRUNE)
    return _get(ctx, AUTOPRUNE, _user_owner(ctx, ident, request), policy_uuid)


@router.put(
    "/user/autoprunepolicy/{policy_uuid}", status_code=204, summary="Change one of the caller's auto-prune policies"
)
def update_user_autoprune(policy_uuid: str, body: PolicyBody, ident: Caller, ctx: Ctx, request: Request) -> Response:
    _service(ctx, AUTOPRUNE)
    return _update(ctx, AUTOPRUNE, _user_owner(ctx, ident, request), policy_uuid, body)


@router.delete("/user/autoprunepolicy/{policy_uuid}", summary="Delete one of the caller's auto-prune policies")
def delete_user_autoprune(policy_uuid: str, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    _service(ctx, AUTOPRUNE)
    return _delete(ctx, AUTOPRUNE, _user_owner(ctx, ident, request), policy_uuid)


# -- repositories ---------------------------------------------------------------------------------
REPO = "/repository/{namespace}/{repository}"


@router.get(f"{REPO}/autoprunepolicy/", summary="List a repository's auto-prune policies")
def list_repo_autoprune(namespace: str, repository: str, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    _service(ctx, AUTOPRUNE)
    return _list(ctx, AUTOPRUNE, _repo_owner(ctx, ident, request, namespace, repository))


@router.post(f"{REPO}/autoprunepolicy/", status_code=201, summary="Create a repository auto-prune policy")
def create_repo_autoprune(
    namespace: str, repository: str, body: PolicyBody, ident: Caller, ctx: Ctx, request: Request
) -> JSONResponse:
    _service(ctx, AUTOPRUNE)
    return _create(ctx, AUTOPRUNE, _repo_owner(ctx, ident, request, namespace, repository), body)


@router.get(f"{REPO}/autoprunepolicy/{{policy_uuid}}", summary="A repository auto-prune policy")
def get_repo_autoprune(
    namespace: str, repository: str, policy_uuid: str, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    _service(ctx, AUTOPRUNE)
    return _get(ctx, AUTOPRUNE, _repo_owner(ctx, ident, request, namespace, repository), policy_uuid)


@router.put(f"{REPO}/autoprunepolicy/{{policy_uuid}}", status_code=204, summary="Change a repository auto-prune policy")
def update_repo_autoprune(
    namespace: str, repository: str, policy_uuid: str, body: PolicyBody, ident: Caller, ctx: Ctx, request: Request
) -> Response:
    _service(ctx, AUTOPRUNE)
    return _update(ctx, AUTOPRUNE, _repo_owner(ctx, ident, request, namespace, repository), policy_uuid, body)


@router.delete(f"{REPO}/autoprunepolicy/{{policy_uuid}}", summary="Delete a repository auto-prune policy")
def delete_repo_autoprune(
    namespace: str, repository: str, policy_uuid: str, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    _service(ctx, AUTOPRUNE)
    return _delete(ctx, AUTOPRUNE, _repo_owner(ctx, ident, request, namespace, repository), policy_uuid)


@router.get(f"{REPO}/immutabilitypolicy/", summary="List a repository's immutability policies")
def list_repo_immutability(
    namespace: str, repository: str, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    _service(ctx, IMMUTABILITY)
    return _list(ctx, IMMUTABILITY, _repo_owner(ctx, ident, request, namespace, repository))


@router.post(f"{REPO}/immutabilitypolicy/", status_code=201, summary="Create a repository immutability policy")
def create_repo_immutability(
    namespace: str, repository: str, body: PolicyBody, ident: Caller, ctx: Ctx, request: Request
) -> JSONResponse:
    _service(ctx, IMMUTABILITY)
    return _create(ctx, IMMUTABILITY, _repo_owner(ctx, ident, request, namespace, repository), body)


@router.get(f"{REPO}/immutabilitypolicy/{{policy_uuid}}", summary="A repository immutability policy")
def get_repo_immutability(
    namespace: str, repository: str, policy_uuid: str, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    _service(ctx, IMMUTABILITY)
    return _get(ctx, IMMUTABILITY, _repo_owner(ctx, ident, request, namespace, repository), policy_uuid)


@router.put(
    f"{REPO}/immutabilitypolicy/{{policy_uuid}}", status_code=204, summary="Change a repository immutability policy"
)
def update_repo_immutability(
    namespace: str, repository: str, policy_uuid: str, body: PolicyBody, ident: Caller, ctx: Ctx, request: Request
) -> Response:
    _service(ctx, IMMUTABILITY)
    return _update(ctx, IMMUTABILITY, _repo_owner(ctx, ident, request, namespace, repository), policy_uuid, body)


@router.delete(f"{REPO}/immutabilitypolicy/{{policy_uuid}}", summary="Delete a repository immutability policy")
def delete_repo_immutability(
    namespace: str, repository: str, policy_uuid: str, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    _service(ctx, IMMUTABILITY)
    return _delete(ctx, IMMUTABILITY, _repo_owner(ctx, ident, request, namespace, repository), policy_uuid)


__all__ = ["router"]
