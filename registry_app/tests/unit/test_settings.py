"""Typed settings (registry_app.settings): a validated config.yaml decided once into frozen
settings per area. Defaults and derived values come from here, the external URL scheme has one
derivation, secrets stay out of every repr, and nothing outside the loader reads raw keys."""

from __future__ import annotations

import ast
import base64
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

import registry_app
from registry_app.config import embedded_default, load_bundle
from registry_app.http.base import Request
from registry_app.settings import Settings
from registry_app.storage import make_storage
from registry_app.storage.s3_classes import S3Storage
from registry_app.wiring import create_app
from tests.support.bundle import write_bundle
from tests.support.tls import make_ca

SRC = Path(registry_app.__file__).parent
PSK = base64.b64encode(b"p" * 32).decode()
APP_TOKEN_LIFETIME = "APP_SPECIFIC_TOKEN_EXPIRATION"  # noqa: S105 - a key whose value is a duration


def settings_of(tmp_path: Path, **values: Any) -> Settings:
    bundle = write_bundle(tmp_path / "bundle", **{"SERVER_HOSTNAME": "registry.test", **values})
    return load_bundle(bundle).settings


def test_absent_keys_take_quays_defaults(tmp_path: Path) -> None:
    s = settings_of(tmp_path)
    assert (s.server.hostname, s.server.scheme, s.server.base_url) == ("registry.test", "http", "http://registry.test")
    assert not s.server.embedded and not s.server.tls and s.database.is_sqlite
    assert (s.storage.location, s.storage.driver) == ("default", "LocalStorage")
    assert s.storage.params["storage_path"] == str(tmp_path / "storage")
    auth = s.auth
    assert (auth.service, auth.authentication_type, auth.super_users) == ("registry.test", "Database", frozenset())
    assert auth.anonymous_access and not auth.anonymous_push and not auth.public_catalog
    assert auth.create_private_repo_on_push and not auth.create_namespace_on_push
    assert auth.user_creation and not auth.user_initialize and auth.xhr_only and not auth.superusers_full_access
    assert (auth.token_lifetime_s, auth.account_cache_s, auth.app_tokens, auth.app_token_lifetime_s) == (
        3600,
        5.0,
        True,
        None,
    )
    assert (auth.throttle.per_address, auth.throttle.per_account, auth.throttle.window_s) == (5, 30, 60)
    assert (s.limits.max_manifest_size, s.limits.max_api_body_size, s.limits.body_idle_timeout_s) == (
        4 * 1024 * 1024,
        1024 * 1024,
        60,
    )
    assert (s.uploads.max_age_s, s.uploads.interval_s, s.uploads.max_open_per_account) == (86400, 3600, 100)
    assert s.tags.default_expiration_s == 14 * 86400
    assert s.tags.expiration_options_s == (0, 86400, 7 * 86400, 14 * 86400, 28 * 86400)
    assert (s.tags.label_expiration_min_s, s.tags.label_expiration_max_s) == (3600, 104 * 7 * 86400)
    assert s.ldap is None and s.scanner is None
    assert s.secrets.database_secret_key == s.secrets.secret_key  # DATABASE_SECRET_KEY falls back


def test_keys_that_are_set_are_decided_into_their_areas(tmp_path: Path) -> None:
    s = settings_of(
        tmp_path,
        SUPER_USERS=["root"],
        FEATURE_ANONYMOUS_ACCESS=False,
        FEATURE_USER_CREATION=False,
        BROWSER_API_CALLS_XHR_ONLY=False,
        REGISTRY_APP_TOKEN_LIFETIME=600,
        REGISTRY_APP_LOGIN_FAILURE_WINDOW=30,
        **{APP_TOKEN_LIFETIME: "52w"},
        DEFAULT_TAG_EXPIRATION="1d",
        TAG_EXPIRATION_OPTIONS=["1d", "3d"],
        LABEL_KEY_RESERVED_PREFIXES=["com.example."],
        REGISTRY_APP_MAX_MANIFEST_SIZE=8192,
        BLOBUPLOAD_CLEANUP_FREQUENCY=0,
        DATABASE_SECRET_KEY="d" * 32,
    )
    assert s.auth.super_users == {"root"} and not s.auth.anonymous_access and not s.auth.user_creation
    assert not s.auth.xhr_only and s.auth.token_lifetime_s == 600 and s.auth.throttle.window_s == 30
    assert s.auth.app_token_lifetime_s == 52 * 7 * 86400
    assert (s.tags.default_expiration_s, s.tags.expiration_options_s) == (86400, (86400, 3 * 86400))
    assert s.tags.reserved_label_prefixes == ("com.example.",)
    assert s.limits.max_manifest_size == 8192
    assert s.uploads.collector_off_because == (
        "BLOBUPLOAD_CLEANUP_FREQUENCY is 0: only `registry-app uploads cleanup` collects"
    )
    assert s.secrets.database_secret_key == "d" * 32 != s.secrets.secret_key


def test_an_unreadable_app_token_lifetime_means_none_as_before(tmp_path: Path) -> None:
    """APP_SPECIFIC_TOKEN_EXPIRATION is not in the schema: any value loads, as it did."""
    assert settings_of(tmp_path / "a", **{APP_TOKEN_LIFETIME: " 3 d "}).auth.app_token_lifetime_s == 3 * 86400
    assert settings_of(tmp_path / "b", **{APP_TOKEN_LIFETIME: "soon"}).auth.app_token_lifetime_s is None


@pytest.mark.parametrize(
    ("tls", "preferred", "scheme"),
    [(False, None, "http"), (False, "https", "https"), (True, None, "https"), (True, "http", "https")],
)
def test_one_external_scheme_for_tokens_and_clair(
    tmp_path: Path, tls: bool, preferred: str | None, scheme: str
) -> None:
    """https when this process serves TLS or PREFERRED_URL_SCHEME says so. The token realm (/v2)
    and the layer URLs Clair fetches (the scanner) used to derive it differently."""
    bundle = write_bundle(
        tmp_path / "bundle",
        tls=make_ca(tmp_path / "ca") if tls else None,
        SERVER_HOSTNAME="registry.test",
        PREFERRED_URL_SCHEME=preferred,
        FEATURE_SECURITY_SCANNER=True,
        SECURITY_SCANNER_V4_ENDPOINT="http://127.0.0.1:9",
    )
    settings = load_bundle(bundle).settings
    assert settings.server.tls == tls and settings.server.scheme == scheme
    assert settings.scanner is not None and settings.scanner.scheme == scheme
    app = create_app(settings, run_workers=False)
    assert app.v2.scheme == app.secscan.scheme == scheme
    request = Request({"method": "GET", "path": "/v2/", "headers": [(b"host", b"elsewhere:1")]}, _no_body)
    assert app.v2.realm(request) == (f"{scheme}://registry.test/v2/auth", "registry.test")


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def test_secrets_are_in_no_repr(tmp_path: Path) -> None:
    secret, db_secret, db_password, ldap_password = (f"{n}-{'x' * 24}" for n in ("sk", "dsk", "dbpw", "ldappw"))
    bundle = write_bundle(
        tmp_path / "bundle",
        SERVER_HOSTNAME="registry.test",
        SECRET_KEY=secret,
        DATABASE_SECRET_KEY=db_secret,
        DB_URI=f"postgresql://quay:{db_password}@db.test:5432/quay",
        DB_CONNECTION_ARGS={"password": db_password},
        AUTHENTICATION_TYPE="LDAP",
        LDAP_URI="ldap://ldap.test",
        LDAP_BASE_DN=["dc=test"],
        LDAP_ADMIN_DN="cn=admin,dc=test",
        LDAP_ADMIN_PASSWD=ldap_password,
        FEATURE_SECURITY_SCANNER=True,
        SECURITY_SCANNER_V4_ENDPOINT="http://clair.test:8081",
        SECURITY_SCANNER_V4_PSK=PSK,
    )
    settings = load_bundle(bundle).settings
    assert settings.ldap is not None and settings.ldap.admin_password == ldap_password
    assert settings.scanner is not None and settings.scanner.psk_key == b"p" * 32
    assert settings.database.uri.endswith("@db.test:5432/quay") and settings.secrets.secret_key == secret
    shown = repr(settings) + str(settings)
    assert "registry.test" in shown and "ldap.test" in shown  # the repr says something
    for value in (secret, db_secret, db_password, ldap_password, PSK, repr(b"p" * 32)):
        assert value not in shown


def test_settings_are_frozen_and_decided_once(tmp_path: Path) -> None:
    config = embedded_default(tmp_path, "127.0.0.1", 5999)
    assert config.settings is config.settings
    assert config.settings.server.embedded and config.settings.auth.superusers_full_access
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.settings.auth.anonymous_push = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.settings.storage.params["storage_path"] = "/elsewhere"  # type: ignore[index]


def test_an_s3_location_is_the_storage_setting_the_wiring_builds(tmp_path: Path) -> None:
    """S3Storage goes the way LocalStorage does: the preferred location's class and parameters
    are ``settings.storage``, read-only, and ``make_storage`` builds the driver from them (boto3
    opens no connection until used). The object-store secret is in no repr."""
    secret = f"s3-{'y' * 24}"
    params = {"s3_bucket": "quay", "storage_path": "/registry", "s3_access_key": "AKIDTEST", "s3_secret_key": secret}
    params |= {"endpoint_url": "http://s3.test:8333", "proxy_downloads": True}
    s = settings_of(
        tmp_path,
        DISTRIBUTED_STORAGE_CONFIG={"local": ["LocalStorage", {"storage_path": "/x"}], "east": ["S3Storage", params]},
        DISTRIBUTED_STORAGE_PREFERENCE=["east", "local"],
    )
    assert (s.storage.location, s.storage.driver, dict(s.storage.params)) == ("east", "S3Storage", params)
    with pytest.raises(TypeError):
        s.storage.params["s3_bucket"] = "other"  # type: ignore[index]
    driver = make_storage(s.storage.driver, s.storage.params)
    assert isinstance(driver, S3Storage)
    assert (driver.bucket, driver.root, driver.settings.proxy_downloads) == ("quay", "registry/", True)
    assert driver.settings.endpoint_url == "http://s3.test:8333"
    assert secret not in repr(s) + str(s) + repr(s.storage) + repr(driver)


# -- nothing downstream reads raw keys ------------------------------------------------------------
RAW_READS = re.compile(r"\bconfig: Any\b|\bconfig\.get\(|\bconfig\[|\.config\.get\(|ctx\.config\b")
LOADER = {SRC / "config.py"}


def test_only_the_loader_reads_the_configuration() -> None:
    found = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if path not in LOADER and "migrations" not in path.parts
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if RAW_READS.search(line)
    ]
    assert found == []


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("registry_app")}


def test_the_loader_and_the_settings_import_nothing_above_them() -> None:
    """The settings are imported by every layer, so they import only themselves; the loader
    imports the settings and the storage drivers' parameter checks, no service or web side."""
    for path in sorted((SRC / "settings").glob("*.py")):
        assert {n for n in _imports(path) if not n.startswith("registry_app.settings")} == set(), path.name
    assert _imports(SRC / "config.py") <= {
        "registry_app.settings",
        "registry_app.settings.ldap",
        "registry_app.settings.scanner",
        "registry_app.settings.tag_policy",
        "registry_app.settings.web",
        "registry_app.storage.drivers",
    }
    for path in sorted((SRC / "http").rglob("*.py")):
        assert "registry_app.wiring" not in _imports(path), path.name


def test_the_web_side_is_decided_with_the_rest(tmp_path: Path) -> None:
    """Sessions, GET /config's public keys and features, and the OIDC providers: decided once;
    the client secret of a *_LOGIN_CONFIG shows in no repr, and no secret key reaches /config."""
    secret = "oidc-client-secret-value"  # noqa: S105 - a test value, checked to stay out of every repr
    s = settings_of(
        tmp_path,
        PREFERRED_URL_SCHEME="https",
        SESSION_TIMEOUT="2d",
        FRESH_LOGIN_TIMEOUT="5m",
        REGISTRY_TITLE="Ours",
        FEATURE_USER_CREATION=False,
        HYDRA_LOGIN_CONFIG={"OIDC_SERVER": "https://id.test/", "CLIENT_ID": "registry", "CLIENT_SECRET": secret},
    )
    web = s.web
    assert (web.session_lifetime_s, web.fresh_login_s, web.cookie_secure) == (2 * 86400, 300, True)
    assert web.public_config["REGISTRY_TITLE"] == "Ours" and web.public_config["PREFERRED_URL_SCHEME"] == "https"
    assert "SECRET_KEY" not in web.public_config and "DB_URI" not in web.public_config
    assert web.features["USER_CREATION"] is False and web.features["ANONYMOUS_ACCESS"] is True
    assert list(web.login_configs) == ["HYDRA_LOGIN_CONFIG"]
    assert web.login_configs["HYDRA_LOGIN_CONFIG"]["CLIENT_SECRET"] == secret
    assert secret not in repr(s) and secret not in repr(web)
    plain = settings_of(tmp_path / "plain")
    assert (plain.web.session_lifetime_s, plain.web.fresh_login_s, plain.web.cookie_secure) == (31 * 86400, 600, False)
    assert plain.web.features["USER_CREATION"] is True and not plain.web.login_configs
    # /config shows Quay's defaults for the visible keys left out (the UI reads AUTHENTICATION_TYPE)
    assert plain.web.public_config["AUTHENTICATION_TYPE"] == "Database"
    assert (plain.web.public_config["PREFERRED_URL_SCHEME"], plain.web.public_config["DEFAULT_TAG_EXPIRATION"]) == (
        "http",
        "2w",
    )
