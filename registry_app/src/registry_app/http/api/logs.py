"""/api/v1 usage logs, as Quay's endpoints/api/logs.py and superuser.py answer them.

- ``GET /repository/{namespace}/{repository}/logs`` (repository admins),
- ``GET /organization/{orgname}/logs`` (organization admins, ``org:admin`` scope),
- ``GET /user/logs`` (the caller's own namespace and the caller's own actions anywhere),
- ``GET /superuser/logs`` (superusers: everything),
and the ``.../aggregatelogs`` twin of each: counts per kind and day.

Query parameters are Quay's: ``starttime``/``endtime`` as ``MM/DD/YYYY`` in UTC (ISO 8601 dates
and date-times are accepted too); the end day is inclusive; without them the window is the last
day. A page holds 20 entries, newest first; ``next_page`` in an answer is an opaque token to send
back as ``?next_page=`` for the following page. Like Quay, an unreadable time or page token is
ignored rather than refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import formatdate
from typing import Any

from fastapi import APIRouter

from registry_app.db.store import RepoRow, UserRow
from registry_app.http.api.common import (
    ApiContext,
    ApiError,
    Caller,
    Ctx,
    avatar,
    decode_page_token,
    encode_page_token,
    require_superuser,
    require_user,
)
from registry_app.services.audit import LogRow
from registry_app.services.auth import Identity

router = APIRouter(tags=["logs"])

LOGS_PER_PAGE = 20  # Quay's page size
AGGREGATE_BATCH = 1000
DAY_MS = 86_400_000

# fetch(before_id, limit) → entries newest first, all with id < before_id when it is given
Fetch = Callable[[int | None, int], list[LogRow]]


# -- dates --------------------------------------------------------------------------------------
def format_ms(ms: int | None) -> str | None:
    """An RFC 2822 date as Quay's ``format_date`` writes it (``Tue, 02 Jan 2024 10:00:00 -0000``)."""
    return None if ms is None else formatdate(ms // 1000)


def _format_dt(dt: datetime) -> str:
    return formatdate(int(dt.timestamp()))


def _parse_time(text: str | None) -> tuple[datetime, bool] | None:
    """``MM/DD/YYYY`` (Quay), ``YYYY-MM-DD`` or an ISO 8601 date-time, in UTC when no zone is
    given. The flag says whether only a day was given. None when absent or unreadable."""
    if not text or not text.strip():
        return None
    text = text.strip()
    try:
        return datetime.strptime(text, "%m/%d/%Y").replace(tzinfo=UTC), True
    except ValueError:
        pass
    try:
        d = date.fromisoformat(text)
        return datetime(d.year, d.month, d.day, tzinfo=UTC), True
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)), False


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)


# Times a log window may name: the Unix epoch (no entry is older) to the last day of year 9998
# (so that the day added to an end day, and every conversion after it, stays inside datetime).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _in_range(name: str, text: str | None, parsed: tuple[datetime, bool] | None) -> tuple[datetime, bool] | None:
    """``parsed`` if it lies from EARLIEST to before LATEST; a readable but extreme time is a 400
    (an unreadable one was already dropped by _parse_time, as Quay ignores it)."""
    if parsed is not None:
        try:
            ok = EARLIEST <= parsed[0] < LATEST
        except OverflowError:  # an offset that pushes a time past year 9999 or before year 1
            ok = False
        if not ok:
            raise ApiError(400, f"{name}: {text!r} is out of range; give a date from 01/01/1970 to 12/31/9998")
    return parsed


def log_window(starttime: str | None, endtime: str | None) -> Window:
    """Quay's window: start defaults to a day ago; the end (default now) moves one day on, so an
    end *day* is inclusive. An exact end date-time is taken as it is."""
    now = datetime.now(UTC)
    start = _in_range("starttime", starttime, _parse_time(starttime))
    end = _in_range("endtime", endtime, _parse_time(endtime))
    start_dt = start[0] if start else now - timedelta(days=1)
    if end is None:
        end_dt = now + timedelta(days=1)
    else:
        end_dt = end[0] + timedelta(days=1) if end[1] else end[0]
    if end_dt < start_dt:
        raise ApiError(400, "Invalid time span: the end time is before the start time")
    return Window(start_dt, end_dt)


# -- paging -------------------------------------------------------------------------------------
def _page(fetch: Fetch, next_page: str | None) -> tuple[list[LogRow], str | None]:
    rows = fetch(decode_page_token(next_page, "before_id", minimum=1), LOGS_PER_PAGE + 1)
    if len(rows) > LOGS_PER_PAGE:
        rows = rows[:LOGS_PER_PAGE]
        return rows, encode_page_token("before_id", rows[-1].id)
    return rows, None


def _merged(*fetches: Fetch) -> Fetch:
    """Entries matching any of several filters (each newest first), without duplicates."""

    def fetch(before_id: int | None, limit: int) -> list[LogRow]:
        found: dict[int, LogRow] = {}
        for one in fetches:
            for row in one(before_id, limit):
                found[row.id] = row
        return sorted(found.values(), key=lambda r: r.id, reverse=True)[:limit]

    return fetch


def _query(ctx: ApiContext, window: Window, **filters: int | None) -> Fetch:
    def fetch(before_id: int | None, limit: int) -> list[LogRow]:
        return ctx.audit.query(
            start_ms=window.start_ms, end_ms=window.end_ms, before_id=before_id, limit=limit, **filters
        )

    return fetch


# -- views --------------------------------------------------------------------------------------
def log_view(row: LogRow, namespace: UserRow | None) -> dict[str, Any]:
    """One entry as Quay's ``Log.to_dict`` shows it; performer and namespace only when known."""
    view: dict[str, Any] = {
        "kind": row.kind,
        "metadata": row.metadata,
        "ip": row.ip,
        "datetime": format_ms(row.datetime_ms),
    }
    if row.performer is not None:
        robot = row.performer_kind == "robot"
        view["performer"] = {
            "kind": "user",
            "name": row.performer,
            "is_robot": robot,
            "avatar": avatar(row.performer, "robot" if robot else "user"),
        }
    if namespace is not None:
        kind = "org" if namespace.organization else "user"
        view["namespace"] = {"kind": kind, "name": namespace.username, "avatar": avatar(namespace.username, kind)}
    return view


def _logs(ctx: ApiContext, window: Window, fetch: Fetch, next_page: str | None) -> dict[str, Any]:
    rows, token = _page(fetch, next_page)
    namespaces: dict[str, UserRow | None] = {}
    for name in {r.account for r in rows if r.account is not None}:
        namespaces[name] = ctx.auth.identities.get(name)
    out: dict[str, Any] = {
        "start_time": _format_dt(window.start),
        "end_time": _format_dt(window.end),
        "logs": [log_view(r, namespaces.get(r.account) if r.account else None) for r in rows],
    }
    if token is not None:
        out["next_page"] = token
    return out


def _aggregate(fetch: Fetch) -> dict[str, Any]:
    """Counts per (kind, UTC day), as Quay's ``AggregatedLogCount``."""
    counts: Counter[tuple[int, str]] = Counter()
    before: int | None = None
    while True:
        rows = fetch(before, AGGREGATE_BATCH)
        for r in rows:
            counts[(r.datetime_ms - r.datetime_ms % DAY_MS, r.kind)] += 1
        if len(rows) < AGGREGATE_BATCH:
            break
        before = rows[-1].id
    return {
        "aggregated": [
            {"kind": kind, "count": n, "datetime": format_ms(day)} for (day, kind), n in sorted(counts.items())
        ]
    }


# -- who may read what --------------------------------------------------------------------------
def _forbidden() -> ApiError:
    return ApiError(403, "Unauthorized", "insufficient_scope")


def _admin_repo(ctx: ApiContext, ident: Identity, namespace: str, repository: str) -> RepoRow:
    require_user(ident)
    repo = ctx.registry.store.get_repo(namespace, repository)
    if ctx.auth.role(ident, namespace, repo) != "admin":
        raise _forbidden()
    if repo is None:
        raise ApiError(404, f"repository {namespace}/{repository} not found")
    return repo


def _admin_org(ctx: ApiContext, ident: Identity, orgname: str) -> UserRow:
    require_user(ident, "org:admin")
    org = ctx.auth.identities.get(orgname)
    if org is None or not org.organization:
        if ident.superuser:
            raise ApiError(404, f"organization {orgname} not found")
        raise _forbidden()
    if ctx.auth.org_role(ident, org) != "admin":
        raise _forbidden()
    return org


def _person(ident: Identity) -> int:
    require_user(ident, "user:admin")
    if ident.kind == "robot" or ident.user_id is None:
        raise ApiError(403, "robot accounts have no user logs", "insufficient_scope")
    return ident.user_id


def _performer_id(ctx: ApiContext, performer: str | None) -> int | None:
    """The id to filter on for ``?performer=``; -1 (matches nothing) for an unknown name."""
    if not performer:
        return None
    user = ctx.auth.identities.get(performer)
    return user.id if user is not None else -1


def _user_fetch(ctx: ApiContext, window: Window, user_id: int, performer: str | None) -> Fetch:
    performer_id = _performer_id(ctx, performer)
    if performer_id is not None:
        return _query(ctx, window, account_id=user_id, performer_id=performer_id)
    return _merged(_query(ctx, window, account_id=user_id), _query(ctx, window, performer_id=user_id))


# -- endpoints ----------------------------------------------------------------------------------
@router.get("/repository/{namespace}/{repository:path}/logs", summary="Usage logs of a repository")
def repository_logs(
    namespace: str,
    repository: str,
    ident: Caller,
    ctx: Ctx,
    starttime: str | None = None,
    endtime: str | None = None,
    next_page: str | None = None,
) -> dict[str, Any]:
    repo = _admin_repo(ctx, ident, namespace, repository)
    window = log_window(starttime, endtime)
    return _logs(ctx, window, _query(ctx, window, repository_id=repo.id), next_page)


@router.get("/repository/{namespace}/{repository:path}/aggregatelogs", summary="Log counts of a repository")
def repository_aggregate_logs(
    namespace: str,
    repository: str,
    ident: Caller,
    ctx: Ctx,
    starttime: str | None = None,
    endtime: str | None = None,
) -> dict[str, Any]:
    repo = _admin_repo(ctx, ident, namespace, repository)
    return _aggregate(_query(ctx, log_window(starttime, endtime), repository_id=repo.id))


@router.get("/organization/{orgname}/logs", summary="Usage logs of an organization")
def organization_logs(
    orgname: str,
    ident: Caller,
    ctx: Ctx,
    starttime: str | None = None,
    endtime: str | None = None,
    performer: str | None = None,
    next_page: str | None = None,
) -> dict[str, Any]:
    org = _admin_org(ctx, ident, orgname)
    window = log_window(starttime, endtime)
    fetch = _query(ctx, window, account_id=org.id, performer_id=_performer_id(ctx, performer))
    return _logs(ctx, window, fetch, next_page)


@router.get("/organization/{orgname}/aggregatelogs", summary="Log counts of an organization")
def organization_aggregate_logs(
    orgname: str,
    ident: Caller,
    ctx: Ctx,
    starttime: str | None = None,
    endtime: str | None = None,
    performer: str | None = None,
) -> dict[str, Any]:
    org = _admin_org(ctx, ident, orgname)
    window = log_window(starttime, endtime)
    return _aggregate(_query(ctx, window, account_id=org.id, performer_id=_performer_id(ctx, performer)))


@router.get("/user/logs", summary="Usage logs of the signed-in user")
def user_logs(
    ident: Caller,
    ctx: Ctx,
    starttime: str | None = None,
    endtime: str | None = None,
    performer: str | None = None,
    next_page: str | None = None,
) -> dict[str, Any]:
    """What happened in the caller's namespace, and what the caller did anywhere."""
    user_id = _person(ident)
    window = log_window(starttime, endtime)
    return _logs(ctx, window, _user_fetch(ctx, window, user_id, performer), next_page)


@router.get("/user/aggregatelogs", summary="Log counts of the signed-in user")
def user_aggregate_logs(
    ident: Caller,
    ctx: Ctx,
    starttime: str | None = None,
    endtime: str | None = None,
    performer: str | None = None,
) -> dict[str, Any]:
    user_id = _person(ident)
    return _aggregate(_user_fetch(ctx, log_window(starttime, endtime), user_id, performer))


@router.get("/superuser/logs", tags=["superuser"], summary="Every usage log of the registry")
def superuser_logs(
    ident: Caller,
    ctx: Ctx,
    starttime: str | None = None,
    endtime: str | None = None,
    next_page: str | None = None,
) -> dict[str, Any]:
    require_superuser(ident)
    window = log_window(starttime, endtime)
    return _logs(ctx, window, _query(ctx, window), next_page)


@router.get("/superuser/aggregatelogs", tags=["superuser"], summary="Log counts of the whole registry")
def superuser_aggregate_logs(
    ident: Caller, ctx: Ctx, starttime: str | None = None, endtime: str | None = None
) -> dict[str, Any]:
    require_superuser(ident)
    return _aggregate(_query(ctx, log_window(starttime, endtime)))
