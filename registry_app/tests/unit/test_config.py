from pathlib import Path

import pytest

from registry_app.config import ConfigError, embedded_default, load_bundle

GOOD = """
SERVER_HOSTNAME: registry.example.com
DB_URI: postgresql://quay:secret@db:5432/quay
DISTRIBUTED_STORAGE_CONFIG:
  default: [LocalStorage, {storage_path: /datastorage/registry}]
DISTRIBUTED_STORAGE_PREFERENCE: [default]
SUPER_USERS: [admin]
FEATURE_ACI_CONVERSION: false
SOMETHING_ODD: 1
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "config.yaml").write_text(text)
    return tmp_path


def test_good_bundle_reports_unknown_and_ignored_keys(tmp_path: Path) -> None:
    cfg = load_bundle(write(tmp_path, GOOD))
    assert cfg["SERVER_HOSTNAME"] == "registry.example.com" and not cfg.is_sqlite
    assert cfg.super_users == {"admin"}
    assert any(w.startswith("SOMETHING_ODD: unknown key") for w in cfg.warnings)
    assert any(w.startswith("FEATURE_ACI_CONVERSION: Quay key accepted") for w in cfg.warnings)
    assert len(cfg.secret_key) > 16  # generated once into the data dir
    assert load_bundle(tmp_path).secret_key == cfg.secret_key


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (GOOD.replace("SERVER_HOSTNAME: registry.example.com\n", ""), "SERVER_HOSTNAME: required key is missing"),
        (GOOD.replace("DB_URI: postgresql", "DB_URI: mysql"), "DB_URI:"),
        (GOOD.replace("[default]", "[nowhere]"), "DISTRIBUTED_STORAGE_PREFERENCE: 'nowhere' is not defined"),
        (GOOD + "FEATURE_SECURITY_SCANNER: yes-please\n", "FEATURE_SECURITY_SCANNER: expected boolean"),
        (GOOD + "AUTHENTICATION_TYPE: Kerberos\n", "AUTHENTICATION_TYPE: 'Kerberos' is not one of"),
        (GOOD + "PREFERRED_URL_SCHEME: [\n", "YAML syntax error at line"),
        ("- just\n- a list\n", "expected a mapping"),
        (GOOD.replace("{storage_path: /datastorage/registry}", "{}"), "LocalStorage needs storage_path"),
        (GOOD + "REGISTRY_APP_LOGIN_FAILURES_PER_ADDRESS: 0\n", "REGISTRY_APP_LOGIN_FAILURES_PER_ADDRESS: 0 is less"),
        (GOOD + "REGISTRY_APP_LOGIN_FAILURES_PER_ACCOUNT: many\n", "REGISTRY_APP_LOGIN_FAILURES_PER_ACCOUNT: expected"),
        (GOOD + "REGISTRY_APP_LOGIN_FAILURE_WINDOW: 100000\n", "REGISTRY_APP_LOGIN_FAILURE_WINDOW: 100000 is greater"),
        (GOOD + "REGISTRY_APP_ACCOUNT_CACHE_SECONDS: -1\n", "REGISTRY_APP_ACCOUNT_CACHE_SECONDS: -1 is less"),
        (GOOD + "FEATURE_PUBLIC_CATALOG: sometimes\n", "FEATURE_PUBLIC_CATALOG: expected boolean"),
    ],
)
def test_broken_config_names_key_and_problem(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_bundle(write(tmp_path, text))
    assert any(needle in p for p in err.value.problems), err.value.problems
    assert str(tmp_path / "config.yaml") in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_bundle(tmp_path)


def test_half_a_tls_pair_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    (tmp_path / "ssl.cert").write_text("x")
    with pytest.raises(ConfigError, match=r"ssl\.key: missing"):
        load_bundle(tmp_path)


def test_embedded_default(tmp_path: Path) -> None:
    cfg = embedded_default(tmp_path / "d", "127.0.0.1", 5000)
    assert cfg.is_sqlite and cfg["SERVER_HOSTNAME"] == "localhost:5000"
    assert cfg.storage_path == (tmp_path / "d" / "storage").resolve()
    assert (tmp_path / "d" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_ldap_settings_are_checked_when_the_bundle_loads(tmp_path: Path) -> None:
    text = GOOD + (
        "AUTHENTICATION_TYPE: LDAP\nLDAP_URI: ldap://ldap.example.test\nLDAP_USER_FILTER: (uid=\nLDAP_TIMEOUT: 5\n"
    )
    with pytest.raises(ConfigError) as err:
        load_bundle(write(tmp_path, text))
    problems = " | ".join(err.value.problems)
    assert "LDAP_ADMIN_DN: required" in problems and "LDAP_BASE_DN: required" in problems
    assert "LDAP_USER_FILTER:" in problems and "LDAP_TIMEOUT" not in problems


def test_storage_classes_and_parameters_are_checked_by_their_driver(tmp_path: Path) -> None:
    s3 = GOOD.replace(
        "  default: [LocalStorage, {storage_path: /datastorage/registry}]\n",
        "  default: [LocalStorage, {storage_path: /datastorage/registry, s3_bucket: quay}]\n"
        "  east: [S3Storage, {s3_bucket: quay, storage_path: /registry, port: https}]\n"
        "  cdn: [CloudFrontedS3Storage, {s3_bucket: quay, storage_path: /registry}]\n",
    )
    with pytest.raises(ConfigError) as err:
        load_bundle(write(tmp_path, s3))
    # A class with a driver is checked in every location, used or not.
    assert err.value.problems == [
        "DISTRIBUTED_STORAGE_CONFIG.default: LocalStorage has no parameter 's3_bucket' (known: storage_path)",
        "DISTRIBUTED_STORAGE_CONFIG.east: S3Storage parameter port must be an integer",
    ]
    # A location that is not used may name a class without a driver here: a warning.
    fixed = s3.replace(", s3_bucket: quay}]", "}]", 1).replace(", port: https}]", "}]")
    cfg = load_bundle(write(tmp_path, fixed))
    unused = "DISTRIBUTED_STORAGE_CONFIG.cdn: storage class CloudFrontedS3Storage is not available"
    assert any(w.startswith(unused) for w in cfg.warnings)
    assert cfg.storage_driver == ("LocalStorage", {"storage_path": "/datastorage/registry"})
    assert load_bundle(write(tmp_path, fixed.replace("[default]", "[east, default]"))).storage_driver == (
        "S3Storage",
        {"s3_bucket": "quay", "storage_path": "/registry"},
    )
    # The location that is used may not.
    with pytest.raises(ConfigError) as err:
        load_bundle(write(tmp_path, fixed.replace("[default]", "[cdn, default]")))
    assert err.value.problems == [
        "DISTRIBUTED_STORAGE_CONFIG.cdn: storage class 'CloudFrontedS3Storage' is not available "
        "(available: LocalStorage, RadosGWStorage, S3Storage)"
    ]
