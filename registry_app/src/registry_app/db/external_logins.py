"""Data access for accounts linked to OpenID Connect providers (table ``external_login``)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import IntegrityError

from registry_app.db.engine import write_tx
from registry_app.db.models import ExternalLogin

EL = cast(Table, ExternalLogin.__table__)


class ExternalLoginStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def user_id(self, service_id: str, subject: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(EL.c.user_id).where(EL.c.service_id == service_id, EL.c.subject == subject)
            ).scalar()

    def link(self, service_id: str, subject: str, user_id: int, now_ms: int) -> bool:
        """Link; False when that subject is already linked (a concurrent first sign-in)."""
        try:
            with write_tx(self.engine) as conn:
                conn.execute(
                    EL.insert().values(service_id=service_id, subject=subject, user_id=user_id, created_ms=now_ms)
                )
        except IntegrityError:
            return False
        return True

    def services_of(self, user_id: int) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(EL.c.service_id).where(EL.c.user_id == user_id)).scalars())
