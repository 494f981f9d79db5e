"""/api/v1/repository/{namespace}/{repository}/permissions: explicit roles of users, robots and
teams on a repository (Quay's permission.py). Every endpoint needs the admin role on the repository.
Refusals of the data model (unknown user, foreign robot, no such team, no such permission) are
400s with Quay's messages."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from registry_app.db.identity import TeamRow
from registry_app.db.repositories import RepoInfo
from registry_app.db.store import UserRow
from registry_app.http.api.common import ApiContext, ApiError, Caller, Ctx, avatar
from registry_app.http.api.repository import audit_repo, authorize

router = APIRouter(tags=["permission"])

BASE = "/repository/{namespace}/{repository}/permissions"


class RolePermission(BaseModel):
    role: Literal["read", "write", "admin"]


def _user_view(
    ctx: ApiContext, info: RepoInfo, user: UserRow, role: str, members: set[int] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role": role,
        "name": user.username,
        "is_robot": user.robot,
        "avatar": avatar(user.username, "robot" if user.robot else "user"),
    }
    if info.namespace_is_org:
        if members is None:
            members = ctx.auth.identities.org_member_ids(info.namespace_id)
        out["is_org_member"] = user.robot or user.id in members
    return out


def _team_view(team: TeamRow, role: str) -> dict[str, Any]:
    return {"role": role, "name": team.name, "avatar": avatar(team.name, "team")}


def _user_permission(ctx: ApiContext, info: RepoInfo, username: str) -> tuple[UserRow, str] | None:
    for user, role in ctx.auth.identities.repo_permissions(info.id, "user"):
        if user.username == username:
            return user, role
    return None


def _team(ctx: ApiContext, info: RepoInfo, teamname: str) -> TeamRow | None:
    return ctx.auth.identities.team(info.namespace_id, teamname) if info.namespace_is_org else None


def _team_role(ctx: ApiContext, info: RepoInfo, team: TeamRow) -> str | None:
    for t, role in ctx.auth.identities.repo_permissions(info.id, "team"):
        if t.id == team.id:
            return str(role)
    return None


# -- users and robots -----------------------------------------------------------------------------
@router.get(BASE + "/user/", summary="List the users and robots with a role on a repository")
def list_user_permissions(namespace: str, repository: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    info, _ = authorize(ctx, ident, namespace, repository, "admin")
    members = ctx.auth.identities.org_member_ids(info.namespace_id) if info.namespace_is_org else set()
    return {
        "permissions": {
            user.username: _user_view(ctx, info, user, role, members)
            for user, role in ctx.auth.identities.repo_permissions(info.id, "user")
        }
    }


@router.get(BASE + "/user/{username}/transitive", summary="A user's roles on a repository, direct and through teams")
def get_user_transitive_permission(
    namespace: str, repository: str, username: str, ident: Caller, ctx: Ctx
) -> dict[str, Any]:
    info, _ = authorize(ctx, ident, namespace, repository, "admin")
    user = ctx.auth.identities.get(username)
    roles = ctx.auth.identities.repo_roles_of(user.id, info.id) if user is not None else []
    if not roles:
        raise ApiError(404, "Not Found")
    return {"permissions": [{"role": role} for role in roles]}


@router.get(BASE + "/user/{username}", summary="A user's or robot's role on a repository")
def get_user_permission(namespace: str, repository: str, username: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    info, _ = authorize(ctx, ident, namespace, repository, "admin")
    found = _user_permission(ctx, info, username)
    if found is None:
        raise ApiError(400, "User does not have permission for repo.")
    return _user_view(ctx, info, *found)


@router.put(BASE + "/user/{username}", summary="Give a user or robot a role on a repository")
def set_user_permission(
    namespace: str, repository: str, username: str, body: RolePermission, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    info, _ = authorize(ctx, ident, namespace, repository, "admin")
    if username == info.namespace:
        raise ApiError(400, "Namespace owner must always be admin.")
    user = ctx.auth.identities.get(username)
    if user is None or user.organization:
        raise ApiError(400, f"Invalid username: {username}")
    if user.robot and username.partition("+")[0] != info.namespace:
        raise ApiError(400, f"Cannot add robot {username} under namespace {info.namespace}")
    ctx.auth.identities.set_repo_permission(info.id, body.role, user_id=user.id)
    audit_repo(
        ctx,
        request,
        ident,
        "change_repo_permission",
        info,
        {"username": username, "repo": info.name, "namespace": info.namespace, "role": body.role},
    )
    return _user_view(ctx, info, user, body.role)


@router.delete(BASE + "/user/{username}", status_code=204, summary="Remove a user's or robot's role on a repository")
def delete_user_permission(
    namespace: str, repository: str, username: str, ident: Caller, ctx: Ctx, request: Request
) -> Response:
    info, _ = authorize(ctx, ident, namespace, repository, "admin")
    if username == info.namespace:
        raise ApiError(400, "Namespace owner must always be admin.")
    found = _user_permission(ctx, info, username)
    if found is None or not ctx.auth.identities.delete_repo_permission(info.id, user_id=found[0].id):
        raise ApiError(400, "User does not have permission for repo.")
    audit_repo(
        ctx,
        request,
        ident,
        "delete_repo_permission",
        info,
        {"username": username, "repo": info.name, "namespace": info.namespace},
    )
    return Response(status_code=204)


# -- teams ----------------------------------------------------------------------------------------
@router.get(BASE + "/team/", summary="List the teams with a role on a repository")
def list_team_permissions(namespace: str, repository: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    info, _ = authorize(ctx, ident, namespace, repository, "admin")
    return {
        "permissions": {
            team.name: _team_view(team, role) for team, role in ctx.auth.identities.repo_permissions(info.id, "team")
        }
    }


@router.get(BASE + "/team/{teamname}", summary="A team's role on a repository")
def get_team_permission(namespace: str, repository: str, teamname: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    info, _ = authorize(ctx, ident, namespace, repository, "admin")
    team = _team(ctx, info, teamname)
    role = _team_role(ctx, info, team) if team is not None else None
    if role is None:
        raise ApiError(400, "Team does not have permission for repo.")
    return {"role": role}


@router.put(BASE + "/team/{teamname}", summary="Give a team of the organization a role on a repository")
def set_team_permission(
    namespace: str, repository: str, teamname: str, body: RolePermission, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    info, _ = authorize(ctx, ident, namespace, repository, "admin")
    team = _team(ctx, info, teamname)
    if team is None:
        raise ApiError(400, f"No team {teamname} in organization {info.namespace}")
    ctx.auth.identities.set_repo_permission(info.id, body.role, team_id=team.id)
    audit_repo(
        ctx,
        request,
        ident,
        "change_repo_permission",
        info,
        {"team": teamname, "repo": info.name, "role": body.role},
    )
    return _team_view(team, body.role)


@router.delete(BASE + "/team/{teamname}", status_code=204, summary="Remove a team's role on a repository")
def delete_team_permission(
    namespace: str, repository: str, teamname: str, ident: Caller, ctx: Ctx, request: Request
) -> Response:
    info, _ = authorize(ctx, ident, namespace, repository, "admin")
    team = _team(ctx, info, teamname)
    if team is None or not ctx.auth.identities.delete_repo_permission(info.id, team_id=team.id):
        raise ApiError(400, "Team does not have permission for repo.")
    audit_repo(ctx, request, ident, "delete_repo_permission", info, {"team": teamname, "repo": info.name})
    return Response(status_code=204)
