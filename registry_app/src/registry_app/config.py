"""Load and validate a Quay-compatible config bundle (or build the embedded default).

A bundle is a directory holding ``config.yaml`` and, optionally, ``ssl.cert``/``ssl.key`` and
``extra_ca_certs/``. The JSON Schema in ``config_schema.json`` is the single description of the keys;
the quay.registry collection validates the bundles it writes with the same file. The checks the
schema cannot make live beside their area's settings (``settings.ldap.ldap_problems``,
``settings.scanner.scanner_problems``) and the storage drivers' parameter checks in
``storage.drivers``. A validated configuration is decided once into typed settings
(``Config.settings``, registry_app.settings): that, not the raw values, is what the rest takes.
This module imports nothing above it (no service, no web side).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from registry_app.settings import Settings, settings_from_values
from registry_app.settings.ldap import ldap_problems
from registry_app.settings.scanner import scanner_problems
from registry_app.settings.tag_policy import default_policy_problems
from registry_app.settings.web import oidc_config_problems
from registry_app.storage.drivers import param_problems
from registry_app.storage.drivers import registered as registered_drivers

SCHEMA: dict[str, Any] = json.loads(
    resources.files("registry_app").joinpath("config_schema.json").read_text(encoding="utf-8")
)

# Keys Quay knows that registry_app accepts but does not act on (yet). They are reported as
# "ignored" so a Quay user sees which parts of their config have no effect here.
QUAY_KEYS_NOT_IMPLEMENTED = frozenset(
    {
        "ACTION_LOG_ARCHIVE_LOCATION",
        "ACTION_LOG_ARCHIVE_PATH",
        "ACTION_LOG_ROTATION_THRESHOLD",
        "ALLOW_PULLS_WITHOUT_STRICT_LOGGING",
        "AVATAR_KIND",
        "BITBUCKET_TRIGGER_CONFIG",
        "BITTORRENT_FILENAME_PEPPER",
        "CONTACT_INFO",
        "DEFAULT_NAMESPACE_MAXIMUM_BUILD_COUNT",
        "ENABLE_HEALTH_DEBUG_SECRET",
        "ENTERPRISE_LOGO_URL",
        "FEATURE_ACI_CONVERSION",
        "FEATURE_ACTION_LOG_ROTATION",
        "FEATURE_APP_SPECIFIC_TOKENS",
        "FEATURE_BITBUCKET_BUILD",
        "FEATURE_BUILD_SUPPORT",
        "FEATURE_DIRECT_LOGIN",
        "FEATURE_GITHUB_BUILD",
        "FEATURE_GITHUB_LOGIN",
        "FEATURE_GITLAB_BUILD",
        "FEATURE_GOOGLE_LOGIN",
        "FEATURE_INVITE_ONLY_USER_CREATION",
        "FEATURE_NONSUPERUSER_TEAM_SYNCING_SETUP",
        "FEATURE_PARTIAL_USER_AUTOCOMPLETE",
        "FEATURE_PROXY_STORAGE",
        "FEATURE_QUOTA_MANAGEMENT",
        "FEATURE_RATE_LIMITS",
        "FEATURE_REPO_MIRROR",
        "FEATURE_REQUIRE_TEAM_INVITE",
        "FEATURE_RESTRICTED_V1_PUSH",
        "FEATURE_STORAGE_REPLICATION",
        "FEATURE_TEAM_SYNCING",
        "FEATURE_USER_LAST_ACCESSED",
        "FEATURE_USER_LOG_ACCESS",
        "FEATURE_USER_METADATA",
        "FEATURE_USER_RENAME",
        "FEATURE_USERNAME_CONFIRMATION",
        "GITHUB_LOGIN_CONFIG",
        "GITHUB_TRIGGER_CONFIG",
        "GITLAB_TRIGGER_CONFIG",
        "GOOGLE_LOGIN_CONFIG",
        "LOGS_MODEL",
        "LOGS_MODEL_CONFIG",
        "LOG_ARCHIVE_LOCATION",
        "MAXIMUM_LAYER_SIZE",
        "PUBLIC_NAMESPACES",
        "REPO_MIRROR_INTERVAL",
        "REPO_MIRROR_SERVER_HOSTNAME",
        "REPO_MIRROR_TLS_VERIFY",
        "SEARCH_MAX_RESULT_PAGE_COUNT",
        "SEARCH_RESULTS_PER_PAGE",
        "SECURITY_SCANNER_ISSUER_NAME",
        "SECURITY_SCANNER_V4_NAMESPACE_WHITELIST",
        "TEAM_RESYNC_STALE_TIME",
        "USERFILES_LOCATION",
        "USERFILES_PATH",
        "USER_RECOVERY_TOKEN_LIFETIME",
        "USE_CDN",
    }
)

class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` lists each as 'KEY: what is wrong'."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class Config:
    """A validated configuration: config.yaml as written (plus a generated SECRET_KEY), the
    bundle's files and the loader's warnings. ``settings`` is what everything downstream takes:
    the values decided once into typed settings (registry_app.settings), defaults included."""

    values: dict[str, Any]
    data_dir: Path
    config_dir: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @cached_property
    def settings(self) -> Settings:
        return settings_from_values(
            self.values,
            data_dir=self.data_dir,
            config_dir=self.config_dir,
            tls_cert=self.tls_cert,
            tls_key=self.tls_key,
        )

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def db_uri(self) -> str:
        return self.settings.database.uri

    @property
    def is_sqlite(self) -> bool:
        return self.settings.database.is_sqlite

    @property
    def storage_driver(self) -> tuple[str, dict[str, Any]]:
        """(Quay storage class name, parameters) of the first preferred storage location."""
        return self.settings.storage.driver, dict(self.settings.storage.params)

    @property
    def storage_path(self) -> Path:
        driver, params = self.storage_driver
        if driver != "LocalStorage":
            raise ConfigError("config.yaml", [f"storage class {driver} has no storage directory"])
        return Path(params["storage_path"])

    @property
    def secret_key(self) -> str:
        return self.settings.secrets.secret_key

    @property
    def super_users(self) -> frozenset[str]:
        return self.settings.auth.super_users


def _describe(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        name = missing[0] if missing else path
        return f"{path}.{name}: required key is missing" if error.absolute_path else f"{name}: required key is missing"
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return f"{path}: {error.instance!r} is not one of {allowed}"
    if error.validator == "pattern":
        hint = error.schema.get("description") if isinstance(error.schema, dict) else None
        return f"{path}: {error.instance!r} is not valid" + (f" (expected: {hint})" if hint else "")
    if error.validator == "type":
        return f"{path}: expected {error.validator_value}, got {type(error.instance).__name__} ({error.instance!r})"
    return f"{path}: {error.message}"


def validate_values(values: Any, source: str = "config.yaml") -> list[str]:
    """Validate a parsed config.yaml. Returns warnings; raises ConfigError listing every problem."""
    if not isinstance(values, dict):
        raise ConfigError(source, [f"(top level): expected a mapping of keys, got {type(values).__name__}"])
    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = sorted((_describe(e) for e in validator.iter_errors(values)), key=lambda s: s.split(":", 1)[0])
    pref = values.get("DISTRIBUTED_STORAGE_PREFERENCE") or []
    storage = values.get("DISTRIBUTED_STORAGE_CONFIG") or {}
    storage_warnings: list[str] = []
    if isinstance(pref, list) and isinstance(storage, dict):
        for name in pref:
            if name not in storage:
                problems.append(
                    f"DISTRIBUTED_STORAGE_PREFERENCE: {name!r} is not defined in DISTRIBUTED_STORAGE_CONFIG"
                )
        storage_problems, storage_warnings = _storage_problems(storage, pref)
        problems.extend(storage_problems)
    if values.get("AUTHENTICATION_TYPE") == "LDAP":
        problems.extend(ldap_problems(values))
    if values.get("FEATURE_SECURITY_SCANNER") or values.get("SECURITY_SCANNER_V4_PSK"):
        problems.extend(scanner_problems(values))
    if any(k.endswith("_LOGIN_CONFIG") for k in values):
        problems.extend(oidc_config_problems(values))
    problems.extend(default_policy_problems(values))
    if problems:
        raise ConfigError(source, problems)
    warnings = list(storage_warnings)
    known = set(SCHEMA["properties"])
    patterns = [re.compile(p) for p in SCHEMA.get("patternProperties", {})]
    for key in sorted(values):
        if key in known or any(p.search(key) for p in patterns):
            continue
        if key in QUAY_KEYS_NOT_IMPLEMENTED:
            warnings.append(f"{key}: Quay key accepted but has no effect in registry_app")
        else:
            warnings.append(f"{key}: unknown key, ignored")
    return warnings


def _storage_problems(storage: dict[str, Any], pref: list[Any]) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the storage locations: each ``[ClassName, {params}]`` is checked by
    the driver registered under that name. A class with no driver here is a problem where it
    would be used (the first preferred location) and a warning elsewhere; the schema already
    limits the names to Quay's."""
    problems: list[str] = []
    warnings: list[str] = []
    used = pref[0] if pref else None
    for name, entry in storage.items():
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            continue  # the schema reports its shape
        if entry[0] not in registered_drivers() and name != used:
            warnings.append(
                f"DISTRIBUTED_STORAGE_CONFIG.{name}: storage class {entry[0]} is not available yet; location not used"
            )
            continue
        problems.extend(f"DISTRIBUTED_STORAGE_CONFIG.{name}: {p}" for p in param_problems(entry[0], entry[1]))
    return problems, warnings


def _load_or_create_secret(data_dir: Path, name: str) -> str:
    """A secret generated once and kept in the data directory (mode 0600)."""
    path = data_dir / name
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # first writer wins if two processes race
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="ascii").strip()


def embedded_default(data_dir: Path, bind_host: str = "127.0.0.1", bind_port: int = 8080) -> Config:
    """SQLite (WAL) metadata and filesystem blobs under ``data_dir``; plain HTTP."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    host = "localhost" if bind_host in ("127.0.0.1", "0.0.0.0", "::", "::1") else bind_host  # noqa: S104
    values: dict[str, Any] = {
        "SERVER_HOSTNAME": f"{host}:{bind_port}",
        "DB_URI": f"sqlite:///{data_dir / 'registry.db'}",
        "DISTRIBUTED_STORAGE_CONFIG": {"default": ["LocalStorage", {"storage_path": str(data_dir / "storage")}]},
        "DISTRIBUTED_STORAGE_PREFERENCE": ["default"],
        # One local admin who can do everything: the embedded default is a single-user setup.
        "FEATURE_SUPERUSERS_FULL_ACCESS": True,
        "SECRET_KEY": _load_or_create_secret(data_dir, "secret_key"),
        "DATABASE_SECRET_KEY": _load_or_create_secret(data_dir, "database_secret_key"),
    }
    validate_values(values, "embedded default")
    return _decided(Config(values=values, data_dir=data_dir))


def load_bundle(config_dir: Path, data_dir: Path | None = None) -> Config:
    """Read ``config_dir/config.yaml`` (+ ssl.cert/ssl.key); raise ConfigError naming what is wrong."""
    config_dir = config_dir.resolve()
    path = config_dir / "config.yaml"
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, ["file not found"]) from None
    except OSError as exc:
        raise ConfigError(source, [f"cannot read: {exc.strerror}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"YAML syntax error at {where}: {problem}"]) from None
    warnings = validate_values(raw, source)
    values = dict(raw)
    if data_dir is None:
        data_dir = config_dir
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if not values.get("SECRET_KEY"):  # the loader's one default: it lives in the data directory
        values["SECRET_KEY"] = _load_or_create_secret(data_dir, "secret_key")
        warnings.append(
            "SECRET_KEY: not set; using a key generated in the data directory (set it for multi-host setups)"
        )
    cert, key = config_dir / "ssl.cert", config_dir / "ssl.key"
    has_cert, has_key = cert.is_file(), key.is_file()
    if has_cert != has_key:
        raise ConfigError(
            source, [f"{'ssl.key' if has_cert else 'ssl.cert'}: missing (TLS needs both ssl.cert and ssl.key)"]
        )
    if has_cert:
        _check_tls_pair(cert, key, source)
    config = Config(
        values=values,
        data_dir=data_dir,
        config_dir=config_dir,
        tls_cert=cert if has_cert else None,
        tls_key=key if has_key else None,
        warnings=tuple(warnings),
    )
    return _decided(config)


def _decided(config: Config) -> Config:
    """``config`` with its settings built now, once, right after validation: every process
    decides them when it loads the configuration, not at a first use deep inside a request."""
    _ = config.settings
    return config


def _check_tls_pair(cert: Path, key: Path, source: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    except ValueError as exc:
        raise ConfigError(source, [f"ssl.cert: not a PEM certificate ({exc})"]) from None
    try:
        private_key = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(source, [f"ssl.key: not an unencrypted PEM private key ({exc})"]) from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if certificate.public_key().public_bytes(enc, pub) != private_key.public_key().public_bytes(enc, pub):
        raise ConfigError(source, ["ssl.key: does not match the public key in ssl.cert"])
