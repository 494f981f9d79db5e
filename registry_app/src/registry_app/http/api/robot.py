"""/api/v1 robot accounts of the signed-in user (/user/robots) and of organizations
(/organization/{orgname}/robots). A robot is ``parent+short`` with a 64-character token; the token
appears only in these responses. Deleting a robot or regenerating its token makes the old token,
and every registry token issued for it, fail at once."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from registry_app.db.store import UserRow
from registry_app.http.api.common import (
    ApiContext,
    ApiError,
    Caller,
    Ctx,
    OptionalQueryInt,
    avatar,
    client_ip,
    require_user,
)
from registry_app.http.api.organization import administered_org, forbidden, not_found, org_role
from registry_app.services.auth import Identity

router = APIRouter(tags=["robot"])


class CreateRobot(BaseModel):
    description: str | None = Field(default=None, max_length=255)
    unstructured_metadata: dict[str, Any] | None = None


def robot_view(
    ctx: ApiContext, robot: UserRow, *, token: str | None = None, include_token: bool, include_metadata: bool
) -> dict[str, Any]:
    description, metadata = ctx.auth.identity.robot_details(robot)
    view: dict[str, Any] = {
        "name": robot.username,
        "created": formatdate(robot.created_ms / 1000) if robot.created_ms else None,
        "last_accessed": None,
        "description": description,
    }
    if include_token:
        view["token"] = token if token is not None else ctx.auth.identity.robot_token(robot)
    if include_metadata:
        view["unstructured_metadata"] = metadata
    return view


def _robots_list(
    ctx: ApiContext, parent: UserRow, include_token: bool, include_permissions: bool, limit: int | None
) -> dict[str, Any]:
    robots = ctx.auth.identities.robots_of(parent.username)
    if limit is not None:
        robots = robots[: max(limit, 0)]
    out = []
    for robot in robots:
        view = robot_view(ctx, robot, include_token=include_token, include_metadata=False)
        if include_permissions:
            teams = ctx.auth.identities.user_teams(robot.id, parent.id) if parent.organization else []
            view["teams"] = [{"name": t.name, "avatar": avatar(t.name, "team")} for t in teams]
            view["repositories"] = [n for n, _, _ in ctx.auth.identity.orgs.account_permissions(robot.id)]
        out.append(view)
    return {"robots": out}


def _permissions(ctx: ApiContext, robot: UserRow) -> dict[str, Any]:
    return {
        "permissions": [
            {"repository": {"name": name, "is_public": visibility == "public"}, "role": role}
            for name, visibility, role in ctx.auth.identity.orgs.account_permissions(robot.id)
        ]
    }


def _me(ctx: ApiContext, ident: Identity) -> UserRow:
    """The signed-in user (not a robot) whose token, if any, has user:admin."""
    require_user(ident, "user:admin")
    if ident.kind != "user" or ident.user_id is None:
        raise forbidden()
    user = ctx.auth.identities.user_by_id(ident.user_id)
    if user is None:
        raise ApiError(401, "Requires authentication", "invalid_token")
    return user


def _create(
    ctx: ApiContext, ident: Identity, parent: UserRow, short: str, body: CreateRobot | None, request: Request
) -> dict[str, Any]:
    body = body or CreateRobot()
    robot, token = ctx.auth.identity.new_robot(parent, short, body.description, body.unstructured_metadata)
    ctx.audit.record(
        "create_robot",
        account_id=parent.id,
        performer_id=ident.user_id,
        ip=client_ip(request),
        metadata={
            "robot": short,
            "description": body.description,
            "unstructured_metadata": body.unstructured_metadata,
        },
    )
    return robot_view(ctx, robot, token=token, include_token=True, include_metadata=True)


def _delete(ctx: ApiContext, ident: Identity, parent: UserRow, short: str, request: Request) -> Response:
    robot = ctx.auth.identity.find_robot(parent, short)
    ctx.auth.identity.delete_robot(robot)
    ctx.audit.record(
        "delete_robot",
        account_id=parent.id,
        performer_id=ident.user_id,
        ip=client_ip(request),
        metadata={"robot": short},
    )
    return Response(status_code=204)


def _regenerate(ctx: ApiContext, ident: Identity, parent: UserRow, short: str, request: Request) -> dict[str, Any]:
    robot = ctx.auth.identity.find_robot(parent, short)
    token = ctx.auth.identity.regenerate_robot(robot)
    ctx.audit.record(
        "regenerate_robot_token",
        account_id=parent.id,
        performer_id=ident.user_id,
        ip=client_ip(request),
        metadata={"robot": short},
    )
    return robot_view(ctx, robot, token=token, include_token=True, include_metadata=False)


# -- the signed-in user's robots --------------------------------------------------------------------
@router.get("/user/robots", summary="The signed-in user's robots")
def list_user_robots(
    ident: Caller, ctx: Ctx, permissions: bool = False, token: bool = True, limit: OptionalQueryInt = None
) -> dict[str, Any]:
    return _robots_list(ctx, _me(ctx, ident), token, permissions, limit)


@router.get("/user/robots/{robot_shortname}", summary="One of the signed-in user's robots")
def get_user_robot(robot_shortname: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    robot = ctx.auth.identity.find_robot(_me(ctx, ident), robot_shortname)
    return robot_view(ctx, robot, include_token=True, include_metadata=True)


@router.put("/user/robots/{robot_shortname}", status_code=201, summary="Create a robot for the signed-in user")
def create_user_robot(
    robot_shortname: str, ident: Caller, ctx: Ctx, request: Request, body: CreateRobot | None = None
) -> dict[str, Any]:
    return _create(ctx, ident, _me(ctx, ident), robot_shortname, body, request)


@router.delete("/user/robots/{robot_shortname}", status_code=204, summary="Delete one of the user's robots")
def delete_user_robot(robot_shortname: str, ident: Caller, ctx: Ctx, request: Request) -> Response:
    return _delete(ctx, ident, _me(ctx, ident), robot_shortname, request)


@router.post("/user/robots/{robot_shortname}/regenerate", summary="A new token for one of the user's robots")
def regenerate_user_robot(robot_shortname: str, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    return _regenerate(ctx, ident, _me(ctx, ident), robot_shortname, request)


@router.get("/user/robots/{robot_shortname}/permissions", summary="Repository roles of one of the user's robots")
def user_robot_permissions(robot_shortname: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    return _permissions(ctx, ctx.auth.identity.find_robot(_me(ctx, ident), robot_shortname))


# -- organization robots ----------------------------------------------------------------------------
@router.get("/organization/{orgname}/robots", summary="An organization's robots")
def list_org_robots(
    orgname: str, ident: Caller, ctx: Ctx, permissions: bool = False, token: bool = True, limit: OptionalQueryInt = None
) -> dict[str, Any]:
    """Members may list them; only administrators see tokens and permissions."""
    require_user(ident, "org:admin")
    org, role = org_role(ctx, ident, orgname)
    if org is None:
        raise not_found() if ident.superuser else forbidden()
    if role is None:
        raise forbidden()
    is_admin = role == "admin"
    return _robots_list(ctx, org, token and is_admin, permissions and is_admin, limit)


@router.get("/organization/{orgname}/robots/{robot_shortname}", summary="One of an organization's robots")
def get_org_robot(orgname: str, robot_shortname: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    org = administered_org(ctx, ident, orgname)
    robot = ctx.auth.identity.find_robot(org, robot_shortname)
    return robot_view(ctx, robot, include_token=True, include_metadata=True)


@router.put("/organization/{orgname}/robots/{robot_shortname}", status_code=201, summary="Create an organization robot")
def create_org_robot(
    orgname: str, robot_shortname: str, ident: Caller, ctx: Ctx, request: Request, body: CreateRobot | None = None
) -> dict[str, Any]:
    return _create(ctx, ident, administered_org(ctx, ident, orgname), robot_shortname, body, request)


@router.delete("/organization/{orgname}/robots/{robot_shortname}", status_code=204, summary="Delete an org robot")
def delete_org_robot(orgname: str, robot_shortname: str, ident: Caller, ctx: Ctx, request: Request) -> Response:
    return _delete(ctx, ident, administered_org(ctx, ident, orgname), robot_shortname, request)


@router.post("/organization/{orgname}/robots/{robot_shortname}/regenerate", summary="A new token for an org robot")
def regenerate_org_robot(
    orgname: str, robot_shortname: str, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    return _regenerate(ctx, ident, administered_org(ctx, ident, orgname), robot_shortname, request)


@router.get("/organization/{orgname}/robots/{robot_shortname}/permissions", summary="Repository roles of an org robot")
def org_robot_permissions(orgname: str, robot_shortname: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    org = administered_org(ctx, ident, orgname, scope="user:admin")
    return _permissions(ctx, ctx.auth.identity.find_robot(org, robot_shortname))
