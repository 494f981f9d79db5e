"""Accounts as Quay has them: users, organizations (with an ``owners`` team), teams, robots
(``parent+short`` with a 64-character token), API tokens (OAuth-style, with scopes) and
app-specific tokens. Secrets that must be shown again (robot and app tokens) are encrypted with a
key derived from DATABASE_SECRET_KEY; API tokens are kept only as a SHA-256."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import string
import uuid as uuidlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from registry_app.db.identity import IdentityStore, TeamRow, TokenRow
from registry_app.db.orgs import OrgStore
from registry_app.db.store import UserRow, now_ms
from registry_app.settings.keys import Secrets
from registry_app.settings.tags import TagSettings

NAMESPACE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
ROBOT_SHORT = re.compile(r"^[a-z][a-z0-9_]{1,254}$")
TEAM_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{1,254}$")
TEAM_ROLES = ("member", "creator", "admin")
QUAY_TEAM_NAME = re.compile(r"^([a-z0-9]+(?:[._-][a-z0-9]+)*)$")
ALL_SCOPES = (
    "repo:read",
    "repo:write",
    "repo:admin",
    "repo:create",
    "user:read",
    "user:admin",
    "org:admin",
    "super:user",
)
TOKEN_ALPHABET = string.ascii_uppercase + string.digits


class IdentityError(Exception):
    """A request about accounts that cannot be done; ``status`` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 400, error_type: str = "invalid_request") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type


def _random_token(n: int) -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(n))


@dataclass(frozen=True)
class Credential:
    """What a username/password pair turned out to be."""

    user: UserRow
    kind: str  # user | robot | oauth | app
    scopes: frozenset[str] | None = None  # None: everything the account may do
    token_id: str | None = None  # the app token's uuid, the API token's id (what revokes it)


class IdentityService:
    def __init__(self, store: IdentityStore, keys: Secrets, tags: TagSettings | None = None) -> None:
        """``keys.database_secret_key`` encrypts robot and app tokens; ``tags``: the namespaces'
        tag expiration default and the choices a namespace may take."""
        self.store = store
        self.tags = tags or TagSettings()
        key_material = keys.database_secret_key
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"registry-app", info=b"secrets v1").derive(
            key_material.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    # -- encryption of secrets that must be shown again -------------------------------------------
    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str | None:
        try:
            return self._fernet.decrypt(value.encode()).decode()
        except InvalidToken:
            return None

    # -- users and organizations ---------------------------------------------------------------
    @staticmethod
    def check_namespace_name(name: str) -> None:
        if not (2 <= len(name) <= 255) or not NAMESPACE.match(name):
            raise IdentityError(
                f"invalid name {name!r}: 2 to 255 lowercase letters, digits and . _ - (not at either end)"
            )

    def create_user(
        self,
        username: str,
        password_hash: str | None,
        email: str | None,
        *,
        superuser: bool = False,
        federated_uid: str | None = None,
    ) -> UserRow:
        self.check_namespace_name(username)
        if self.store.get(username) is not None:
            raise IdentityError(f"the name {username} is already taken", 400)
        return self.store.create_account(
            username, email=email, password_hash=password_hash, superuser=superuser, federated_uid=federated_uid
        )

    def create_organization(self, name: str, email: str | None, creator: UserRow | None) -> UserRow:
        """An organization with an ``owners`` team (admin) holding its creator."""
        self.check_namespace_name(name)
        if self.store.get(name) is not None:
            raise IdentityError(f"a user or organization with the name {name} already exists", 400)
        org = self.store.create_account(name, email=email, organization=True)
        owners = self.store.upsert_team(org.id, "owners", "admin", "Owners of the organization")
        if creator is not None and not creator.robot:
            self.store.add_member(owners.id, creator.id)
        return org

    # -- teams ---------------------------------------------------------------------------------
    def set_team(self, org: UserRow, name: str, role: str, description: str | None) -> TeamRow:
        if not TEAM_NAME.match(name):
            raise IdentityError(f"invalid team name {name!r}: a letter, then letters, digits and _")
        if role not in TEAM_ROLES:
            raise IdentityError(f"invalid team role {role!r}: one of {', '.join(TEAM_ROLES)}")
        if name == "owners" and role != "admin":
            raise IdentityError("the owners team must keep the admin role")
        return self.store.upsert_team(org.id, name, role, description)

    # -- robots --------------------------------------------------------------------------------
    def create_robot(
        self, parent: UserRow, short: str, description: str | None = None, metadata: dict[str, Any] | None = None
    ) -> tuple[UserRow, str]:
        if not ROBOT_SHORT.match(short):
            raise IdentityError(
                f"invalid robot name {short!r}: a lowercase letter, then lowercase letters, digits and _"
            )
        name = f"{parent.username}+{short}"
        if self.store.get(name) is not None:
            raise IdentityError(f"existing robot with name: {name}", 400)
        robot = self.store.create_account(name, robot=True)
        token = _random_token(64)
        self.store.set_robot_secret(
            robot.id, self.encrypt(token), description, json.dumps(metadata) if metadata else None
        )
        return robot, token

    def robot_token(self, robot: UserRow) -> str | None:
        secret = self.store.robot_secret(robot.id)
        return self.decrypt(secret[0]) if secret else None

    def regenerate_robot(self, robot: UserRow) -> str:
        token = _random_token(64)
        self.store.set_robot_secret(robot.id, self.encrypt(token), keep_description=True)
        return token

    # -- organization management as Quay's API does it ----------------------------------------
    @cached_property
    def orgs(self) -> OrgStore:
        return OrgStore(self.store.engine)

    def organization(self, name: str) -> UserRow | None:
        account = self.store.get(name)
        return account if account is not None and account.organization else None

    def tag_expiration_s(self, account: UserRow) -> int:
        if account.tag_expiration_s is not None:
            return account.tag_expiration_s
        return self.tags.default_expiration_s

    def change_email(self, account: UserRow, email: str) -> None:
        """A new contact address; Quay refuses one a user already has."""
        owner = self.orgs.person_with_email(email)
        if owner is not None and owner.id != account.id:
            raise IdentityError("E-mail address already used")
        self.store.update_account(account.id, email=email)

    def change_tag_expiration(self, account: UserRow, seconds: int) -> None:
        """Only one of TAG_EXPIRATION_OPTIONS, as in Quay."""
        if seconds not in self.tags.expiration_options_s:
            raise IdentityError("Invalid tag expiration option")
        self.store.update_account(account.id, tag_expiration_s=seconds)

    def _admin_teams(self, org: UserRow, user_id: int | None) -> set[str]:
        if user_id is None:
            return set()
        return {t.name for t in self.store.user_teams(user_id, org.id) if t.role == "admin"}

    def create_team(self, org: UserRow, name: str, role: str, description: str | None) -> TeamRow:
        """A new team; names as Quay takes them (lowercase letters, digits, and . _ - inside)."""
        if not (2 <= len(name) <= 255) or not QUAY_TEAM_NAME.match(name):
            raise IdentityError(f"Invalid team name {name}: Namespace must match expression {QUAY_TEAM_NAME.pattern}")
        if role not in TEAM_ROLES:
            raise IdentityError(f"invalid team role {role!r}: one of {', '.join(TEAM_ROLES)}")
        if self.store.team(org.id, name) is not None:
            raise IdentityError(f"team {name} already exists")
        return self.store.upsert_team(org.id, name, role, description)

    def update_team(
        self, org: UserRow, team: TeamRow, role: str | None, description: str | None, by_user_id: int | None
    ) -> TeamRow:
        """Change a team's role and/or description (None: keep). The caller may not take away
        their own last admin team, and ``owners`` stays admin."""
        new_role = role if role is not None else team.role
        if new_role not in TEAM_ROLES:
            raise IdentityError(f"invalid team role {new_role!r}: one of {', '.join(TEAM_ROLES)}")
        if team.name == "owners" and new_role != "admin":
            raise IdentityError("the owners team must keep the admin role")
        if team.role == "admin" and new_role != "admin" and self._admin_teams(org, by_user_id) == {team.name}:
            raise IdentityError(
                f"Cannot remove admin from team '{team.name}' because calling user would no longer have "
                f"admin on org '{org.username}'"
            )
        return self.store.upsert_team(
            org.id, team.name, new_role, description if description is not None else team.description
        )

    def delete_team(self, org: UserRow, team: TeamRow, by_user_id: int | None) -> None:
        if team.name == "owners":
            raise IdentityError("the owners team cannot be deleted")
        if team.role == "admin" and self._admin_teams(org, by_user_id) == {team.name}:
            raise IdentityError(
                f"Deleting team '{team.name}' would remove admin ability for the calling user "
                f"in organization '{org.username}'"
            )
        self.store.delete_team(team.id)

    def add_team_member(self, org: UserRow, team: TeamRow, member: UserRow) -> None:
        """Users join directly (no e-mail invitations); robots only when they belong to ``org``."""
        if member.organization:
            raise IdentityError("Unknown user")
        if member.robot and not member.username.startswith(org.username + "+"):
            raise IdentityError(
                "Cannot add the specified robot to this team, as it is not a member of the organization"
            )
        if any(m.id == member.id for m in self.store.team_members(team.id)):
            raise IdentityError(f"User {member.username} is already a member of team {team.name}")
        self.store.add_member(team.id, member.id)

    def remove_team_member(self, org: UserRow, team: TeamRow, member: UserRow, by_user_id: int | None) -> None:
        members = self.store.team_members(team.id)
        if not any(m.id == member.id for m in members):
            raise IdentityError(f"User {member.username} does not belong to team {team.name}")
        if team.name == "owners" and not member.robot and sum(1 for m in members if not m.robot) <= 1:
            raise IdentityError("Cannot remove the last owner of the organization")
        if member.id == by_user_id and self._admin_teams(org, by_user_id) == {team.name}:
            raise IdentityError("User cannot remove themselves from their only admin team.")
        self.store.remove_member(team.id, member.id)

    def find_robot(self, parent: UserRow, short: str) -> UserRow:
        robot = self.store.get(f"{parent.username}+{short}")
        if robot is None or not robot.robot:
            raise IdentityError("Could not find robot with specified username")
        return robot

    def new_robot(
        self, parent: UserRow, short: str, description: str | None, metadata: dict[str, Any] | None
    ) -> tuple[UserRow, str]:
        """create_robot with Quay's messages."""
        if ROBOT_SHORT.match(short) and self.store.get(f"{parent.username}+{short}") is not None:
            raise IdentityError(f"Existing robot with name: {parent.username}+{short}")
        return self.create_robot(parent, short, description or "", metadata)

    def robot_details(self, robot: UserRow) -> tuple[str, dict[str, Any]]:
        """(description, unstructured metadata)."""
        secret = self.store.robot_secret(robot.id)
        description = (secret[1] if secret else None) or ""
        try:
            metadata = json.loads(secret[2]) if secret and secret[2] else {}
        except ValueError:
            metadata = {}
        return description, metadata if isinstance(metadata, dict) else {}

    def delete_robot(self, robot: UserRow) -> None:
        """Gone with its token, team memberships and permissions: its credentials fail at once."""
        self.store.delete_account(robot.id)

    # -- API (OAuth-style) tokens --------------------------------------------------------------
    def create_api_token(
        self,
        user: UserRow,
        scopes: tuple[str, ...] = ALL_SCOPES,
        title: str | None = None,
        lifetime_s: int | None = None,
    ) -> str:
        unknown = set(scopes) - set(ALL_SCOPES)
        if unknown:
            raise IdentityError(f"unknown scopes: {', '.join(sorted(unknown))}")
        name, secret = _random_token(20), _random_token(20)
        expires = now_ms() + lifetime_s * 1000 if lifetime_s else None
        self.store.add_oauth_token(
            user.id, name, hashlib.sha256(secret.encode()).hexdigest(), " ".join(scopes), title, expires
        )
        return name + secret

    def api_token(self, token: str) -> tuple[UserRow, frozenset[str]] | None:
        found = self.api_token_row(token)
        return (found[0], frozenset(found[1].scopes.split())) if found else None

    def api_token_row(self, token: str) -> tuple[UserRow, TokenRow] | None:
        """The account and token row of a valid API token."""
        if len(token) != 40:
            return None
        row = self.store.oauth_token(token[:20])
        if row is None or (row.expires_ms is not None and row.expires_ms < now_ms()):
            return None
        if not hmac.compare_digest(row.secret, hashlib.sha256(token[20:].encode()).hexdigest()):
            return None
        user = self.store.user_by_id(row.user_id)
        if user is None or not user.enabled:
            return None
        return user, row

    # -- app-specific tokens -------------------------------------------------------------------
    def create_app_token(self, user: UserRow, title: str, lifetime_s: int | None = None) -> TokenRow:
        name, secret = _random_token(20), _random_token(40)
        uuid = str(uuidlib.uuid4())
        expires = now_ms() + lifetime_s * 1000 if lifetime_s else None
        self.store.add_app_token(user.id, uuid, title, name, self.encrypt(name + secret), expires)
        row = self.store.app_token_by_uuid(user.id, uuid)
        assert row is not None
        return row

    def app_token_code(self, row: TokenRow) -> str | None:
        return self.decrypt(row.secret)

    def app_token(self, token: str) -> UserRow | None:
        found = self.app_token_row(token)
        return found[0] if found else None

    def app_token_row(self, token: str) -> tuple[UserRow, TokenRow] | None:
        """The account and token row of a valid app-specific token."""
        row = self.store.app_token_by_name(token[:20]) if len(token) == 60 else None
        if row is None or (row.expires_ms is not None and row.expires_ms < now_ms()):
            return None
        code = self.decrypt(row.secret)
        if code is None or not hmac.compare_digest(code, token):
            return None
        user = self.store.user_by_id(row.user_id)
        return (user, row) if user is not None and user.enabled else None

    # -- credentials ---------------------------------------------------------------------------
    def token_credential(self, username: str, password: str) -> Credential | None:
        """Credentials that are not a person's password: robots, API tokens, app tokens. Returns
        None when the username is a plain user (the caller checks the password)."""
        if username == "$oauthtoken":
            found = self.api_token_row(password)
            if found is None:
                raise IdentityError("invalid API token", 401, "invalid_token")
            user, row = found
            return Credential(user, "oauth", frozenset(row.scopes.split()), str(row.id))
        if username == "$app":
            app = self.app_token_row(password)
            if app is None:
                raise IdentityError("invalid app-specific token", 401, "invalid_token")
            return Credential(app[0], "app", token_id=app[1].uuid)
        if "+" in username:
            robot = self.store.get(username)
            if robot is None or not robot.robot or not robot.enabled:
                raise IdentityError("invalid robot account or token", 401, "invalid_token")
            token = self.robot_token(robot)
            if token is None or not hmac.compare_digest(token, password):
                raise IdentityError("invalid robot account or token", 401, "invalid_token")
            return Credential(robot, "robot")
        return None
