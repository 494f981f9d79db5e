# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os
import tarfile

import pytest
import yaml

from ansible_collections.quay.registry.plugins.module_utils import config_bundle
from ansible_collections.quay.registry.plugins.module_utils.config_schema import SCHEMA

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *([".."] * 8)))
APP_SCHEMA = os.path.join(REPO, "registry_app", "src", "registry_app", "config_schema.json")

DB_PASSWORD = "db-Pa55word-not-in-output"
REDIS_PASSWORD = "redis-Pa55word-not-in-output"


def base_args(path, **extra):
    args = {
        "path": str(path),
        "server_hostname": "registry.example.com",
        "db_uri": "postgresql://quay:%s@db.example.com:5432/quay" % DB_PASSWORD,
        "redis_host": "redis.example.com",
        "redis_password": REDIS_PASSWORD,
        "storage_path": str(path / "storage"),
        "super_users": ["admin"],
    }
    args.update(extra)
    return args


def test_bundled_schema_equals_registry_app_schema():
    with open(APP_SCHEMA) as f:
        original = json.load(f)
    assert SCHEMA == original, "run scripts/sync-config-schema"


def test_check_mode_on_a_fresh_host_writes_nothing_and_redacts_the_diff(run_module, tmp_path):
    bundle = tmp_path / "config"
    run = run_module("quay_config_bundle", base_args(bundle), check_mode=True)
    assert run.returncode == 0, run.stdout
    assert run["changed"] is True
    assert not bundle.exists()
    assert run["files_changed"] == [str(bundle / "config.yaml")]
    after = [d for d in run["diff"] if d.get("after_header") == str(bundle / "config.yaml")][0]["after"]
    rendered = yaml.safe_load(after)
    assert rendered["SERVER_HOSTNAME"] == "registry.example.com"
    assert rendered["SECRET_KEY"] == "********"
    assert rendered["DB_URI"] == "postgresql://quay:********@db.example.com:5432/quay"
    assert rendered["BUILDLOGS_REDIS"]["password"] == "********"
    for secret in (DB_PASSWORD, REDIS_PASSWORD):
        assert secret not in run.stdout and secret not in run.stderr


def test_writes_bundle_generates_secrets_once_and_is_idempotent(run_module, tmp_path):
    bundle = tmp_path / "config"
    first = run_module("quay_config_bundle", base_args(bundle))
    assert first["changed"] is True
    assert sorted(first["secrets_generated"]) == ["DATABASE_SECRET_KEY", "SECRET_KEY"]
    config = yaml.safe_load((bundle / "config.yaml").read_text())
    assert config["DB_URI"].endswith(DB_PASSWORD + "@db.example.com:5432/quay")
    assert config["USER_EVENTS_REDIS"] == {"host": "redis.example.com", "port": 6379, "password": REDIS_PASSWORD}
    assert config["DISTRIBUTED_STORAGE_CONFIG"] == {"default": ["LocalStorage", {"storage_path": str(bundle / "storage")}]}
    assert oct((bundle / "config.yaml").stat().st_mode & 0o777) == "0o640"
    assert first["schema_source"] in ("registry_app", "quay.registry bundled copy")
    assert first["validator"] == "jsonschema"

    second = run_module("quay_config_bundle", base_args(bundle))
    assert second["changed"] is False and second["secrets_generated"] == []
    assert second["diff"] == []
    again = yaml.safe_load((bundle / "config.yaml").read_text())
    assert again["SECRET_KEY"] == config["SECRET_KEY"]
    assert again["DATABASE_SECRET_KEY"] == config["DATABASE_SECRET_KEY"]


def test_changed_option_keeps_secrets_and_diff_shows_only_redacted_values(run_module, tmp_path):
    bundle = tmp_path / "config"
    run_module("quay_config_bundle", base_args(bundle))
    secret = yaml.safe_load((bundle / "config.yaml").read_text())["SECRET_KEY"]
    run = run_module("quay_config_bundle", base_args(bundle, server_hostname="quay.example.org"))
    assert run["changed"] is True and run["secrets_generated"] == []
    diff = run["diff"][0]
    assert "registry.example.com" in diff["before"] and "quay.example.org" in diff["after"]
    assert secret not in json.dumps(run.result)
    assert yaml.safe_load((bundle / "config.yaml").read_text())["SECRET_KEY"] == secret


def test_mail_settings_and_the_mail_password_kept_secret(run_module, tmp_path):
    bundle = tmp_path / "config"
    secret = "smtp-Pa55word-not-in-output"
    mail = {"FEATURE_MAILING": True, "MAIL_SERVER": "smtp.example.com", "MAIL_PORT": 587, "MAIL_USE_TLS": True,
            "MAIL_USERNAME": "quay", "MAIL_DEFAULT_SENDER": "quay@example.com"}
    checked = run_module("quay_config_bundle", base_args(bundle, extra_config=mail, mail_password=secret),
                         check_mode=True)
    after = [d for d in checked["diff"] if d.get("after_header") == str(bundle / "config.yaml")][0]["after"]
    assert yaml.safe_load(after)["MAIL_PASSWORD"] == "********"
    run = run_module("quay_config_bundle", base_args(bundle, extra_config=mail, mail_password=secret))
    assert run["changed"] is True
    config = yaml.safe_load((bundle / "config.yaml").read_text())
    assert config["MAIL_PASSWORD"] == secret
    assert dict((k, config[k]) for k in mail) == mail
    for r in (checked, run):
        assert secret not in r.stdout and secret not in r.stderr
    again = run_module("quay_config_bundle", base_args(bundle, extra_config=mail, mail_password=secret))
    assert again["changed"] is False


def test_invalid_value_fails_naming_the_key(run_module, tmp_path):
    run = run_module("quay_config_bundle", base_args(tmp_path / "c", extra_config={"DEFAULT_TAG_EXPIRATION": "two weeks"}))
    assert run.get("failed") is True
    assert "DEFAULT_TAG_EXPIRATION" in run["msg"]
    assert not (tmp_path / "c").exists()


def test_unknown_key_is_reported_as_a_warning(run_module, tmp_path):
    run = run_module("quay_config_bundle", base_args(tmp_path / "c", extra_config={"NOT_A_QUAY_KEY": 1}))
    assert run["changed"] is True
    assert run["config_warnings"] == ["NOT_A_QUAY_KEY: not a key registry_app knows"]


def test_tls_files_ca_certs_and_reproducible_tarball(run_module, tmp_path):
    (tmp_path / "server.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (tmp_path / "server.key").write_text("-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n")
    bundle = tmp_path / "config"
    args = base_args(bundle, ssl_cert=str(tmp_path / "server.crt"), ssl_key=str(tmp_path / "server.key"),
                     extra_ca_certs=[str(tmp_path / "ca.crt")], tarball=True)
    run = run_module("quay_config_bundle", args)
    assert run["changed"] is True
    assert "SECRETKEYMATERIAL" not in run.stdout
    assert oct((bundle / "ssl.key").stat().st_mode & 0o777) == "0o600"
    assert (bundle / "extra_ca_certs" / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    with tarfile.open(fileobj=io.BytesIO((bundle / "quay-config.tar.gz").read_bytes())) as tar:
        assert sorted(tar.getnames()) == ["config.yaml", "extra_ca_certs/ca.crt", "ssl.cert", "ssl.key"]
    assert run_module("quay_config_bundle", args)["changed"] is False

    (tmp_path / "server.key").write_text("-----BEGIN PRIVATE KEY-----\nOTHERKEY\n-----END PRIVATE KEY-----\n")
    rotated = run_module("quay_config_bundle", args, check_mode=True)
    assert rotated["changed"] is True
    assert sorted(rotated["files_changed"]) == [str(bundle / "quay-config.tar.gz"), str(bundle / "ssl.key")]
    assert "OTHERKEY" not in rotated.stdout


def test_storage_path_and_config_are_mutually_exclusive(run_module, tmp_path):
    run = run_module("quay_config_bundle", base_args(tmp_path, storage_config={"s3": ["S3Storage", {}]}))
    assert run.get("failed") is True and "mutually exclusive" in run["msg"]


VALID = {
    "SERVER_HOSTNAME": "registry.example.com:8443",
    "DB_URI": "sqlite:////var/lib/quay/registry.db",
    "DISTRIBUTED_STORAGE_CONFIG": {"default": ["LocalStorage", {"storage_path": "/s"}]},
    "DISTRIBUTED_STORAGE_PREFERENCE": ["default"],
    "BUILDLOGS_REDIS": {"host": "r", "port": 6379},
    "SECRET_KEY": "0123456789abcdef0123",
}


@pytest.mark.parametrize("change, key", [
    ({}, None),
    ({"SERVER_HOSTNAME": "bad host"}, "SERVER_HOSTNAME"),
    ({"DB_URI": "mysql://x"}, "DB_URI"),
    ({"PREFERRED_URL_SCHEME": "ftp"}, "PREFERRED_URL_SCHEME"),
    ({"BUILDLOGS_REDIS": {"port": 6379}}, "host"),
    ({"BUILDLOGS_REDIS": {"host": "r", "port": 70000}}, "BUILDLOGS_REDIS.port"),
    ({"DISTRIBUTED_STORAGE_CONFIG": {"default": ["FloppyStorage", {}]}}, "DISTRIBUTED_STORAGE_CONFIG.default.0"),
    ({"DISTRIBUTED_STORAGE_PREFERENCE": ["elsewhere"]}, "DISTRIBUTED_STORAGE_PREFERENCE"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY"),
    ({"SUPER_USERS": "admin"}, "SUPER_USERS"),
    ({"FEATURE_USER_INITIALIZE": "yes"}, "FEATURE_USER_INITIALIZE"),
    ({"TAG_EXPIRATION_OPTIONS": ["1w", "2 weeks"]}, "TAG_EXPIRATION_OPTIONS.1"),
])
def test_builtin_validator_agrees_with_jsonschema(change, key):
    values = dict(VALID, **change)
    with_lib, dummy, used = config_bundle.validate(values, engine="jsonschema")
    builtin, dummy, used_builtin = config_bundle.validate(values, engine="builtin")
    assert (used, used_builtin) == ("jsonschema", "builtin")
    assert bool(with_lib) == bool(builtin) == (key is not None)
    if key is not None:
        assert [p.split(":")[0] for p in with_lib] == [p.split(":")[0] for p in builtin]
        assert any(p.startswith(key) for p in builtin), builtin


def test_redact():
    assert config_bundle.redact({"DB_URI": "postgresql://u:p@h/d", "LDAP_ADMIN_PASSWD": "x",
                                 "SECURITY_SCANNER_V4_PSK": "y", "S": {"password": "z", "host": "h"}}) == {
        "DB_URI": "postgresql://u:********@h/d", "LDAP_ADMIN_PASSWD": "********",
        "SECURITY_SCANNER_V4_PSK": "********", "S": {"password": "********", "host": "h"}}
