"""Read models for organization pages: team statistics, memberships, who holds which repository."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Engine, Table, func, select

from registry_app.db.identity import TeamRow
from registry_app.db.models import Repository, RepositoryPermission, Team, TeamMember, User
from registry_app.db.store import UserRow, user_from_row

U = cast(Table, User.__table__)
TM = cast(Table, Team.__table__)
MEM = cast(Table, TeamMember.__table__)
RP = cast(Table, RepositoryPermission.__table__)
R = cast(Table, Repository.__table__)


class OrgStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def team_counts(self, org_id: int) -> dict[int, tuple[int, int]]:
        """team id -> (members, repositories the team holds a role on)."""
        members = (
            select(MEM.c.team_id, func.count())
            .join(TM, TM.c.id == MEM.c.team_id)
            .where(TM.c.organization_id == org_id)
            .group_by(MEM.c.team_id)
        )
        repos = (
            select(RP.c.team_id, func.count())
            .join(TM, TM.c.id == RP.c.team_id)
            .where(TM.c.organization_id == org_id)
            .group_by(RP.c.team_id)
        )
        with self.engine.connect() as conn:
            member_counts = {int(t): int(n) for t, n in conn.execute(members).all()}
            repo_counts = {int(t): int(n) for t, n in conn.execute(repos).all()}
        return {t: (member_counts.get(t, 0), repo_counts.get(t, 0)) for t in member_counts.keys() | repo_counts.keys()}

    def memberships(self, org_id: int) -> list[tuple[UserRow, TeamRow]]:
        """Every (account, team) pair of the organization, by account name then team name."""
        q = (
            select(
                U,
                TM.c.id.label("t_id"),
                TM.c.name.label("t_name"),
                TM.c.role.label("t_role"),
                TM.c.description.label("t_description"),
            )
            .join(MEM, MEM.c.user_id == U.c.id)
            .join(TM, TM.c.id == MEM.c.team_id)
            .where(TM.c.organization_id == org_id)
            .order_by(U.c.username, TM.c.name)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        out = []
        for r in rows:
            m = r._mapping
            out.append((user_from_row(r), TeamRow(m["t_id"], org_id, m["t_name"], m["t_role"], m["t_description"])))
        return out

    def user_repositories(self, namespace_id: int) -> list[tuple[int, str]]:
        """(account id, repository name) for every direct (non-team) role on the namespace's repositories."""
        q = (
            select(RP.c.user_id, R.c.name)
            .join(R, R.c.id == RP.c.repository_id)
            .where(R.c.namespace_id == namespace_id, RP.c.user_id.is_not(None))
            .order_by(R.c.name)
        )
        with self.engine.connect() as conn:
            return [(int(u), str(n)) for u, n in conn.execute(q).all()]

    def account_permissions(self, user_id: int) -> list[tuple[str, str, str]]:
        """(repository name, visibility, role) for each direct role an account holds."""
        q = (
            select(R.c.name, R.c.visibility, RP.c.role)
            .join(RP, RP.c.repository_id == R.c.id)
            .where(RP.c.user_id == user_id)
            .order_by(R.c.name)
        )
        with self.engine.connect() as conn:
            return [(str(n), str(v), str(r)) for n, v, r in conn.execute(q).all()]

    def person_with_email(self, email: str) -> UserRow | None:
        """A user (not an organization or robot) with this e-mail address."""
        q = select(U).where(U.c.email == email, U.c.organization.is_(False), U.c.robot.is_(False)).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return user_from_row(row) if row else None
