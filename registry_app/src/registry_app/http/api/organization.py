"""/api/v1/organization: create, view, change and delete organizations; list their members.

As in Quay, a caller who does not administer an organization gets 403 whether or not it exists
(superusers, who administer everything, get 404 for one that does not)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from registry_app.db.identity import TeamRow
from registry_app.db.store import UserRow
from registry_app.http.api.common import ApiContext, ApiError, Caller, Ctx, avatar, client_ip, require_user
from registry_app.services.auth import Identity

router = APIRouter(tags=["organization"])


# -- shared by the organization, team and robot modules --------------------------------------------
def not_found() -> ApiError:
    return ApiError(404, "Not Found", "not_found")


def forbidden() -> ApiError:
    return ApiError(403, "Unauthorized", "insufficient_scope")


def org_or_404(ctx: ApiContext, orgname: str) -> UserRow:
    org = ctx.auth.identity.organization(orgname)
    if org is None:
        raise not_found()
    return org


def org_role(ctx: ApiContext, ident: Identity, orgname: str) -> tuple[UserRow | None, str | None]:
    """The organization (None if there is none) and the caller's role in it."""
    org = ctx.auth.identity.organization(orgname)
    if org is None or ident.anonymous:
        return org, None
    return org, ctx.auth.org_role(ident, org)


def administered_org(ctx: ApiContext, ident: Identity, orgname: str, scope: str = "org:admin") -> UserRow:
    """The organization, if the caller administers it (401 anonymous, 403 otherwise)."""
    require_user(ident, scope)
    org, role = org_role(ctx, ident, orgname)
    if role == "admin" and org is not None:
        return org
    if ident.superuser:
        raise not_found()
    raise forbidden()


def team_view(team: TeamRow, members: int, repos: int, can_view: bool, new_team: bool | None = None) -> dict[str, Any]:
    """A team as Quay shows it in an organization (and, with ``new_team``, from PUT team)."""
    view: dict[str, Any] = {
        "name": team.name,
        "description": team.description or "",
        "role": team.role,
        "avatar": avatar(team.name, "team"),
        "can_view": can_view,
        "repo_count": repos,
        "member_count": members,
        "is_synced": False,
    }
    if new_team is not None:
        view["new_team"] = new_team
    return view


def org_view(ctx: ApiContext, ident: Identity, org: UserRow) -> dict[str, Any]:
    role = None if ident.anonymous else ctx.auth.org_role(ident, org)
    is_admin = role == "admin"
    view: dict[str, Any] = {
        "name": org.username,
        "email": (org.email or "") if is_admin else "",
        "avatar": avatar(org.username),
        "is_admin": is_admin,
        "is_member": role is not None,
    }
    if role is not None:
        teams = sorted(ctx.auth.identities.teams(org.id), key=lambda t: t.id)
        counts = ctx.auth.identity.orgs.team_counts(org.id)
        mine = (
            set()
            if is_admin or ident.user_id is None
            else {t.name for t in ctx.auth.identities.user_teams(ident.user_id, org.id)}
        )
        view["teams"] = {
            t.name: team_view(t, *counts.get(t.id, (0, 0)), can_view=is_admin or t.name in mine) for t in teams
        }
        view["ordered_teams"] = [t.name for t in teams]
    if is_admin:
        view["invoice_email"] = False
        view["invoice_email_address"] = None
        view["tag_expiration_s"] = ctx.auth.identity.tag_expiration_s(org)
        view["is_free_account"] = True
    view["is_org_admin"] = is_admin
    if role is not None and ctx.quota is not None:  # Quay: admins and members, with the feature
        from registry_app.http.api.quota import namespace_quota_fields

        view.update(namespace_quota_fields(ctx, org.id))
    return view


# -- endpoints ---------------------------------------------------------------------------------------
class NewOrg(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    email: str | None = Field(default=None, max_length=255)
    recaptcha_response: str | None = None


class UpdateOrg(BaseModel):
    email: str | None = Field(default=None, max_length=255)
    invoice_email: bool | None = None
    invoice_email_address: str | None = None
    tag_expiration_s: int | None = Field(default=None, ge=0)


@router.post("/organization/", status_code=201, summary="Create an organization")
def create_organization(body: NewOrg, ident: Caller, ctx: Ctx, request: Request) -> str:
    """Quay's ``createOrganization``: any signed-in user (not a robot) while FEATURE_USER_CREATION is
    on, superusers always. The creator joins the ``owners`` team."""
    require_user(ident, "user:admin")
    if ident.kind != "user":
        raise forbidden()
    if not ident.superuser and not ctx.settings.auth.user_creation:
        raise forbidden()
    if ctx.auth.identities.get(body.name) is not None:
        raise ApiError(400, "A user or organization with this name already exists")
    creator = ctx.auth.identities.user_by_id(ident.user_id) if ident.user_id is not None else None
    org = ctx.auth.identity.create_organization(body.name, body.email, creator)
    ctx.audit.record(
        "org_create",
        account_id=org.id,
        performer_id=ident.user_id,
        ip=client_ip(request),
        metadata={"email": body.email, "namespace": org.username},
    )
    return "Created"


@router.get("/organization/{orgname}", summary="An organization")
def get_organization(orgname: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    """Members see the teams; administrators also the e-mail and settings; others name and avatar."""
    return org_view(ctx, ident, org_or_404(ctx, orgname))


@router.put("/organization/{orgname}", summary="Change an organization's details")
def change_organization(orgname: str, body: UpdateOrg, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    org = administered_org(ctx, ident, orgname)
    ip = client_ip(request)
    if body.invoice_email is not None or "invoice_email_address" in body.model_fields_set:
        # No billing here: accepted for compatibility and logged, nothing is sent.
        ctx.audit.record(
            "org_change_invoicing",
            account_id=org.id,
            performer_id=ident.user_id,
            ip=ip,
            metadata={"invoice_email": body.invoice_email, "namespace": org.username},
        )
    if body.email is not None and body.email != org.email:
        ctx.auth.identity.change_email(org, body.email)
        ctx.audit.record(
            "org_change_email",
            account_id=org.id,
            performer_id=ident.user_id,
            ip=ip,
            metadata={"email": body.email, "namespace": org.username, "old_email": org.email},
        )
    if body.tag_expiration_s is not None:
        ctx.auth.identity.change_tag_expiration(org, body.tag_expiration_s)
        ctx.audit.record(
            "org_change_tag_expiration",
            account_id=org.id,
            performer_id=ident.user_id,
            ip=ip,
            metadata={"tag_expiration": body.tag_expiration_s, "namespace": org.username},
        )
    return org_view(ctx, ident, org_or_404(ctx, orgname))


@router.delete("/organization/{orgname}", status_code=204, summary="Delete an organization")
def delete_organization(orgname: str, ident: Caller, ctx: Ctx, request: Request) -> Response:
    """Its repositories, teams and robots go with it; the robots' credentials fail at once."""
    org = administered_org(ctx, ident, orgname)
    ctx.audit.record(
        "org_delete",
        account_id=org.id,
        performer_id=ident.user_id,
        ip=client_ip(request),
        metadata={"namespace": org.username},
        now=True,
    )
    ctx.auth.identities.delete_account(org.id)
    return Response(status_code=204)


@router.get("/organization/{orgname}/members", summary="The people in an organization's teams")
def list_members(orgname: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    org = administered_org(ctx, ident, orgname)
    members: dict[str, dict[str, Any]] = {}
    ids: dict[int, str] = {}
    for user, team in ctx.auth.identity.orgs.memberships(org.id):
        if user.robot:
            continue
        entry = members.setdefault(
            user.username,
            {"name": user.username, "kind": "user", "avatar": avatar(user.username), "teams": [], "repositories": []},
        )
        entry["teams"].append({"name": team.name, "avatar": avatar(team.name, "team")})
        ids[user.id] = user.username
    for user_id, repo in ctx.auth.identity.orgs.user_repositories(org.id):
        if user_id in ids:
            members[ids[user_id]]["repositories"].append(repo)
    return {"members": list(members.values())}
