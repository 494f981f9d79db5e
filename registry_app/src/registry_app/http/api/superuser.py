"""/api/v1/superuser/users: user management for superusers, as Quay's endpoints/api/superuser.py.

(The superuser's usage logs, ``/superuser/logs`` and ``/superuser/aggregatelogs``, live with the
other log endpoints in ``logs.py``.)

A new user gets a generated password, shown once in the answer to the POST. Superusers cannot be
changed or deleted through this API (Quay refuses it the same way), so nobody deletes themself.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from registry_app.db.store import UserRow
from registry_app.http.api.common import ApiContext, ApiError, Caller, Ctx, avatar, client_ip, require_superuser
from registry_app.services.auth import Identity
from registry_app.services.passwords import PASSWORDS

router = APIRouter(tags=["superuser"])

EMAIL = r"^[^@\s]+@[^@\s]+$"
GENERATED_PASSWORD_LENGTH = 32
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
    if ctx.config.get("AUTHENTICATION_TYPE", "Database") != "Database":
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
