"""Quay config bundles for tests that start ``registry-app serve --config-dir``.

A bundle is a directory holding ``config.yaml`` and, for HTTPS, ``ssl.cert``/``ssl.key``.
``write_bundle`` writes one; ``bundle_server`` makes a ``RegistryServer`` on a fresh bundle (and
migrates its database, creates the superuser ``admin``); ``start_https_registry`` is the HTTPS
server the real-client tests use. The database and storage live next to the bundle, in its parent
directory: ``registry.db`` (SQLite unless DB_URI says otherwise) and ``storage/``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tests.support.server import RegistryServer
from tests.support.tls import DEFAULT_SANS, CertificateAuthority, make_server_cert

ADMIN = ("admin", "admin-password-for-tests")


def bundle_config(directory: Path, **overrides: Any) -> dict[str, Any]:
    """config.yaml's values: SQLite ``registry.db`` and LocalStorage ``storage/`` (location ``default``)
    in the bundle's parent directory and a fresh SECRET_KEY, then ``overrides`` (Quay's key names),
    in that order. An override of None leaves the key out. SERVER_HOSTNAME has no default."""
    base = directory.parent
    config: dict[str, Any] = {
        "DB_URI": f"sqlite:///{base / 'registry.db'}",
        "DISTRIBUTED_STORAGE_CONFIG": {"default": ["LocalStorage", {"storage_path": str(base / "storage")}]},
        "DISTRIBUTED_STORAGE_PREFERENCE": ["default"],
        "SECRET_KEY": secrets.token_urlsafe(48),
    }
    config.update(overrides)
    return {key: value for key, value in config.items() if value is not None}


def write_bundle(
    directory: Path,
    *,
    tls: CertificateAuthority | None = None,
    sans: Iterable[str] = DEFAULT_SANS,
    **overrides: Any,
) -> Path:
    """Write ``config.yaml`` (``bundle_config(directory, **overrides)``) into ``directory``, made if
    missing; with ``tls`` also ``ssl.cert``/``ssl.key`` for ``sans``, signed by that CA. Returns
    ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    config = bundle_config(directory, **overrides)
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if tls is not None:
        make_server_cert(tls, directory / "ssl.cert", directory / "ssl.key", list(sans))
    return directory


def cli(server: RegistryServer, *args: str, input: bytes | None = None) -> None:
    """``registry-app ARGS`` for this server's data; a non-zero exit raises with the command's output."""
    res = server.cli(*args, input=input, check=False)
    if res.returncode != 0:
        raise RuntimeError(
            f"registry-app {' '.join(args)} exited {res.returncode}:\n"
            f"{res.stdout.decode(errors='replace')}{res.stderr.decode(errors='replace')}"
        )


def bundle_server(
    base: Path,
    *,
    prefix: str = "",
    hostname: str | None = None,
    migrate: bool = True,
    admin: bool = False,
    tls: CertificateAuthority | None = None,
    sans: Iterable[str] = DEFAULT_SANS,
    netns: str | None = None,
    address: str = "127.0.0.1",
    **overrides: Any,
) -> RegistryServer:
    """A server (not started) on a new bundle ``base/{prefix}config`` with data in ``base/{prefix}data``.

    SERVER_HOSTNAME is ``HOSTNAME:PORT`` (``hostname`` defaults to ``address``); the other keys are
    ``bundle_config``'s, with ``overrides``. With ``tls`` the server is HTTPS: PREFERRED_URL_SCHEME
    https, a certificate for ``sans`` from that CA, and ``server.ca_file`` is the CA's PEM. ``migrate``
    runs ``registry-app migrate``; ``admin`` then creates the superuser ``ADMIN`` with the CLI (and
    names it in SUPER_USERS). ``netns``/``address``: see ``RegistryServer``.
    """
    bundle = base / f"{prefix}config"
    server = RegistryServer(
        data_dir=base / f"{prefix}data",
        config_dir=bundle,
        scheme="https" if tls else "http",
        ca_file=tls.cert_path if tls else None,
        netns=netns,
        address=address,
    )
    config: dict[str, Any] = {"SERVER_HOSTNAME": f"{hostname or address}:{server.port}"}
    if tls:
        config["PREFERRED_URL_SCHEME"] = "https"
    if admin:
        config["SUPER_USERS"] = [ADMIN[0]]
    write_bundle(bundle, tls=tls, sans=sans, **{**config, **overrides})
    if migrate:
        cli(server, "migrate")
    if admin:
        server.create_user(*ADMIN, superuser=True)
    return server


def start_https_registry(
    base: Path,
    ca: CertificateAuthority,
    *,
    hostname: str | None = None,
    extra_sans: tuple[str, ...] = (),
    netns: str | None = None,
    address: str = "127.0.0.1",
) -> RegistryServer:
    """A started HTTPS server on a config bundle (config.yaml + ssl.cert/ssl.key) with superuser ``admin``.

    SERVER_HOSTNAME is ``127.0.0.1:PORT`` unless ``hostname`` (a host without port) is given; the
    certificate names 127.0.0.1, localhost, ``hostname`` and ``extra_sans``. With ``netns`` the server
    runs in that network namespace bound to ``address`` (a test host; pass ``hostname=address``).
    Call ``.stop()``.
    """
    sans = list(dict.fromkeys([*DEFAULT_SANS, *([hostname] if hostname else []), *extra_sans]))
    server = bundle_server(
        base,
        prefix="https-",
        hostname=hostname or "127.0.0.1",
        admin=True,
        tls=ca,
        sans=sans,
        netns=netns,
        address=address,
        FEATURE_SUPERUSERS_FULL_ACCESS=True,
    )
    return server.start()
