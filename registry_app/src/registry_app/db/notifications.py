"""Repository notifications' SQL: the notifications themselves (Quay's ``RepositoryNotification``),
the fan-out of ``repository_event`` rows into ``notification_delivery`` (the notification worker's
claim queue), failure counts, and the image-expiry scan (Quay's ``TagNotificationSuccess``).

Exactly-once fan-out: an event row is turned into delivery rows and marked ``delivered_ms`` in one
transaction; on PostgreSQL the event rows are taken ``FOR UPDATE SKIP LOCKED`` (several processes
fan out different events), on SQLite ``BEGIN IMMEDIATE`` serialises them. Deliveries are then
claimed (``ClaimQueue``) and deleted once sent, so two processes never send one delivery in the
normal case (a worker that outlives its claim may; see db/claims.py).
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, delete, or_, select, update

from registry_app.db.claims import ClaimQueue
from registry_app.db.engine import write_tx
from registry_app.db.models import (
    NotificationDelivery,
    NotifiedTag,
    Repository,
    RepositoryEvent,
    RepositoryNotification,
    Tag,
    User,
)
from registry_app.db.store import now_ms

N = cast(Table, RepositoryNotification.__table__)
D = cast(Table, NotificationDelivery.__table__)
EV = cast(Table, RepositoryEvent.__table__)
NT = cast(Table, NotifiedTag.__table__)
R = cast(Table, Repository.__table__)
U = cast(Table, User.__table__)
T = cast(Table, Tag.__table__)

FAILURE_LIMIT = 3  # Quay's get_enabled_notification: fewer than 3 failures


@dataclass(frozen=True)
class NotificationRow:
    id: int
    uuid: str
    repository_id: int
    namespace: str
    repository: str
    event: str
    method: str
    title: str | None
    config: dict[str, Any]
    event_config: dict[str, Any]
    number_of_failures: int

    @property
    def enabled(self) -> bool:
        return self.number_of_failures < FAILURE_LIMIT


def _loads(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _select() -> Any:
    return select(
        N.c.id, N.c.uuid, N.c.repository_id, U.c.username, R.c.name, N.c.event, N.c.method, N.c.title,
        N.c.config_json, N.c.event_config_json, N.c.number_of_failures,
    ).select_from(N.join(R, R.c.id == N.c.repository_id).join(U, U.c.id == R.c.namespace_id))


def _row(r: Any) -> NotificationRow:
    return NotificationRow(
        id=int(r[0]), uuid=r[1], repository_id=int(r[2]), namespace=r[3], repository=r[4], event=r[5],
        method=r[6], title=r[7], config=_loads(r[8]), event_config=_loads(r[9]), number_of_failures=int(r[10]),
    )


class NotificationStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self.deliveries = ClaimQueue(engine, D)

    # -- the notifications ---------------------------------------------------------------------
    def create(
        self, repository_id: int, event: str, method: str, title: str | None,
        config: dict[str, Any], event_config: dict[str, Any],
    ) -> NotificationRow:
        new_uuid = str(uuidlib.uuid4())
        with write_tx(self.engine) as conn:
            conn.execute(
                N.insert().values(
                    uuid=new_uuid, repository_id=repository_id, event=event, method=method, title=title,
                    config_json=json.dumps(config), event_config_json=json.dumps(event_config),
                    number_of_failures=0, created_ms=now_ms(),
                )
            )
        found = self.get(repository_id, new_uuid)
        assert found is not None
        return found

    def list(self, repository_id: int, event: str | None = None) -> list[NotificationRow]:
        q = _select().where(N.c.repository_id == repository_id)
        if event is not None:
            q = q.where(N.c.event == event)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q.order_by(N.c.id))]

    def get(self, repository_id: int, uuid: str) -> NotificationRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(_select().where(N.c.repository_id == repository_id, N.c.uuid == uuid)).first()
        return _row(r) if r is not None else None

    def by_id(self, notification_id: int) -> NotificationRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(_select().where(N.c.id == notification_id)).first()
        return _row(r) if r is not None else None

    def delete(self, repository_id: int, uuid: str) -> NotificationRow | None:
        found = self.get(repository_id, uuid)
        if found is None:
            return None
        with write_tx(self.engine) as conn:
            conn.execute(delete(N).where(N.c.id == found.id))
        return found

    def reset_failures(self, notification_id: int) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(update(N).where(N.c.id == notification_id).values(number_of_failures=0))

    def count_failure(self, notification_id: int) -> int:
        """One more failure in a row; returns the new count."""
        with write_tx(self.engine) as conn:
            conn.execute(
                update(N).where(N.c.id == notification_id).values(number_of_failures=N.c.number_of_failures + 1)
            )
            count = conn.execute(select(N.c.number_of_failures).where(N.c.id == notification_id)).scalar()
        return int(count or 0)

    def has_notifications(self, repository_id: int, event: str) -> bool:
        with self.engine.connect() as conn:
            q = select(N.c.id).where(N.c.repository_id == repository_id, N.c.event == event).limit(1)
            return conn.execute(q).first() is not None

    # -- events and deliveries -----------------------------------------------------------------
    def record_event(self, kind: str, repository_id: int, payload: dict[str, Any]) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(
                EV.insert().values(
                    kind=kind, repository_id=repository_id, payload_json=json.dumps(payload), created_ms=now_ms()
                )
            )

    def queue_delivery(self, notification_id: int, payload: dict[str, Any]) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(
                D.insert().values(
                    notification_id=notification_id, event_id=None, payload_json=json.dumps(payload),
                    created_ms=now_ms(), attempts=0, claimed_until_ms=0,
                )
            )

    def fan_out(self, limit: int) -> int:
        """Turn up to ``limit`` undelivered events into one delivery per enabled notification of
        the event's repository and kind (an event naming a ``notification_uuid``, as the image-expiry
        scan's do, only for that one), and mark them delivered; in one transaction. Returns the
        number of events handled."""
        with self.engine.connect() as conn:  # an empty queue costs a read, not a write lock
            if conn.execute(select(EV.c.id).where(EV.c.delivered_ms.is_(None)).limit(1)).first() is None:
                return 0
        q = select(EV.c.id, EV.c.kind, EV.c.repository_id, EV.c.payload_json).where(EV.c.delivered_ms.is_(None))
        q = q.order_by(EV.c.id).limit(limit)
        if self.postgres:
            q = q.with_for_update(skip_locked=True)
        t = now_ms()
        with write_tx(self.engine) as conn:
            events = conn.execute(q).all()
            rows = []
            for ev_id, kind, repo_id, payload_json in events:
                which = select(N.c.id).where(
                    N.c.repository_id == repo_id, N.c.event == kind, N.c.number_of_failures < FAILURE_LIMIT
                )
                target = _loads(payload_json).get("notification_uuid")
                if isinstance(target, str):
                    which = which.where(N.c.uuid == target)
                for (nid,) in conn.execute(which):
                    rows.append(
                        {"notification_id": nid, "event_id": ev_id, "payload_json": payload_json,
                         "created_ms": t, "attempts": 0, "claimed_until_ms": 0}
                    )
            if rows:
                conn.execute(D.insert(), rows)
            if events:
                conn.execute(update(EV).where(EV.c.id.in_([e[0] for e in events])).values(delivered_ms=t))
        return len(events)

    def pending_deliveries(self, notification_id: int | None = None) -> int:
        q = select(D.c.id)
        if notification_id is not None:
            q = q.where(D.c.notification_id == notification_id)
        with self.engine.connect() as conn:
            return len(conn.execute(q).all())

    # -- image expiry (Quay's scan_for_image_expiry_notifications) ----------------------------
    def scan_image_expiry(
        self, event: str, every_ms: int, limit: int, build: Callable[[str, str, dict[str, Any]], dict[str, Any]]
    ) -> int:
        """For up to ``limit`` ``event`` notifications not scanned for ``every_ms``: the live tags of
        the repository expiring within the notification's ``days`` and not yet announced become one
        event (``build(namespace, repository, extra)`` with ``tags``, ``expiring_in``,
        ``notification_uuid``), remembered in notified_tag. One
        transaction per call; on PostgreSQL the notifications are taken SKIP LOCKED. Returns the
        number of events recorded."""
        t = now_ms()
        q = (
            select(N.c.id, N.c.uuid, N.c.repository_id, N.c.event_config_json, U.c.username, R.c.name)
            .select_from(N.join(R, R.c.id == N.c.repository_id).join(U, U.c.id == R.c.namespace_id))
            .where(
                N.c.event == event,
                N.c.number_of_failures < FAILURE_LIMIT,
                or_(N.c.last_ran_ms.is_(None), N.c.last_ran_ms <= t - every_ms),
            )
            .order_by(N.c.last_ran_ms.is_(None).desc(), N.c.last_ran_ms, N.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            if conn.execute(q.limit(1)).first() is None:
                return 0
        if self.postgres:
            q = q.with_for_update(skip_locked=True, of=N)
        recorded = 0
        with write_tx(self.engine) as conn:
            for nid, nuuid, repo_id, config_json, namespace, repo_name in conn.execute(q).all():
                conn.execute(update(N).where(N.c.id == nid).values(last_ran_ms=t))
                days = _loads(config_json).get("days")
                if isinstance(days, bool) or not isinstance(days, int | float) or days <= 0:
                    continue
                notified = select(NT.c.tag_id).where(NT.c.notification_id == nid)
                tags = conn.execute(
                    select(T.c.id, T.c.name)
                    .where(
                        T.c.repository_id == repo_id,
                        T.c.lifetime_end_ms.is_(None),
                        T.c.expiration_ms.is_not(None),
                        and_(T.c.expiration_ms > t, T.c.expiration_ms <= t + int(days * 86_400_000)),
                        T.c.id.not_in(notified),
                    )
                    .order_by(T.c.name)
                ).all()
                if not tags:
                    continue
                conn.execute(NT.insert(), [{"notification_id": nid, "tag_id": tid} for tid, _ in tags])
                extra = {"notification_uuid": nuuid, "tags": [name for _, name in tags], "expiring_in": f"{days} days"}
                payload = build(namespace, repo_name, extra)
                conn.execute(
                    EV.insert().values(
                        kind=event, repository_id=repo_id, payload_json=json.dumps(payload), created_ms=t
                    )
                )
                recorded += 1
        return recorded


__all__ = ["FAILURE_LIMIT", "NotificationRow", "NotificationStore"]
