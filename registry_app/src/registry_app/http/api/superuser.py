"""/api/v1/superuser/users and /superuser/organizations: user and organization management for
superusers, as Quay's endpoints/api/superuser.py.

(The superuser's usage logs, ``/superuser/logs`` and ``/superuser/aggregatelogs``, live with the
other log endpoints in ``logs.py``.)

A new user gets a generated password, shown once in the answer to the POST. Superusers cannot be
changed or deleted through this API (Quay refuses it the same way), so nobody deletes themself.
Organizations are listed and deleted whether or not anyone is left in their ``owners`` team: one
whose last owner was deleted can be administered by nobody else.
"""

from __future__ import annotations

import secrets
import string
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
    decode_page_token,
    encode_page_token,
    require_superuser,
)
from registry_app.services.auth import Identity
from registry_app.services.passwords import PASSWORDS

router = APIRouter(tags=["superuser"])

EMAIL = r"^[^@\s]+@[^@\s]+$"
GENERATED_PASSWORD_LENGTH = 32
MAX_ORGS_PER_PAGE = 100  # Quay's ceiling for ?limit= on the organization list
PASSWORD_ALPHABET = string.ascii_uppercase + string.digits


class CreateUserBody(BaseModel):
    username: str = Field(min_length=2, max_length=255)
    email: str | None = Field(default=None, min_length=3, max_length=255, pattern=EMAIL)


class UpdateUserBody(BaseModel):
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    email: str | None = Field(default=None, min_length=3, max_length=255, pattern=EMAIL)
    enabled: bool | None = None


def superuser_user_view(ctx: ApiContext, user: UserRow) -> dict[str, Any]:
    return {
        "kind": "user",
        "name": user.username,
        "username": user.username,
        "email": user.email,
        "verified": True,
        "avatar": avatar(user.username),
        "super_user": ctx.auth.is_superuser(user),
        "enabled": user.enabled,
    }


def _superuser(ctx: ApiContext, ident: Identity) -> Identity:
    require_superuser(ident)
    if ident.via == "app":
        raise ApiError(403, "app-specific tokens cannot manage users", "insufficient_scope")
    return ident


def _person(ctx: ApiContext, username: str) -> UserRow:
    user = ctx.auth.identities.get(username)
    if user is None or user.organization or user.robot:
        raise ApiError(404, f"user {username} not found")
    return user


def _database_auth(ctx: ApiContext, what: str) -> None:
    if not ctx.settings.auth.database_users:
        raise ApiError(400, f"Cannot {what} in a non-database auth system")


def _record(ctx: ApiContext, request: Request, kind: str, ident: Identity, user: UserRow | None, **meta: Any) -> None:
    ctx.audit.record(
        kind,
        account_id=user.id if user is not None else None,
        performer_id=ident.user_id,
        ip=client_ip(request),
        metadata={"superuser": ident.username, **meta},
    )


@router.get("/superuser/users/", summary="Every user of the registry")
def list_users(ident: Caller, ctx: Ctx, disabled: bool = True) -> dict[str, Any]:
    """Quay's ``listAllUsers``: ``disabled=false`` leaves out disabled users."""
    _superuser(ctx, ident)
    users = ctx.auth.identities.list_accounts()
    return {"users": [superuser_user_view(ctx, u) for u in users if disabled or u.enabled]}


@router.post("/superuser/users/", summary="Create a user with a generated password")
def create_user(body: CreateUserBody, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    _superuser(ctx, ident)
    _database_auth(ctx, "create a user")
    password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(GENERATED_PASSWORD_LENGTH))
    user = ctx.auth.create_user(body.username, password, body.email)
    _record(ctx, request, "user_create", ident, user, username=user.username, email=user.email)
    return {"username": user.username, "email": user.email, "password": password, "encrypted_password": None}


@router.get("/superuser/users/{username}", summary="One user")
def get_user(username: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    _superuser(ctx, ident)
    return superuser_user_view(ctx, _person(ctx, username))


@router.put("/superuser/users/{username}", summary="Change a user's password, e-mail or enabled state")
def update_user(username: str, body: UpdateUserBody, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    _superuser(ctx, ident)
    user = _person(ctx, username)
    if ctx.auth.is_superuser(user):
        raise ApiError(400, "Cannot update a superuser")
    if body.password is not None:
        _database_auth(ctx, "change a password")
        ctx.auth.identities.update_account(user.id, password_hash=PASSWORDS.hash(body.password))
        _record(ctx, request, "user_change_password", ident, user, username=user.username)
    if body.email is not None and body.email != user.email:
        _database_auth(ctx, "change an e-mail address")
        ctx.auth.identities.update_account(user.id, email=body.email)
        meta = {"username": user.username, "old_email": user.email, "email": body.email}
        _record(ctx, request, "user_change_email", ident, user, **meta)
    if body.enabled is not None and body.enabled != user.enabled:
        ctx.auth.identities.update_account(user.id, enabled=body.enabled)
        kind = "user_enable" if body.enabled else "user_disable"
        _record(ctx, request, kind, ident, user, username=user.username)
    return superuser_user_view(ctx, _person(ctx, username))


@router.delete("/superuser/users/{username}", status_code=204, summary="Delete a user and their namespace")
def delete_user(username: str, ident: Caller, ctx: Ctx, request: Request) -> Response:
    _superuser(ctx, ident)
    user = _person(ctx, username)
    if ctx.auth.is_superuser(user):
        raise ApiError(400, "Cannot delete a superuser")
    ctx.auth.identities.delete_account(user.id)
    # The account is gone: the entry hangs on the superuser's records (performer) only.
    _record(ctx, request, "user_delete", ident, None, username=user.username)
    return Response(status_code=204)


# -- organizations ----------------------------------------------------------------------------------
def superuser_org_view(org: UserRow) -> dict[str, Any]:
    return {"name": org.username, "email": org.email, "avatar": avatar(org.username, "org")}


@router.get("/superuser/organizations/", summary="Every organization, with or without owners")
def list_organizations(
    ident: Caller, ctx: Ctx, limit: OptionalQueryInt = None, next_page: str | None = None
) -> dict[str, Any]:
    """Quay's ``listAllOrganizations``: all of them, or with ``limit`` (at most 100) one page and a
    ``next_page`` token while there are more."""
    _superuser(ctx, ident)
    if limit is None:
        return {"organizations": [superuser_org_view(o) for o in ctx.auth.identities.organizations()]}
    if limit > MAX_ORGS_PER_PAGE:
        raise ApiError(400, f"Page limit cannot be above {MAX_ORGS_PER_PAGE}")
    if limit < 1:
        raise ApiError(400, "Page limit must be at least 1")
    after = decode_page_token(next_page, "start_id")
    orgs = ctx.auth.identities.organizations(after, limit + 1)
    out: dict[str, Any] = {"organizations": [superuser_org_view(o) for o in orgs[:limit]]}
    if len(orgs) > limit:
        out["next_page"] = encode_page_token("start_id", orgs[limit - 1].id)
    return out


@router.delete("/superuser/organizations/{name}", status_code=204, summary="Delete an organization")
def delete_organization(name: str, ident: Caller, ctx: Ctx, request: Request) -> Response:
    """Quay's ``deleteOrganization``: its repositories, teams and robots go with it (the robots'
    credentials fail at once), and the name is free again."""
    _superuser(ctx, ident)
    org = ctx.auth.identity.organization(name)
    if org is None:
        raise ApiError(404, f"organization {name} not found")
    ctx.audit.record(
        "org_delete",
        account_id=org.id,
        performer_id=ident.user_id,
        ip=client_ip(request),
        metadata={"namespace": org.username, "superuser": ident.username},
        now=True,
    )
    ctx.auth.identities.delete_account(org.id)
    return Response(status_code=204)
