"""``registry-app``: serve | worker | migrate | config validate | user create | repo visibility | uploads cleanup |
gc."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from registry_app.config import Config, ConfigError, embedded_default, load_bundle
from registry_app.observability.exporter import MetricsDirectory
from registry_app.settings import Settings

EXIT_CONFIG = 2
EXIT_DB = 3
EXIT_STORAGE = 4
EXIT_EXISTS = 5


def _fail(message: str, code: int) -> int:
    print(f"registry-app: error: {message}", file=sys.stderr)
    return code


def load_config(args: argparse.Namespace) -> Config:
    data_dir = Path(args.data_dir) if args.data_dir else None
    if args.config_dir:
        return load_bundle(Path(args.config_dir), data_dir)
    host, port = _split_bind(getattr(args, "bind", None) or "127.0.0.1:8080")
    return embedded_default(data_dir or Path("data"), host, port)


def _split_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError("--bind", [f"expected HOST:PORT, got {bind!r}"])
    return host.strip("[]") or "127.0.0.1", int(port)


def _open(settings: Settings, auto_migrate: bool | None = None) -> Any:
    from registry_app.db.engine import ensure_schema, make_engine
    from registry_app.db.store import Store

    database = settings.database
    engine = make_engine(database.uri, database.connect_args())
    ensure_schema(engine, auto_migrate=database.is_sqlite if auto_migrate is None else auto_migrate)
    return Store(engine)


def fixed_mmap_threshold(threshold: int = 1024 * 1024) -> bool:
    """Make glibc hand every allocation of ``threshold`` bytes or more straight back to the kernel.

    glibc raises its mmap threshold each time a large mmap'ed block is freed (up to 32 MiB), so
    after the first argon2 password check (19 MiB) or 4 MiB upload buffer, later ones of that size
    come from the calling thread's malloc arena and stay resident after free. With one arena per
    thread-pool thread, each worker grew by about 20 MiB per thread that had ever verified a
    password (docs/benchmarks.md, "Memory"). Setting M_MMAP_THRESHOLD turns the dynamic threshold
    off. Returns False where there is no glibc mallopt (musl, macOS): nothing changes there.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_mmap_threshold = -3  # <malloc.h>
    return bool(mallopt(ctypes.c_int(m_mmap_threshold), ctypes.c_int(threshold)))


def app_from_env() -> Any:
    """Granian worker factory: rebuild the Config from the environment the parent set."""
    from registry_app.wiring import create_app

    fixed_mmap_threshold()

    config_dir = os.environ.get("REGISTRY_APP_CONFIG_DIR") or None
    data_dir = Path(os.environ["REGISTRY_APP_DATA_DIR"])
    if config_dir:
        config = load_bundle(Path(config_dir), data_dir)
    else:
        host, port = _split_bind(os.environ["REGISTRY_APP_BIND"])
        config = embedded_default(data_dir, host, port)
    return create_app(config.settings, run_workers=os.environ.get("REGISTRY_APP_NO_WORKERS") != "1")


def cmd_serve(args: argparse.Namespace) -> int:
    from granian import Granian
    from granian.constants import Interfaces, Loops, SSLProtocols

    from registry_app.db.engine import DatabaseError
    from registry_app.storage import StorageError, make_storage

    config = load_config(args)
    for warning in config.warnings:
        print(f"registry-app: config: {warning}", file=sys.stderr)
    settings = config.settings
    where = settings.server
    host, port = _split_bind(args.bind)
    metrics = settings.metrics
    if args.metrics_port is not None:
        metrics = replace(metrics, port=args.metrics_port)
    metrics_host = metrics.host_or(host)
    if metrics.enabled:
        MetricsDirectory()  # before anything imports prometheus_client; removed when serve ends
    try:
        _open(settings)
    except DatabaseError as exc:
        return _fail(str(exc), EXIT_DB)
    try:
        make_storage(settings.storage.driver, settings.storage.params).check()
    except StorageError as exc:
        return _fail(exc.detail, EXIT_STORAGE)
    metrics_note = "off"
    if metrics.enabled:
        from registry_app.observability.exporter import start_exporter
        from registry_app.wiring import build_queue_depths

        try:
            exporter = start_exporter(metrics_host, metrics.port, build_queue_depths(settings).as_mapping)
        except OSError as exc:
            return _fail(
                f"metrics: cannot listen on {metrics_host}:{metrics.port} ({exc.strerror or exc}); "
                "set REGISTRY_APP_METRICS_PORT (0 turns the metrics endpoint off) or REGISTRY_APP_METRICS_HOST",
                EXIT_CONFIG,
            )
        metrics_note = f"http://{metrics_host}:{exporter.server_address[1]}/metrics"
    os.environ["REGISTRY_APP_BIND"] = args.bind
    os.environ["REGISTRY_APP_DATA_DIR"] = str(where.data_dir)
    os.environ["REGISTRY_APP_CONFIG_DIR"] = str(where.config_dir) if where.config_dir else ""
    os.environ["REGISTRY_APP_NO_WORKERS"] = "1" if args.no_workers else ""
    scheme = "https" if where.tls else "http"  # what this process listens with
    background = "off (run `registry-app worker`)" if args.no_workers else "in-process"
    print(
        f"registry-app: serving {scheme}://{host}:{port} (data: {where.data_dir}, "
        f"database: {settings.database.kind}, workers: {args.workers}, "
        f"background workers: {background}, metrics: {metrics_note})",
        file=sys.stderr,
        flush=True,
    )
    kwargs: dict[str, Any] = {}
    if where.tls:
        kwargs.update(ssl_cert=where.tls_cert, ssl_key=where.tls_key, ssl_protocol_min=SSLProtocols.tls12)
    server = Granian(
        "registry_app.cli:app_from_env",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=args.workers,
        loop=Loops.uvloop,
        factory=True,
        log_access=False,
        backlog=2048,
        respawn_failed_workers=True,
        **kwargs,
    )
    server.serve()
    return 0


WORKER_STOP_TIMEOUT_S = 30.0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run background workers in this process until SIGTERM or SIGINT (a second one exits at
    once): the named ones, or every one the configuration turns on."""
    import logging
    import signal
    import threading

    if args.metrics_port and not args.list:
        MetricsDirectory()  # before the workers' modules import prometheus_client

    from registry_app.storage import StorageError
    from registry_app.wiring import WORKERS, build_core, build_queue_depths, build_workers, select_workers
    from registry_app.workers.base import Mode

    if args.list:
        settings = load_config(args).settings if args.config_dir or args.data_dir else None
        for entry in WORKERS:
            state = ""
            if settings is not None:
                why = entry.off_because(settings)
                state = "on" if why is None else f"off ({why})"
            where = "every process, not chosen by name" if entry.mode is Mode.LOCAL else entry.mode.value
            print(f"{entry.name:<15} {where:<35} {entry.summary}" + (f" [{state}]" if state else ""))
        return 0
    config = load_config(args)
    for warning in config.warnings:
        print(f"registry-app: config: {warning}", file=sys.stderr)
    settings = config.settings
    select_workers(settings, args.names or None)  # unknown or disabled names: a ConfigError before anything opens
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("registry_app").setLevel(logging.INFO)  # the workers' rounds; libraries stay quiet
    try:
        group = build_workers(build_core(settings), args.names or None)
    except StorageError as exc:
        return _fail(exc.detail, EXIT_STORAGE)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise SystemExit(1)  # a second signal: do not wait for the rounds to end
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.metrics_port:
        from registry_app.observability.exporter import start_exporter

        metrics_host = settings.metrics.host_or("127.0.0.1")
        try:
            start_exporter(metrics_host, args.metrics_port, build_queue_depths(settings).as_mapping)
        except OSError as exc:
            where = f"{metrics_host}:{args.metrics_port}"
            return _fail(f"metrics: cannot listen on {where} ({exc.strerror or exc})", EXIT_CONFIG)
    shared = [w.name for w in group if w.mode is not Mode.LOCAL]
    print(
        f"registry-app: worker running {', '.join(shared) or 'no shared worker (none is on in this configuration)'}"
        f" (database: {settings.database.kind})",
        file=sys.stderr,
        flush=True,
    )
    group.start()
    while not stop.wait(3600):
        pass
    group.stop(WORKER_STOP_TIMEOUT_S)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from registry_app.db.engine import DatabaseError, make_engine, migrate, redact_uri

    database = load_config(args).settings.database
    engine = make_engine(database.uri, database.connect_args())
    try:
        before, after = migrate(engine)
    except DatabaseError as exc:
        return _fail(str(exc), EXIT_DB)
    except Exception as exc:
        orig = getattr(exc, "orig", exc)
        return _fail(f"migration of {redact_uri(database.uri)} failed: {str(orig).strip().splitlines()[0]}", EXIT_DB)
    if before == after:
        print(f"database schema is up to date (revision {after})")
    else:
        print(f"database schema migrated from {before or 'empty'} to {after}")
    return 0


def cmd_config_validate(args: argparse.Namespace) -> int:
    config = load_bundle(Path(args.config_dir), Path(args.data_dir) if args.data_dir else None)
    for warning in config.warnings:
        print(f"warning: {warning}")
    print(f"{Path(args.config_dir) / 'config.yaml'}: valid")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    from registry_app.services.auth import AuthService
    from registry_app.services.passwords import MAX_PASSWORD_LENGTH

    settings = load_config(args).settings
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.name}: ")
    else:
        return _fail("give the password on standard input with --password-stdin", EXIT_CONFIG)
    if len(password) < 8:
        return _fail("the password must have at least 8 characters", EXIT_CONFIG)
    if len(password) > MAX_PASSWORD_LENGTH:
        return _fail(f"the password must have at most {MAX_PASSWORD_LENGTH} characters", EXIT_CONFIG)
    store = _open(settings)
    if store.get_user(args.name) is not None:
        print(f"user {args.name} exists; left unchanged")
        return EXIT_EXISTS if args.fail_if_exists else 0
    auth = AuthService(store, settings.auth, settings.secrets, settings.tags)
    auth.create_user(args.name, password, args.email, superuser=args.superuser)
    print(f"created user {args.name}{' (superuser)' if args.superuser else ''}")
    return 0


def cmd_uploads_cleanup(args: argparse.Namespace) -> int:
    """Collect abandoned uploads once (what the server's upload collector does every interval):
    idle ones older than --older-than (default REGISTRY_APP_UPLOAD_MAX_AGE) and crash leftovers."""
    from registry_app.services.uploads import collect_abandoned_uploads
    from registry_app.settings.units import parse_duration
    from registry_app.storage import make_storage

    settings = load_config(args).settings
    try:
        older_than = float(parse_duration(args.older_than)) if args.older_than else settings.uploads.max_age_s
    except ValueError as exc:
        return _fail(f"--older-than: {exc}", EXIT_CONFIG)
    store = _open(settings)
    storage = make_storage(settings.storage.driver, settings.storage.params)
    report = collect_abandoned_uploads(store, storage, older_than, dry_run=args.dry_run)
    for line in report.lines():
        print(("would remove " if args.dry_run else "removed ") + line)
    print(report.summary())
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    """One garbage collection pass (what the gc and blob-gc workers do every interval), printing
    what it removed or, with --dry-run, would remove (docs/gc.md)."""
    from registry_app.wiring import build_core, build_gc

    core = build_core(load_config(args).settings)
    report = build_gc(core).run_pass(dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for digest in report.manifests:
        print(f"{verb} manifest {digest}")
    for digest in report.blobs:
        print(f"{verb} blob {digest}")
    print(report.summary())
    return 0


def cmd_repo_visibility(args: argparse.Namespace) -> int:
    from registry_app.services.names import split_repository

    store = _open(load_config(args).settings)
    namespace, name = split_repository(args.repository)
    repo = store.get_repo(namespace, name)
    if repo is None:
        repo = store.create_repo(namespace, name, args.visibility, True)
    store.set_visibility(repo.id, args.visibility)
    print(f"{args.repository} is now {args.visibility}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="registry-app", description="A Quay-compatible OCI container registry.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="data directory (embedded default: database, blobs, secrets)")
        p.add_argument("--config-dir", help="Quay config bundle directory (config.yaml, ssl.cert, ssl.key)")

    p = sub.add_parser("serve", help="run the registry")
    p.add_argument("--bind", default="127.0.0.1:8080", help="HOST:PORT to listen on (default 127.0.0.1:8080)")
    p.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("REGISTRY_APP_WORKERS", "2")),
        help="worker processes (default 2)",
    )
    p.add_argument(
        "--no-workers",
        action="store_true",
        help="run no background workers in the server (run them with `registry-app worker`)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus /metrics on this port (default REGISTRY_APP_METRICS_PORT or 9091; 0: off)",
    )
    common(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run background workers in a process of their own")
    p.add_argument("names", nargs="*", metavar="NAME", help="workers to run (default: every one that is on)")
    p.add_argument("--list", action="store_true", help="list the workers (with a configuration: which are on)")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        metavar="PORT",
        help="serve Prometheus /metrics on this port (at REGISTRY_APP_METRICS_HOST or 127.0.0.1; default 0: off)",
    )
    common(p)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="apply database migrations")
    common(p)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("config", help="config bundle tools")
    csub = p.add_subparsers(dest="config_command", required=True)
    v = csub.add_parser("validate", help="check a config bundle without starting")
    v.add_argument("--config-dir", required=True)
    v.add_argument("--data-dir")
    v.set_defaults(func=cmd_config_validate)

    p = sub.add_parser("user", help="manage users")
    usub = p.add_subparsers(dest="user_command", required=True)
    u = usub.add_parser("create", help="create a user (idempotent: an existing user is left unchanged)")
    u.add_argument("name")
    u.add_argument("--email")
    u.add_argument("--superuser", action="store_true")
    u.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    u.add_argument("--fail-if-exists", action="store_true", help=f"exit {EXIT_EXISTS} when the user exists")
    common(u)
    u.set_defaults(func=cmd_user_create)

    p = sub.add_parser("repo", help="manage repositories")
    rsub = p.add_subparsers(dest="repo_command", required=True)
    r = rsub.add_parser("visibility", help="make a repository public or private (creating it if needed)")
    r.add_argument("repository")
    r.add_argument("visibility", choices=["public", "private"])
    common(r)
    r.set_defaults(func=cmd_repo_visibility)

    p = sub.add_parser("uploads", help="manage blob uploads")
    upsub = p.add_subparsers(dest="uploads_command", required=True)
    c = upsub.add_parser("cleanup", help="remove abandoned uploads (idle ones and crash leftovers)")
    c.add_argument(
        "--older-than",
        metavar="DURATION",
        help="idle time after which an upload is abandoned, e.g. 24h, 30m, 7d (default: REGISTRY_APP_UPLOAD_MAX_AGE)",
    )
    c.add_argument("--dry-run", action="store_true", help="print what would be removed; remove nothing")
    common(c)
    c.set_defaults(func=cmd_uploads_cleanup)

    p = sub.add_parser("gc", help="run one garbage collection pass (manifests, blobs, bytes)")
    p.add_argument("--dry-run", action="store_true", help="print what would be removed; remove nothing")
    common(p)
    p.set_defaults(func=cmd_gc)
    return parser


def main(argv: list[str] | None = None) -> int:
    from registry_app.db.engine import DatabaseError
    from registry_app.services.errors import RegistryError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"registry-app: configuration error in {exc.source}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseError as exc:
        return _fail(str(exc), EXIT_DB)
    except RegistryError as exc:
        return _fail(exc.message, EXIT_CONFIG)


if __name__ == "__main__":
    sys.exit(main())
