"""Data access for web UI sessions (table ``web_session``): the store services/sessions.py uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Engine, Table, delete, select, update

from registry_app.db.engine import write_tx
from registry_app.db.models import WebSession

WS = cast(Table, WebSession.__table__)


@dataclass(frozen=True)
class SessionRow:
    key: str
    user_id: int
    stamp: str
    created_ms: int
    login_ms: int
    expires_ms: int


class SessionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, key: str, user_id: int, stamp: str, created_ms: int, expires_ms: int) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(
                WS.insert().values(
                    id=key,
                    user_id=user_id,
                    stamp=stamp,
                    created_ms=created_ms,
                    login_ms=created_ms,
                    expires_ms=expires_ms,
                )
            )

    def get(self, key: str) -> SessionRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(WS).where(WS.c.id == key)).first()
        if row is None:
            return None
        return SessionRow(row.id, row.user_id, row.stamp, row.created_ms, row.login_ms, row.expires_ms)

    def set_login(self, key: str, login_ms: int) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(update(WS).where(WS.c.id == key).values(login_ms=login_ms))

    def delete(self, key: str) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(delete(WS).where(WS.c.id == key))

    def delete_user(self, user_id: int) -> int:
        with write_tx(self.engine) as conn:
            return int(conn.execute(delete(WS).where(WS.c.user_id == user_id)).rowcount or 0)

    def purge_expired(self, now_ms: int) -> int:
        with write_tx(self.engine) as conn:
            return int(conn.execute(delete(WS).where(WS.c.expires_ms < now_ms)).rowcount or 0)
