"""Composition: registry_app's parts built from a validated Config, in one place.

``build_core`` makes what every process needs (database engine and stores, storage, auth, the
registry service, the audit log, the security scanner when it is on). ``http.app.create_app``
adds the web side to it for ``registry-app serve``; ``registry-app worker`` runs workers on it
without any web side. ``WORKERS`` registers every background worker by name: what it is, when the
configuration turns it on, and how it is built (its interval and endpoints passed explicitly).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from registry_app.config import Config, ConfigError
from registry_app.db.engine import ensure_schema, make_engine
from registry_app.db.leases import LeaseStore
from registry_app.db.store import Store
from registry_app.services.audit import AuditLog
from registry_app.services.auth import AuthService
from registry_app.services.registry import RegistryService
from registry_app.services.secscan import SecurityScanner
from registry_app.services.uploads import UploadSettings
from registry_app.storage import BlobStorage, make_storage
from registry_app.workers.audit import AuditFlushWorker
from registry_app.workers.base import Lease, Mode, Worker, WorkerGroup, lease_ttl_s
from registry_app.workers.clair_cleanup import ClairCleanupWorker
from registry_app.workers.security import LEASE_NAME as SECURITY_LEASE
from registry_app.workers.security import SecurityWorker
from registry_app.workers.uploads import LEASE_NAME as UPLOADS_LEASE
from registry_app.workers.uploads import UploadActivityWorker, UploadCollectorWorker


@dataclass
class Core:
    """The parts of one process, without the web side."""

    config: Config
    engine: Engine
    store: Store
    storage: BlobStorage
    auth: AuthService
    registry: RegistryService
    audit: AuditLog
    secscan: SecurityScanner | None = None


def build_core(config: Config) -> Core:
    """Open (SQLite: create or migrate; PostgreSQL: check) the database, check the storage, and
    build the services. Raises DatabaseError or StorageError when either cannot be used."""
    from registry_app.db.secscan import SecscanStore
    from registry_app.services.secscan import ScannerSettings

    engine = make_engine(config.db_uri, config.get("DB_CONNECTION_ARGS"))
    ensure_schema(engine, auto_migrate=config.is_sqlite)
    observe_pool(engine)
    store = Store(engine)
    storage = make_storage(*config.storage_driver)
    storage.check()
    auth = AuthService(store, config, directory=make_directory(config))
    registry = RegistryService(store, storage, auth, config)
    core = Core(config, engine, store, storage, auth, registry, AuditLog(engine))
    if config.get("FEATURE_SECURITY_SCANNER"):
        core.secscan = SecurityScanner(SecscanStore(engine), auth, ScannerSettings.from_config(config))
        registry.on_manifests_deleted = core.secscan.manifests_deleted
    return core


def observe_pool(engine: Engine) -> None:
    """The database pool metrics of this process (``quay_db_pool_size``,
    ``quay_db_pooled_connections_in_use``), kept by the pool's events."""
    from registry_app.db.metrics import pool_size, watch_pool
    from registry_app.observability import metrics

    metrics.db_pool_size.inc(pool_size(engine))
    watch_pool(engine, metrics.db_pooled_connections_in_use.inc)


def build_queue_depths(config: Config) -> Any:
    """The queue depths the metrics exporter samples at scrape time (``services/metrics``), on
    an engine of its own without a pool: a scrape opens one connection and closes it, so the
    serve parent holds none between scrapes (none that a forked worker could inherit)."""
    from registry_app.db.engine import make_null_engine
    from registry_app.db.metrics import QueueDepthStore
    from registry_app.services.metrics import QueueDepths

    engine = make_null_engine(config.db_uri)
    return QueueDepths(QueueDepthStore(engine, secscan=bool(config.get("FEATURE_SECURITY_SCANNER"))))


def make_directory(config: Config) -> Any:
    """The LDAP directory when AUTHENTICATION_TYPE is LDAP, else None (database users)."""
    if config.get("AUTHENTICATION_TYPE", "Database") != "LDAP":
        return None
    from registry_app.services.ldap import LdapDirectory

    return LdapDirectory(config)


# -- the workers, by name -------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerEntry:
    cls: type[Worker]
    off_because: Callable[[Config], str | None]  # why this configuration leaves it off; None: on
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


def _scanner_off(config: Config) -> str | None:
    return None if config.get("FEATURE_SECURITY_SCANNER") else "FEATURE_SECURITY_SCANNER is not true"


def _cleanup_off(config: Config) -> str | None:
    if not config.get("SECURITY_SCANNER_V4_MANIFEST_CLEANUP", True):
        return "SECURITY_SCANNER_V4_MANIFEST_CLEANUP is false"
    return _scanner_off(config)


def _uploads(core: Core) -> Worker:
    settings = core.registry.upload_settings
    lease = Lease(LeaseStore(core.engine), UPLOADS_LEASE, lease_ttl_s(settings.interval_s))
    return UploadCollectorWorker(core.store, core.storage, settings, lease)


def _uploads_off(config: Config) -> str | None:
    if UploadSettings.from_config(config).interval_s > 0:
        return None
    key = (
        "BLOBUPLOAD_CLEANUP_FREQUENCY is 0"
        if config.get("REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL") is None
        else "REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL is 0s"
    )
    return f"{key}: only `registry-app uploads cleanup` collects"


WORKERS: tuple[WorkerEntry, ...] = (
    WorkerEntry(SecurityWorker, _scanner_off, _security),
    WorkerEntry(ClairCleanupWorker, _cleanup_off, _clair_cleanup),
    WorkerEntry(UploadCollectorWorker, _uploads_off, _uploads),
    WorkerEntry(AuditFlushWorker, lambda _config: None, lambda core: AuditFlushWorker(core.audit)),
    WorkerEntry(UploadActivityWorker, lambda _config: None, lambda core: UploadActivityWorker(core.registry.activity)),
    # Next: GC, notification delivery (a QUEUE on repository_event), mirroring.
)


def worker_entry(name: str) -> WorkerEntry | None:
    return next((entry for entry in WORKERS if entry.name == name), None)


def select_workers(config: Config, names: Sequence[str] | None) -> list[WorkerEntry]:
    """The workers a process runs. ``names`` None: every one the configuration turns on.
    Otherwise the named ones, each of which must exist and be on (a ConfigError names every
    problem). The local workers (``Mode.LOCAL``: the process's own buffers) are always added."""
    local = [e for e in WORKERS if e.mode is Mode.LOCAL and e.off_because(config) is None]
    if names is None:
        return [e for e in WORKERS if e.mode is not Mode.LOCAL and e.off_because(config) is None] + local
    problems = []
    chosen: list[WorkerEntry] = []
    known = ", ".join(e.name for e in WORKERS if e.mode is not Mode.LOCAL)
    for name in dict.fromkeys(names):
        entry = worker_entry(name)
        if entry is None:
            problems.append(f"{name}: no such worker (workers: {known})")
        elif entry.mode is Mode.LOCAL:
            problems.append(f"{name}: runs in every process by itself; it is not chosen by name")
        elif (why := entry.off_because(config)) is not None:
            problems.append(f"{name}: off in this configuration ({why})")
        else:
            chosen.append(entry)
    if problems:
        raise ConfigError("registry-app worker", problems)
    return chosen + local


def build_workers(core: Core, names: Sequence[str] | None = None) -> WorkerGroup:
    """``select_workers`` built on ``core``: ``names`` None for every worker that is on, ``[]``
    for the local ones only (``serve --no-workers``)."""
    return WorkerGroup(entry.build(core) for entry in select_workers(core.config, names))



def build_sessions(core: Core) -> Any:
    """The web UI's sign-in sessions (services/sessions.py over db/sessions.py), with Quay's
    SESSION_TIMEOUT (default 31d) and FRESH_LOGIN_TIMEOUT (default 10m)."""
    from registry_app.db.sessions import SessionStore
    from registry_app.services.identity import IdentityService
    from registry_app.services.sessions import SessionService

    config = core.config
    return SessionService(
        SessionStore(core.engine),
        core.auth.identities.user_by_id,
        config.secret_key,
        lifetime_s=IdentityService.timespan_seconds(str(config.get("SESSION_TIMEOUT") or "31d")),
        fresh_s=IdentityService.timespan_seconds(str(config.get("FRESH_LOGIN_TIMEOUT") or "10m")),
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

    config, auth = core.config, core.auth
    providers = providers_from(config.values, ssl_context(config.config_dir))
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
        secret_key=config.secret_key,
        external_url=f"{config.get('PREFERRED_URL_SCHEME') or 'http'}://{config['SERVER_HOSTNAME']}",
        user_creation=bool(config.get("FEATURE_USER_CREATION", True)),
    )

__all__ = [
    "WORKERS",
    "Core",
    "WorkerEntry",
    "build_core",
    "build_external_logins",
    "build_queue_depths",
    "build_sessions",
    "build_workers",
    "make_directory",
    "observe_pool",
    "select_workers",
    "worker_entry",
]
