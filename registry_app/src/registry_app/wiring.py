"""Composition: registry_app's parts built from the settings, in one place.

``build_core`` makes what every process needs (database engine and stores, storage, auth, the
registry service, the audit log, the security scanner when it is on). ``create_app`` adds the
web side to it for ``registry-app serve``; ``registry-app worker`` runs workers on it without any
web side. ``WORKERS`` registers every background worker by name: what it is, when the settings
turn it on, and how it is built (its interval and endpoints passed explicitly).

Each part gets its area's settings (``registry_app.settings``) or the few values it needs, never
the configuration itself. This module imports every layer; no layer imports it (``http/`` in
particular: the web side is handed what it needs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from registry_app.clients.redis import RedisClient, make_redis
from registry_app.config import ConfigError
from registry_app.db.engine import ensure_schema, make_engine
from registry_app.db.leases import LeaseStore
from registry_app.db.notifications import NotificationStore
from registry_app.db.store import Store
from registry_app.services.audit import AuditLog
from registry_app.services.auth import AuthService, DirectoryAuth
from registry_app.services.gc import GarbageCollector
from registry_app.services.notifications import NotificationService
from registry_app.services.registry import RegistryService
from registry_app.services.secscan import SecurityScanner
from registry_app.services.tag_policy import TagPolicyService
from registry_app.settings import Settings
from registry_app.storage import BlobStorage, make_storage
from registry_app.workers.audit import AuditFlushWorker
from registry_app.workers.autoprune import LEASE_NAME as AUTOPRUNE_LEASE
from registry_app.workers.autoprune import AutoPruneWorker
from registry_app.workers.base import Lease, Mode, Worker, WorkerGroup, lease_ttl_s
from registry_app.workers.clair_cleanup import ClairCleanupWorker
from registry_app.workers.gc import BlobGcWorker, GcWorker
from registry_app.workers.notifications import NotificationWorker
from registry_app.workers.pull_stats import PullStatsWorker
from registry_app.workers.security import LEASE_NAME as SECURITY_LEASE
from registry_app.workers.security import SecurityWorker
from registry_app.workers.uploads import LEASE_NAME as UPLOADS_LEASE
from registry_app.workers.uploads import UploadActivityWorker, UploadCollectorWorker

if TYPE_CHECKING:
    from registry_app.http.app import RegistryApp


@dataclass
class Core:
    """The parts of one process, without the web side."""

    settings: Settings
    engine: Engine
    store: Store
    storage: BlobStorage
    auth: AuthService
    registry: RegistryService
    audit: AuditLog
    secscan: SecurityScanner | None = None
    notifications: NotificationService | None = None
    quota: Any = None  # services.quota.QuotaService when FEATURE_QUOTA_MANAGEMENT is on
    redis: RedisClient | None = None  # USER_EVENTS_REDIS / BUILDLOGS_REDIS (clients/redis.py)
    tag_policy: TagPolicyService | None = None  # auto-prune and immutability policies


def build_core(settings: Settings) -> Core:
    """Open (SQLite: create or migrate; PostgreSQL: check) the database, check the storage, and
    build the services. Raises DatabaseError or StorageError when either cannot be used."""
    from registry_app.db.secscan import SecscanStore

    engine = make_engine(settings.database.uri, settings.database.connect_args())
    ensure_schema(engine, auto_migrate=settings.database.is_sqlite)
    observe_pool(engine)
    store = Store(engine)
    storage = make_storage(settings.storage.driver, settings.storage.params)
    storage.check()
    redis = make_redis(settings.redis)
    auth = AuthService(
        store, settings.auth, settings.secrets, settings.tags, directory=make_directory(settings), redis=redis
    )
    registry = RegistryService(
        store,
        storage,
        auth,
        settings.uploads,
        max_manifest_size=settings.limits.max_manifest_size,
        private_on_push=settings.auth.create_private_repo_on_push,
    )
    core = Core(settings, engine, store, storage, auth, registry, AuditLog(engine), redis=redis)
    core.notifications = NotificationService(NotificationStore(engine), settings.notifications)
    registry.on_tags_pushed = core.notifications.record_push
    if settings.scanner is not None:
        core.secscan = SecurityScanner(SecscanStore(engine), auth, settings.scanner)
        registry.on_manifests_deleted = core.secscan.manifests_deleted
    if settings.quota is not None:
        from registry_app.db.quota import QuotaStore
        from registry_app.services.quota import QuotaService

        core.quota = registry.quota = QuotaService(QuotaStore(engine), settings.quota)
    if settings.pull_stats.enabled:
        from registry_app.db.pull_stats import PullStatsStore
        from registry_app.services.pull_stats import PullStats

        registry.pull_stats = PullStats(PullStatsStore(engine), redis)
    from registry_app.db.policies import PolicyStore

    core.tag_policy = TagPolicyService(PolicyStore(engine), core.audit, settings.tag_policy)
    registry.on_tags_created = core.tag_policy.tags_created
    return core


def observe_pool(engine: Engine) -> None:
    """The database pool metrics of this process (``quay_db_pool_size``,
    ``quay_db_pooled_connections_in_use``), kept by the pool's events."""
    from registry_app.db.metrics import pool_size, watch_pool
    from registry_app.observability import metrics

    metrics.db_pool_size.inc(pool_size(engine))
    watch_pool(engine, metrics.db_pooled_connections_in_use.inc)


def build_queue_depths(settings: Settings) -> Any:
    """The queue depths the metrics exporter samples at scrape time (``services/metrics``), on
    an engine of its own without a pool: a scrape opens one connection and closes it, so the
    serve parent holds none between scrapes (none that a forked worker could inherit)."""
    from registry_app.db.engine import make_null_engine
    from registry_app.db.metrics import QueueDepthStore
    from registry_app.services.metrics import QueueDepths

    engine = make_null_engine(settings.database.uri)
    return QueueDepths(QueueDepthStore(engine, secscan=settings.scanner is not None))


def make_directory(settings: Settings) -> DirectoryAuth | None:
    """The LDAP directory when AUTHENTICATION_TYPE is LDAP, else None (database users)."""
    if settings.ldap is None:
        return None
    from registry_app.services.ldap import LdapDirectory

    return LdapDirectory(settings.ldap)


def create_app(settings: Settings, run_workers: bool = True) -> RegistryApp:
    """The web application on the parts ``build_core`` makes, with the process's background
    workers (``build_workers``): all that the settings turn on, or with ``run_workers=False``
    (``serve --no-workers``) only the local ones (the audit log's flush), the others then running
    in ``registry-app worker``. The web side is imported here, not at the top, so that a worker
    process never loads it."""
    from registry_app.http.api import ApiContext, create_api
    from registry_app.http.api.guard import ApiBodyGuard
    from registry_app.http.app import HealthChecks, RegistryApp
    from registry_app.http.base import Blocking
    from registry_app.http.ui import WebUI
    from registry_app.http.v2 import V2

    core = build_core(settings)
    blocking = Blocking()
    v2 = V2(core.registry, core.auth, blocking, settings.server, core.audit)
    api = create_api(
        ApiContext(
            auth=core.auth,
            registry=core.registry,
            audit=core.audit,
            settings=settings,
            secscan=core.secscan,
            notifications=core.notifications,
            quota=core.quota,
            tag_policy=core.tag_policy,
            sessions=build_sessions(core),
            external_logins=build_external_logins(core),
        )
    )
    guarded = ApiBodyGuard(api, blocking, settings.limits.max_api_body_size, core.auth.anonymous_push)
    workers = build_workers(core, None if run_workers else [])
    health = HealthChecks(core.registry)
    return RegistryApp(
        core.registry,
        v2,
        blocking,
        health,
        guarded,
        core.audit,
        core.secscan,
        settings.limits.body_idle_timeout_s,
        workers,
        WebUI(),
    )


# -- the workers, by name -------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerEntry:
    cls: type[Worker]
    off_because: Callable[[Settings], str | None]  # why the settings leave it off; None: on
    build: Callable[[Core], Worker]

    @property
    def name(self) -> str:
        return self.cls.name

    @property
    def mode(self) -> Mode:
        return self.cls.mode

    @property
    def summary(self) -> str:
        return (self.cls.__doc__ or "").strip().splitlines()[0]


def _scanner(core: Core) -> SecurityScanner:
    assert core.secscan is not None, "built only when FEATURE_SECURITY_SCANNER is on"
    return core.secscan


def _security(core: Core) -> Worker:
    scanner = _scanner(core)
    interval = scanner.settings.interval_s
    worker = SecurityWorker(scanner, Lease(LeaseStore(core.engine), SECURITY_LEASE, lease_ttl_s(interval)), interval)
    scanner.on_notification_queued = worker.wake  # Clair's webhook reached this process
    return worker


def _clair_cleanup(core: Core) -> Worker:
    scanner = _scanner(core)
    worker = ClairCleanupWorker(scanner, scanner.store.cleanup_queue, scanner.settings.interval_s)
    scanner.on_cleanup_queued = worker.wake  # a delete in this process
    return worker


def _scanner_off(settings: Settings) -> str | None:
    return None if settings.scanner is not None else "FEATURE_SECURITY_SCANNER is not true"


def _cleanup_off(settings: Settings) -> str | None:
    return _scanner_off(settings) or (settings.scanner.cleanup_off_because if settings.scanner else None)


def _uploads(core: Core) -> Worker:
    settings = core.registry.upload_settings
    lease = Lease(LeaseStore(core.engine), UPLOADS_LEASE, lease_ttl_s(settings.interval_s))
    return UploadCollectorWorker(core.store, core.storage, settings, lease)


def _uploads_off(settings: Settings) -> str | None:
    return settings.uploads.collector_off_because


def _notifications(core: Core) -> Worker:
    assert core.notifications is not None
    worker = NotificationWorker(core.notifications)
    core.notifications.on_event_recorded = worker.wake  # a push or a test in this process
    return worker


def _notifications_off(settings: Settings) -> str | None:
    return settings.notifications.worker_off_because
def build_gc(core: Core) -> GarbageCollector:
    """The garbage collector (services/gc.py); Clair's index reports of what it deletes are
    queued for the clair-cleanup worker when the scanner is on."""
    from registry_app.db.gc import GcStore

    return GarbageCollector(
        GcStore(core.engine),
        core.storage,
        core.settings.gc,
        core.settings.tags,
        on_manifests_deleted=core.registry.on_manifests_deleted,
    )


def _gc_off(settings: Settings) -> str | None:
    return settings.gc.workers_off_because
def _pull_stats(core: Core) -> Worker:
    assert core.registry.pull_stats is not None, "built only when FEATURE_IMAGE_PULL_STATS is on"
    return PullStatsWorker(core.registry.pull_stats)


def _pull_stats_off(settings: Settings) -> str | None:
    return settings.pull_stats.off_because


def _autoprune(core: Core) -> Worker:
    assert core.tag_policy is not None
    interval = core.tag_policy.settings.interval_s
    lease = Lease(LeaseStore(core.engine), AUTOPRUNE_LEASE, lease_ttl_s(interval))
    return AutoPruneWorker(core.tag_policy, lease, interval)


def _autoprune_off(settings: Settings) -> str | None:
    return settings.tag_policy.autoprune_off_because


WORKERS: tuple[WorkerEntry, ...] = (
    WorkerEntry(SecurityWorker, _scanner_off, _security),
    WorkerEntry(ClairCleanupWorker, _cleanup_off, _clair_cleanup),
    WorkerEntry(UploadCollectorWorker, _uploads_off, _uploads),
    WorkerEntry(AuditFlushWorker, lambda _s: None, lambda core: AuditFlushWorker(core.audit)),
    WorkerEntry(UploadActivityWorker, lambda _s: None, lambda core: UploadActivityWorker(core.registry.activity)),
    WorkerEntry(NotificationWorker, _notifications_off, _notifications),
    WorkerEntry(AutoPruneWorker, _autoprune_off, _autoprune),
    WorkerEntry(GcWorker, _gc_off, lambda core: GcWorker(build_gc(core))),
    WorkerEntry(BlobGcWorker, _gc_off, lambda core: BlobGcWorker(build_gc(core))),
    WorkerEntry(PullStatsWorker, _pull_stats_off, _pull_stats),
    # Next: mirroring.
)


def worker_entry(name: str) -> WorkerEntry | None:
    return next((entry for entry in WORKERS if entry.name == name), None)


def select_workers(settings: Settings, names: Sequence[str] | None) -> list[WorkerEntry]:
    """The workers a process runs. ``names`` None: every one the settings turn on.
    Otherwise the named ones, each of which must exist and be on (a ConfigError names every
    problem). The local workers (``Mode.LOCAL``: the process's own buffers) are always added."""
    local = [e for e in WORKERS if e.mode is Mode.LOCAL and e.off_because(settings) is None]
    if names is None:
        return [e for e in WORKERS if e.mode is not Mode.LOCAL and e.off_because(settings) is None] + local
    problems = []
    chosen: list[WorkerEntry] = []
    known = ", ".join(e.name for e in WORKERS if e.mode is not Mode.LOCAL)
    for name in dict.fromkeys(names):
        entry = worker_entry(name)
        if entry is None:
            problems.append(f"{name}: no such worker (workers: {known})")
        elif entry.mode is Mode.LOCAL:
            problems.append(f"{name}: runs in every process by itself; it is not chosen by name")
        elif (why := entry.off_because(settings)) is not None:
            problems.append(f"{name}: off in this configuration ({why})")
        else:
            chosen.append(entry)
    if problems:
        raise ConfigError("registry-app worker", problems)
    return chosen + local


def build_workers(core: Core, names: Sequence[str] | None = None) -> WorkerGroup:
    """``select_workers`` built on ``core``: ``names`` None for every worker that is on, ``[]``
    for the local ones only (``serve --no-workers``)."""
    return WorkerGroup(entry.build(core) for entry in select_workers(core.settings, names))


def build_sessions(core: Core) -> Any:
    """The web UI's sign-in sessions (services/sessions.py over db/sessions.py), with Quay's
    SESSION_TIMEOUT (default 31d) and FRESH_LOGIN_TIMEOUT (default 10m)."""
    from registry_app.db.sessions import SessionStore
    from registry_app.services.sessions import SessionService

    web = core.settings.web
    return SessionService(
        SessionStore(core.engine),
        core.auth.identities.user_by_id,
        core.settings.secrets.secret_key,
        lifetime_s=web.session_lifetime_s,
        fresh_s=web.fresh_login_s,
    )


def build_external_logins(core: Core) -> Any:
    """Sign-in through the OpenID Connect providers of ``*_LOGIN_CONFIG`` (None without any)."""
    from registry_app.db.external_logins import ExternalLoginStore
    from registry_app.services.external_login import (
        Accounts,
        ExternalLoginService,
        providers_from,
        ssl_context,
    )

    settings, auth = core.settings, core.auth
    providers = providers_from(settings.web.login_configs, ssl_context(settings.server.config_dir))
    if not providers:
        return None
    accounts = Accounts(
        by_id=auth.identities.user_by_id,
        taken=lambda name: auth.identities.get(name) is not None,
        create=lambda name, email: auth.identity.create_user(name, None, email),
    )
    return ExternalLoginService(
        providers=providers,
        links=ExternalLoginStore(core.engine),
        accounts=accounts,
        secret_key=settings.secrets.secret_key,
        external_url=settings.server.base_url,
        user_creation=settings.auth.user_creation,
    )


__all__ = [
    "WORKERS",
    "Core",
    "WorkerEntry",
    "build_core",
    "build_external_logins",
    "build_gc",
    "build_queue_depths",
    "build_sessions",
    "build_workers",
    "create_app",
    "make_directory",
    "observe_pool",
    "select_workers",
    "worker_entry",
]
