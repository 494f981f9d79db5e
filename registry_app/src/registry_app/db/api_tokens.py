"""Data access for the API tokens a user manages in the web UI (table ``oauth_token``; the rows
are made by services.identity.create_api_token, which keeps only the secret's SHA-256)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Engine, Table, delete, select

from registry_app.db.engine import write_tx
from registry_app.db.models import OAuthToken

OT = cast(Table, OAuthToken.__table__)


@dataclass(frozen=True)
class ApiTokenRow:
    id: int
    title: str | None
    scopes: str
    created_ms: int
    expires_ms: int | None


class ApiTokenStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def of_user(self, user_id: int) -> list[ApiTokenRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(OT.c.id, OT.c.title, OT.c.scopes, OT.c.created_ms, OT.c.expires_ms)
                .where(OT.c.user_id == user_id)
                .order_by(OT.c.id)
            ).all()
        return [ApiTokenRow(*r) for r in rows]

    def delete(self, user_id: int, token_id: int) -> bool:
        with write_tx(self.engine) as conn:
            return bool(conn.execute(delete(OT).where(OT.c.id == token_id, OT.c.user_id == user_id)).rowcount)
