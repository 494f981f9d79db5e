"""Data access for identity: users, organizations, teams, robots, tokens, permissions, failed logins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Table, delete, func, or_, select, update

from registry_app.db.engine import write_tx
from registry_app.db.models import (
    AppToken,
    FailedLogin,
    OAuthToken,
    RepositoryPermission,
    RobotSecret,
    Team,
    TeamMember,
    User,
)
from registry_app.db.store import UserRow, _insert, now_ms, user_from_row

U = cast(Table, User.__table__)
TM = cast(Table, Team.__table__)
MEM = cast(Table, TeamMember.__table__)
RS = cast(Table, RobotSecret.__table__)
OT = cast(Table, OAuthToken.__table__)
AT = cast(Table, AppToken.__table__)
RP = cast(Table, RepositoryPermission.__table__)
FL = cast(Table, FailedLogin.__table__)

ROLE_RANK = {"read": 1, "write": 2, "admin": 3}
TEAM_RANK = {"member": 1, "creator": 2, "admin": 3}


@dataclass(frozen=True)
class TeamRow:
    id: int
    organization_id: int
    name: str
    role: str
    description: str | None


@dataclass(frozen=True)
class TokenRow:
    id: int
    user_id: int
    token_name: str
    secret: str  # sha256 for OAuth tokens, ciphertext for app tokens
    scopes: str
    title: str | None
    created_ms: int
    expires_ms: int | None
    uuid: str | None = None
    last_accessed_ms: int | None = None


class IdentityStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    # -- users and organizations ---------------------------------------------------------------
    def user_by_id(self, user_id: int) -> UserRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(U).where(U.c.id == user_id)).first()
        return user_from_row(row) if row else None

    def get(self, username: str) -> UserRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(U).where(U.c.username == username)).first()
        return user_from_row(row) if row else None

    def get_by_federated_uid(self, uid: str) -> UserRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(U).where(U.c.federated_uid == uid)).first()
        return user_from_row(row) if row else None

    def create_account(
        self,
        username: str,
        *,
        email: str | None = None,
        password_hash: str | None = None,
        organization: bool = False,
        robot: bool = False,
        superuser: bool = False,
        federated_uid: str | None = None,
    ) -> UserRow:
        with write_tx(self.engine) as conn:
            uid = conn.execute(
                U.insert()
                .values(
                    username=username,
                    email=email,
                    password_hash=password_hash,
                    organization=organization,
                    robot=robot,
                    superuser=superuser,
                    enabled=True,
                    federated_uid=federated_uid,
                    created_ms=now_ms(),
                )
                .returning(U.c.id)
            ).scalar_one()
            row = conn.execute(select(U).where(U.c.id == uid)).one()
        return user_from_row(row)

    def update_account(self, user_id: int, **values: Any) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(update(U).where(U.c.id == user_id).values(**values))

    def delete_account(self, user_id: int) -> None:
        """Delete a user/organization/robot; repositories, teams, tokens and permissions cascade.
        A namespace's robots (``name+...``) go with it."""
        with write_tx(self.engine) as conn:
            name = conn.execute(select(U.c.username).where(U.c.id == user_id)).scalar()
            if name is None:
                return
            conn.execute(
                delete(U).where(U.c.username.like(f"{_like_escape(name)}+%", escape="\\"), U.c.robot.is_(True))
            )
            conn.execute(delete(U).where(U.c.id == user_id))

    def list_accounts(self, *, organizations: bool = False, robots: bool = False) -> list[UserRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(U).where(U.c.organization.is_(organizations), U.c.robot.is_(robots)).order_by(U.c.username)
            ).all()
        return [user_from_row(r) for r in rows]

    def organizations(self, after_id: int | None = None, limit: int | None = None) -> list[UserRow]:
        """Organizations by id (the order pages follow), after ``after_id``, at most ``limit``."""
        q = select(U).where(U.c.organization.is_(True), U.c.robot.is_(False))
        if after_id is not None:
            q = q.where(U.c.id > after_id)
        q = q.order_by(U.c.id)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [user_from_row(r) for r in conn.execute(q).all()]

    def count_people(self) -> int:
        with self.engine.connect() as conn:
            q = select(func.count()).select_from(U).where(U.c.organization.is_(False), U.c.robot.is_(False))
            return int(conn.execute(q).scalar_one())

    # -- teams ---------------------------------------------------------------------------------
    def teams(self, org_id: int) -> list[TeamRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(TM).where(TM.c.organization_id == org_id).order_by(TM.c.name)).all()
        return [TeamRow(*r) for r in rows]

    def team(self, org_id: int, name: str) -> TeamRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(TM).where(TM.c.organization_id == org_id, TM.c.name == name)).first()
        return TeamRow(*row) if row else None

    def upsert_team(self, org_id: int, name: str, role: str, description: str | None) -> TeamRow:
        with write_tx(self.engine) as conn:
            existing = conn.execute(select(TM.c.id).where(TM.c.organization_id == org_id, TM.c.name == name)).scalar()
            if existing is None:
                conn.execute(TM.insert().values(organization_id=org_id, name=name, role=role, description=description))
            else:
                conn.execute(update(TM).where(TM.c.id == existing).values(role=role, description=description))
            row = conn.execute(select(TM).where(TM.c.organization_id == org_id, TM.c.name == name)).one()
        return TeamRow(*row)

    def delete_team(self, team_id: int) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(delete(TM).where(TM.c.id == team_id))

    def team_members(self, team_id: int) -> list[UserRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(U).join(MEM, MEM.c.user_id == U.c.id).where(MEM.c.team_id == team_id).order_by(U.c.username)
            ).all()
        return [user_from_row(r) for r in rows]

    def add_member(self, team_id: int, user_id: int) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(_insert(self.dialect, MEM).values(team_id=team_id, user_id=user_id).on_conflict_do_nothing())

    def remove_member(self, team_id: int, user_id: int) -> bool:
        with write_tx(self.engine) as conn:
            return bool(conn.execute(delete(MEM).where(MEM.c.team_id == team_id, MEM.c.user_id == user_id)).rowcount)

    def user_teams(self, user_id: int, org_id: int | None = None) -> list[TeamRow]:
        q = select(TM).join(MEM, MEM.c.team_id == TM.c.id).where(MEM.c.user_id == user_id)
        if org_id is not None:
            q = q.where(TM.c.organization_id == org_id)
        with self.engine.connect() as conn:
            return [TeamRow(*r) for r in conn.execute(q.order_by(TM.c.name)).all()]

    def org_role(self, user_id: int, org_id: int) -> str | None:
        """The strongest team role the user has in the organization (admin > creator > member)."""
        best: str | None = None
        for team in self.user_teams(user_id, org_id):
            if best is None or TEAM_RANK[team.role] > TEAM_RANK[best]:
                best = team.role
        return best

    def user_organizations(self, user_id: int) -> list[UserRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(U)
                .distinct()
                .join(TM, TM.c.organization_id == U.c.id)
                .join(MEM, MEM.c.team_id == TM.c.id)
                .where(MEM.c.user_id == user_id)
                .order_by(U.c.username)
            ).all()
        return [user_from_row(r) for r in rows]

    # -- repository permissions ----------------------------------------------------------------
    def explicit_role(self, user_id: int, repository_id: int) -> str | None:
        """The strongest explicit role on a repository, directly or through any of the user's teams."""
        teams = select(MEM.c.team_id).where(MEM.c.user_id == user_id)
        with self.engine.connect() as conn:
            roles = (
                conn.execute(
                    select(RP.c.role).where(
                        RP.c.repository_id == repository_id, or_(RP.c.user_id == user_id, RP.c.team_id.in_(teams))
                    )
                )
                .scalars()
                .all()
            )
        return max(roles, key=lambda r: ROLE_RANK[r]) if roles else None

    def repo_permissions(self, repository_id: int, kind: str) -> list[tuple[Any, str]]:
        """(UserRow or TeamRow, role) for users (kind 'user') or teams (kind 'team')."""
        with self.engine.connect() as conn:
            if kind == "user":
                rows = conn.execute(
                    select(U, RP.c.role)
                    .join(RP, RP.c.user_id == U.c.id)
                    .where(RP.c.repository_id == repository_id)
                    .order_by(U.c.username)
                ).all()
                return [(user_from_row(r), r._mapping["role"]) for r in rows]
            rows = conn.execute(
                select(TM, RP.c.role)
                .join(RP, RP.c.team_id == TM.c.id)
                .where(RP.c.repository_id == repository_id)
                .order_by(TM.c.name)
            ).all()
            return [(TeamRow(*r[:5]), r[5]) for r in rows]

    def repo_roles_of(self, user_id: int, repository_id: int) -> list[str]:
        """Every explicit role the user holds on a repository, directly and through teams."""
        teams = select(MEM.c.team_id).where(MEM.c.user_id == user_id)
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(RP.c.role)
                    .where(RP.c.repository_id == repository_id, or_(RP.c.user_id == user_id, RP.c.team_id.in_(teams)))
                    .order_by(RP.c.id)
                )
                .scalars()
                .all()
            )

    def org_member_ids(self, org_id: int) -> set[int]:
        """Ids of the accounts in any team of an organization."""
        with self.engine.connect() as conn:
            return set(
                conn.execute(
                    select(MEM.c.user_id)
                    .distinct()
                    .join(TM, TM.c.id == MEM.c.team_id)
                    .where(TM.c.organization_id == org_id)
                )
                .scalars()
                .all()
            )

    def set_repo_permission(
        self, repository_id: int, role: str, *, user_id: int | None = None, team_id: int | None = None
    ) -> None:
        assert (user_id is None) != (team_id is None)
        cond = RP.c.user_id == user_id if user_id is not None else RP.c.team_id == team_id
        with write_tx(self.engine) as conn:
            existing = conn.execute(select(RP.c.id).where(RP.c.repository_id == repository_id, cond)).scalar()
            if existing is None:
                conn.execute(
                    RP.insert().values(repository_id=repository_id, user_id=user_id, team_id=team_id, role=role)
                )
            else:
                conn.execute(update(RP).where(RP.c.id == existing).values(role=role))

    def delete_repo_permission(
        self, repository_id: int, *, user_id: int | None = None, team_id: int | None = None
    ) -> bool:
        cond = RP.c.user_id == user_id if user_id is not None else RP.c.team_id == team_id
        with write_tx(self.engine) as conn:
            return bool(conn.execute(delete(RP).where(RP.c.repository_id == repository_id, cond)).rowcount)

    # -- robots --------------------------------------------------------------------------------
    def robot_secret(self, robot_id: int) -> tuple[str, str | None, str | None] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(RS.c.token_encrypted, RS.c.description, RS.c.unstructured_metadata).where(
                    RS.c.robot_id == robot_id
                )
            ).first()
        return (row[0], row[1], row[2]) if row else None

    def set_robot_secret(
        self,
        robot_id: int,
        token_encrypted: str,
        description: str | None = None,
        metadata: str | None = None,
        keep_description: bool = False,
    ) -> None:
        with write_tx(self.engine) as conn:
            exists = conn.execute(select(RS.c.robot_id).where(RS.c.robot_id == robot_id)).scalar() is not None
            if exists:
                values: dict[str, Any] = {"token_encrypted": token_encrypted}
                if not keep_description:
                    values.update(description=description, unstructured_metadata=metadata)
                conn.execute(update(RS).where(RS.c.robot_id == robot_id).values(**values))
            else:
                conn.execute(
                    RS.insert().values(
                        robot_id=robot_id,
                        token_encrypted=token_encrypted,
                        description=description,
                        unstructured_metadata=metadata,
                    )
                )

    def robots_of(self, parent: str) -> list[UserRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(U)
                .where(U.c.robot.is_(True), U.c.username.like(f"{_like_escape(parent)}+%", escape="\\"))
                .order_by(U.c.username)
            ).all()
        return [user_from_row(r) for r in rows]

    # -- OAuth (API) tokens and app-specific tokens --------------------------------------------
    def add_oauth_token(
        self, user_id: int, token_name: str, secret_sha256: str, scopes: str, title: str | None, expires_ms: int | None
    ) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(
                OT.insert().values(
                    user_id=user_id,
                    token_name=token_name,
                    secret_sha256=secret_sha256,
                    scopes=scopes,
                    title=title,
                    created_ms=now_ms(),
                    expires_ms=expires_ms,
                )
            )

    def oauth_token(self, token_name: str) -> TokenRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    OT.c.id,
                    OT.c.user_id,
                    OT.c.token_name,
                    OT.c.secret_sha256,
                    OT.c.scopes,
                    OT.c.title,
                    OT.c.created_ms,
                    OT.c.expires_ms,
                ).where(OT.c.token_name == token_name)
            ).first()
        return TokenRow(*row) if row else None

    def oauth_token_by_id(self, token_id: int) -> TokenRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    OT.c.id,
                    OT.c.user_id,
                    OT.c.token_name,
                    OT.c.secret_sha256,
                    OT.c.scopes,
                    OT.c.title,
                    OT.c.created_ms,
                    OT.c.expires_ms,
                ).where(OT.c.id == token_id)
            ).first()
        return TokenRow(*row) if row else None

    def add_app_token(
        self, user_id: int, uuid: str, title: str, token_name: str, token_encrypted: str, expiration_ms: int | None
    ) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(
                AT.insert().values(
                    uuid=uuid,
                    user_id=user_id,
                    title=title,
                    token_name=token_name,
                    token_encrypted=token_encrypted,
                    created_ms=now_ms(),
                    expiration_ms=expiration_ms,
                )
            )

    def _app_cols(self) -> Any:
        return select(
            AT.c.id,
            AT.c.user_id,
            AT.c.token_name,
            AT.c.token_encrypted,
            AT.c.title.label("scopes"),
            AT.c.title,
            AT.c.created_ms,
            AT.c.expiration_ms,
            AT.c.uuid,
            AT.c.last_accessed_ms,
        )

    def app_token_by_name(self, token_name: str) -> TokenRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._app_cols().where(AT.c.token_name == token_name)).first()
        return TokenRow(*row) if row else None

    def app_tokens(self, user_id: int) -> list[TokenRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(self._app_cols().where(AT.c.user_id == user_id).order_by(AT.c.created_ms)).all()
        return [TokenRow(*r) for r in rows]

    def app_token_by_uuid(self, user_id: int, uuid: str) -> TokenRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._app_cols().where(AT.c.user_id == user_id, AT.c.uuid == uuid)).first()
        return TokenRow(*row) if row else None

    def delete_app_token(self, token_id: int) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(delete(AT).where(AT.c.id == token_id))

    def touch_app_token(self, token_id: int) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(update(AT).where(AT.c.id == token_id).values(last_accessed_ms=now_ms()))

    # -- failed logins (brute-force guard shared by all processes; services/throttle.py) --------
    def failed_logins(self, username: str, address: str, window_ms: int) -> dict[str, tuple[int, int]]:
        """{address: (failures, window start)} for this username's rows ``address`` and '' (the
        account-wide count), leaving out windows that have passed."""
        t = now_ms()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(FL.c.address, FL.c.count, FL.c.first_ms).where(
                    FL.c.username == username, FL.c.address.in_(("", address))
                )
            ).all()
        return {str(r[0]): (int(r[1]), int(r[2])) for r in rows if t - int(r[2]) <= window_ms}

    def record_failed_login(self, username: str, address: str, window_ms: int) -> None:
        """One more failure on the address's row and on the account-wide row ('')."""
        t = now_ms()
        with write_tx(self.engine) as conn:
            for addr in dict.fromkeys(("", address)):
                key = (FL.c.username == username, FL.c.address == addr)
                row = conn.execute(select(FL.c.first_ms).where(*key)).first()
                if row is None:
                    conn.execute(
                        _insert(self.dialect, FL)
                        .values(username=username, address=addr, count=1, first_ms=t, last_ms=t)
                        .on_conflict_do_update(
                            index_elements=[FL.c.username, FL.c.address],
                            set_={"count": FL.c.count + 1, "last_ms": t},
                        )
                    )
                elif t - int(row[0]) > window_ms:
                    conn.execute(update(FL).where(*key).values(count=1, first_ms=t, last_ms=t))
                else:
                    conn.execute(update(FL).where(*key).values(count=FL.c.count + 1, last_ms=t))

    def clear_failed_logins(self, username: str, address: str) -> None:
        """Forget one address's failures (the account-wide count runs out with its window)."""
        with write_tx(self.engine) as conn:
            conn.execute(delete(FL).where(FL.c.username == username, FL.c.address == address))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
