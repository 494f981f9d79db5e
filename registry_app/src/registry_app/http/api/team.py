"""/api/v1/organization/{orgname}/team: an organization's teams and their members."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from registry_app.db.identity import TeamRow
from registry_app.db.store import UserRow
from registry_app.http.api.common import ApiContext, ApiError, Caller, Ctx, avatar, client_ip, require_user
from registry_app.http.api.organization import administered_org, forbidden, not_found, org_role, team_view

router = APIRouter(tags=["team"])


class TeamDescription(BaseModel):
    role: Literal["member", "creator", "admin"]
    description: str | None = Field(default=None, max_length=65536)


def member_view(user: UserRow) -> dict[str, Any]:
    """Quay's team member entry: kind is "user" for robots too (``is_robot`` tells them apart)."""
    return {
        "name": user.username,
        "kind": "user",
        "is_robot": user.robot,
        "avatar": avatar(user.username, "robot" if user.robot else "user"),
        "invited": False,
    }


def _team_or_404(ctx: ApiContext, org: UserRow, teamname: str) -> TeamRow:
    team = ctx.auth.identities.team(org.id, teamname)
    if team is None:
        raise not_found()
    return team


@router.put("/organization/{orgname}/team/{teamname}", summary="Create a team or change its role and description")
def update_team(
    orgname: str, teamname: str, body: TeamDescription, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    org = administered_org(ctx, ident, orgname)
    ip = client_ip(request)
    team = ctx.auth.identities.team(org.id, teamname)
    if team is None:
        team = ctx.auth.identity.create_team(org, teamname, body.role, body.description or "")
        ctx.audit.record(
            "org_create_team", account_id=org.id, performer_id=ident.user_id, ip=ip, metadata={"team": teamname}
        )
        new_team = True
    else:
        old = team
        team = ctx.auth.identity.update_team(org, team, body.role, body.description, ident.user_id)
        if body.description is not None and body.description != (old.description or ""):
            ctx.audit.record(
                "org_set_team_description",
                account_id=org.id,
                performer_id=ident.user_id,
                ip=ip,
                metadata={"team": teamname, "description": body.description},
            )
        if team.role != old.role:
            ctx.audit.record(
                "org_set_team_role",
                account_id=org.id,
                performer_id=ident.user_id,
                ip=ip,
                metadata={"team": teamname, "role": team.role},
            )
        new_team = False
    members, repos = ctx.auth.identity.orgs.team_counts(org.id).get(team.id, (0, 0))
    return team_view(team, members, repos, can_view=True, new_team=new_team)


@router.delete("/organization/{orgname}/team/{teamname}", status_code=204, summary="Delete a team")
def delete_team(orgname: str, teamname: str, ident: Caller, ctx: Ctx, request: Request) -> Response:
    org = administered_org(ctx, ident, orgname)
    team = ctx.auth.identities.team(org.id, teamname)
    if team is None:
        # Quay answers 400 here (its model raises InvalidTeamException), not 404.
        raise ApiError(400, f"Team '{teamname}' is not a team in org '{orgname}'")
    ctx.auth.identity.delete_team(org, team, ident.user_id)
    ctx.audit.record(
        "org_delete_team",
        account_id=org.id,
        performer_id=ident.user_id,
        ip=client_ip(request),
        metadata={"team": teamname},
    )
    return Response(status_code=204)


@router.get("/organization/{orgname}/team/{teamname}/members", summary="A team's members")
def list_team_members(
    orgname: str,
    teamname: str,
    ident: Caller,
    ctx: Ctx,
    include_pending: Annotated[bool, Query(alias="includePending")] = False,
) -> dict[str, Any]:
    """For the team's members and the organization's administrators. Quay's e-mail invitations do
    not exist here, so ``includePending`` adds nothing."""
    require_user(ident, "org:admin")
    org, role = org_role(ctx, ident, orgname)
    if org is None:
        raise not_found() if ident.superuser else forbidden()
    team = ctx.auth.identities.team(org.id, teamname)
    is_admin = role == "admin"
    if not is_admin:
        in_team = ident.user_id is not None and any(
            t.name == teamname for t in ctx.auth.identities.user_teams(ident.user_id, org.id)
        )
        if not in_team:
            raise forbidden()
    if team is None:
        raise not_found()
    return {
        "name": teamname,
        "members": [member_view(m) for m in ctx.auth.identities.team_members(team.id)],
        "can_edit": is_admin,
    }


@router.put("/organization/{orgname}/team/{teamname}/members/{membername}", summary="Add a member to a team")
def add_team_member(
    orgname: str, teamname: str, membername: str, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    """A user, or a robot of this organization, joins the team at once (no e-mail invitation)."""
    org = administered_org(ctx, ident, orgname)
    team = _team_or_404(ctx, org, teamname)
    member = ctx.auth.identities.get(membername)
    if member is None or member.organization:
        raise ApiError(400, "Unknown user")
    ctx.auth.identity.add_team_member(org, team, member)
    ctx.audit.record(
        "org_add_team_member",
        account_id=org.id,
        performer_id=ident.user_id,
        ip=client_ip(request),
        metadata={"member": membername, "team": teamname},
    )
    return member_view(member)


@router.delete(
    "/organization/{orgname}/team/{teamname}/members/{membername}", status_code=204, summary="Remove a team member"
)
def remove_team_member(
    orgname: str, teamname: str, membername: str, ident: Caller, ctx: Ctx, request: Request
) -> Response:
    org = administered_org(ctx, ident, orgname)
    team = _team_or_404(ctx, org, teamname)
    member = ctx.auth.identities.get(membername)
    if member is None or member.organization:
        raise not_found()
    ctx.auth.identity.remove_team_member(org, team, member, ident.user_id)
    ctx.audit.record(
        "org_remove_team_member",
        account_id=org.id,
        performer_id=ident.user_id,
        ip=client_ip(request),
        metadata={"member": membername, "team": teamname},
    )
    return Response(status_code=204)
