#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: quay_config_bundle
short_description: Write a Quay-compatible config bundle for registry_app
version_added: "0.1.0"
description:
  - Renders C(config.yaml) from options, generates C(SECRET_KEY) and C(DATABASE_SECRET_KEY)
    once and reads them back from the existing C(config.yaml) on later runs, validates the
    result with registry_app's own JSON Schema, and writes C(config.yaml), C(ssl.cert),
    C(ssl.key) and C(extra_ca_certs/) into O(path). Optionally packs them as
    C(quay-config.tar.gz), the archive Quay's config tool produces.
  - Files are written atomically and only when their content differs.
  - The schema is read from the C(registry_app) package when the Python that runs the module
    can import it (run the module with the application's virtualenv interpreter), else from
    the copy shipped with this collection, which a unit test keeps equal to the original.
  - Validation uses C(jsonschema) when it supports Draft 2020-12, else a built-in validator for
    the keywords the schema uses.
author:
  - quay.registry contributors (@quay-registry)
requirements:
  - PyYAML on the managed host
extends_documentation_fragment:
  - quay.registry.attributes
attributes:
  diff_mode:
    details: Secrets (keys, passwords, the password in O(db_uri)) are replaced by C(********).
options:
  path:
    description: Directory of the bundle. Created when missing.
    type: path
    required: true
  server_hostname:
    description: C(SERVER_HOSTNAME), the host (and optional C(:port)) clients use.
    type: str
    required: true
  preferred_url_scheme:
    description: C(PREFERRED_URL_SCHEME).
    type: str
    choices: [http, https]
    default: https
  db_uri:
    description: C(DB_URI), for example C(postgresql://quay:PASSWORD@db.example.com:5432/quay).
    type: str
    required: true
  redis_host:
    description: Redis host for C(BUILDLOGS_REDIS) and C(USER_EVENTS_REDIS). Omitted when not set.
    type: str
  redis_port:
    description: Redis port.
    type: int
    default: 6379
  redis_password:
    description: Redis password.
    type: str
  storage_path:
    description:
      - Directory for C(LocalStorage) blob storage (location C(default)).
      - Used when O(storage_config) is not given; defaults to C(/var/lib/quay/storage).
    type: path
  storage_config:
    description:
      - C(DISTRIBUTED_STORAGE_CONFIG) as a mapping of location name to C([driver, parameters]).
      - C(DISTRIBUTED_STORAGE_PREFERENCE) then lists its locations in sorted order.
    type: dict
  super_users:
    description: C(SUPER_USERS).
    type: list
    elements: str
    default: []
  feature_user_initialize:
    description: C(FEATURE_USER_INITIALIZE), lets the first user be created through C(/api/v1/user/initialize).
    type: bool
    default: false
  secret_key:
    description: C(SECRET_KEY). Generated once (and then kept) when not given.
    type: str
  database_secret_key:
    description: C(DATABASE_SECRET_KEY). Generated once (and then kept) when not given.
    type: str
  mail_password:
    description:
      - C(MAIL_PASSWORD), the SMTP password for e-mail (C(FEATURE_MAILING)); not set when empty.
      - An option of its own (not O(extra_config)) so that it is never logged and is redacted in diffs.
    type: str
  extra_config:
    description: Further C(config.yaml) keys; they override the keys the options above produce.
    type: dict
    default: {}
  ssl_cert:
    description: Path on the managed host of the server certificate (PEM, chain after it) copied to C(ssl.cert).
    type: path
  ssl_key:
    description: Path on the managed host of the private key copied to C(ssl.key).
    type: path
  ssl_key_mode:
    description:
      - Mode of C(ssl.key). Use C(0640) with O(group) when the service runs as a member of that group.
    type: str
    default: "0600"
  extra_ca_certs:
    description: Paths on the managed host of CA certificates copied into C(extra_ca_certs/).
    type: list
    elements: path
    default: []
  tarball:
    description: Also write C(quay-config.tar.gz) (reproducible, so it changes only with its content).
    type: bool
    default: false
  validate:
    description: Validate C(config.yaml) with the schema and fail on problems.
    type: bool
    default: true
  validator:
    description: Which validator to use; V(auto) prefers C(jsonschema).
    type: str
    choices: [auto, jsonschema, builtin]
    default: auto
  owner:
    description: Owner of the directory and files.
    type: str
  group:
    description: Group of the directory and files.
    type: str
"""

EXAMPLES = r"""
- name: Write the registry config bundle
  quay.registry.quay_config_bundle:
    path: /etc/quay/config
    server_hostname: registry.example.com
    db_uri: "postgresql://quay:{{ quay_db_password }}@db.example.com:5432/quay"
    redis_host: redis.example.com
    redis_password: "{{ quay_redis_password }}"
    storage_path: /var/lib/quay/storage
    super_users: [admin]
    ssl_cert: /etc/quay/tls/server.crt
    ssl_key: /etc/quay/tls/server.key
    extra_ca_certs: [/etc/quay/tls/ca.crt]
    owner: quay
    group: quay
    tarball: true

- name: Use S3-compatible storage and extra keys
  quay.registry.quay_config_bundle:
    path: /etc/quay/config
    server_hostname: registry.example.com
    db_uri: "postgresql://quay:{{ quay_db_password }}@db:5432/quay"
    storage_config:
      s3:
        - S3Storage
        - s3_bucket: quay
          s3_access_key: "{{ s3_access_key }}"
          s3_secret_key: "{{ s3_secret_key }}"
          host: minio.example.com
          storage_path: /registry
    extra_config:
      DEFAULT_TAG_EXPIRATION: 4w
"""

RETURN = r"""
config:
  description: The rendered C(config.yaml) with secrets replaced by C(********).
  returned: always
  type: dict
files_changed:
  description: Files of the bundle that were (or in check mode would be) written.
  returned: always
  type: list
  elements: str
  sample: [/etc/quay/config/config.yaml]
secrets_generated:
  description: Names of the secrets generated by this run (first run only).
  returned: always
  type: list
  elements: str
  sample: [DATABASE_SECRET_KEY, SECRET_KEY]
schema_source:
  description: Where the schema came from, C(registry_app) or C(quay.registry bundled copy).
  returned: always
  type: str
validator:
  description: Which validator ran, C(jsonschema) or C(builtin); C(none) when O(validate=false).
  returned: always
  type: str
config_warnings:
  description: Keys in C(config.yaml) that registry_app does not know.
  returned: always
  type: list
  elements: str
"""

import gzip
import hashlib
import io
import os
import secrets
import tarfile
import tempfile
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.quay.registry.plugins.module_utils.config_bundle import (
    load_schema,
    redact,
    validate,
)

YAML_IMPORT_ERROR = None
try:
    import yaml
except ImportError:  # pragma: no cover - depends on the host
    yaml = None
    YAML_IMPORT_ERROR = traceback.format_exc()

SECRET_NAMES = ("DATABASE_SECRET_KEY", "SECRET_KEY")
CONFIG_HEADER = "# Managed by Ansible (quay.registry.quay_config_bundle). Local changes are overwritten.\n"


def dump_yaml(data):
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=True, allow_unicode=True)


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except (IOError, OSError):
        return None


def build_config(params, existing):
    """The desired config.yaml mapping and the names of secrets generated for it."""
    config = {
        "SERVER_HOSTNAME": params["server_hostname"],
        "PREFERRED_URL_SCHEME": params["preferred_url_scheme"],
        "DB_URI": params["db_uri"],
        "AUTHENTICATION_TYPE": "Database",
        "SUPER_USERS": list(params["super_users"]),
        "FEATURE_USER_INITIALIZE": params["feature_user_initialize"],
        "SETUP_COMPLETE": True,
    }
    if params["storage_config"]:
        config["DISTRIBUTED_STORAGE_CONFIG"] = params["storage_config"]
        config["DISTRIBUTED_STORAGE_PREFERENCE"] = sorted(params["storage_config"])
    else:
        config["DISTRIBUTED_STORAGE_CONFIG"] = {
            "default": ["LocalStorage", {"storage_path": params["storage_path"] or "/var/lib/quay/storage"}]
        }
        config["DISTRIBUTED_STORAGE_PREFERENCE"] = ["default"]
    config["DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS"] = list(config["DISTRIBUTED_STORAGE_PREFERENCE"])
    if params["redis_host"]:
        redis = {"host": params["redis_host"], "port": params["redis_port"]}
        if params["redis_password"]:
            redis["password"] = params["redis_password"]
        config["BUILDLOGS_REDIS"] = dict(redis)
        config["USER_EVENTS_REDIS"] = dict(redis)
    generated = []
    for name in SECRET_NAMES:
        given = params[name.lower()]
        if given:
            config[name] = given
        elif isinstance(existing, dict) and isinstance(existing.get(name), str) and len(existing[name]) >= 16:
            config[name] = existing[name]
        else:
            config[name] = secrets.token_hex(32)
            generated.append(name)
    config.update(params["extra_config"] or {})
    if params.get("mail_password"):
        config["MAIL_PASSWORD"] = params["mail_password"]
    return config, generated


def make_tarball(members):
    """A reproducible .tar.gz of (name, bytes, mode) members."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


class Bundle:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.path = self.params["path"]
        self.files_changed = []
        self.diffs = []
        self.changed = False

    def fs_args(self, path, mode):
        return {
            "path": path, "mode": mode, "owner": self.params["owner"], "group": self.params["group"],
            "seuser": None, "serole": None, "setype": None, "selevel": None, "attributes": None,
            "secontext": [None, None, None, None],
        }

    def ensure_dir(self, path):
        if not os.path.isdir(path):
            self.changed = True
            self.diffs.append({"before": {"path": path, "state": "absent"},
                               "after": {"path": path, "state": "directory"}})
            if self.module.check_mode:
                return
            os.makedirs(path, 0o750)
        if not self.module.check_mode:
            self.changed = self.module.set_fs_attributes_if_different(self.fs_args(path, "0750"), self.changed)

    def ensure_file(self, path, content, mode, diff_before=None, diff_after=None):
        current = read_bytes(path)
        if current != content:
            self.changed = True
            self.files_changed.append(path)
            self.diffs.append({
                "before_header": path, "after_header": path,
                "before": diff_before if diff_before is not None else describe(current),
                "after": diff_after if diff_after is not None else describe(content),
            })
            if not self.module.check_mode:
                directory = os.path.dirname(path)
                fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
                try:
                    os.fchmod(fd, int(mode, 8))
                    with os.fdopen(fd, "wb") as f:
                        f.write(content)
                    self.module.atomic_move(tmp, path)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
        if not self.module.check_mode and os.path.exists(path):
            self.changed = self.module.set_fs_attributes_if_different(self.fs_args(path, mode), self.changed)


def describe(content):
    if content is None:
        return "(absent)\n"
    return "(%d bytes, sha256 %s)\n" % (len(content), hashlib.sha256(content).hexdigest())


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            server_hostname=dict(type="str", required=True),
            preferred_url_scheme=dict(type="str", choices=["http", "https"], default="https"),
            db_uri=dict(type="str", required=True, no_log=True),
            redis_host=dict(type="str"),
            redis_port=dict(type="int", default=6379),
            redis_password=dict(type="str", no_log=True),
            storage_path=dict(type="path"),
            storage_config=dict(type="dict"),
            super_users=dict(type="list", elements="str", default=[]),
            feature_user_initialize=dict(type="bool", default=False),
            secret_key=dict(type="str", no_log=True),
            database_secret_key=dict(type="str", no_log=True),
            mail_password=dict(type="str", no_log=True),
            extra_config=dict(type="dict", default={}),
            ssl_cert=dict(type="path"),
            ssl_key=dict(type="path", no_log=False),
            ssl_key_mode=dict(type="str", default="0600", no_log=False),
            extra_ca_certs=dict(type="list", elements="path", default=[]),
            tarball=dict(type="bool", default=False),
            validate=dict(type="bool", default=True),
            validator=dict(type="str", choices=["auto", "jsonschema", "builtin"], default="auto"),
            owner=dict(type="str"),
            group=dict(type="str"),
        ),
        mutually_exclusive=[("storage_path", "storage_config")],
        required_together=[("ssl_cert", "ssl_key")],
        supports_check_mode=True,
    )
    if yaml is None:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR)

    params = module.params
    config_path = os.path.join(params["path"], "config.yaml")
    current_text = read_bytes(config_path)
    existing = None
    if current_text is not None:
        try:
            existing = yaml.safe_load(current_text)
        except yaml.YAMLError as exc:
            module.warn("existing %s is not valid YAML (%s); secrets are generated anew" % (config_path, exc))

    config, generated = build_config(params, existing)
    schema, schema_source = load_schema()
    problems, config_warnings, used = validate(config, schema, params["validator"]) if params["validate"] \
        else ([], [], "none")
    if problems:
        module.fail_json(msg="config.yaml would be invalid: " + "; ".join(problems), problems=problems,
                         config=redact(config), schema_source=schema_source)
    for warning in config_warnings:
        module.warn(warning)

    # Secrets come from files on the host; read them before any change.
    members = []
    cert = key = None
    if params["ssl_cert"]:
        cert = read_bytes(params["ssl_cert"])
        key = read_bytes(params["ssl_key"])
        missing = [p for p, c in ((params["ssl_cert"], cert), (params["ssl_key"], key)) if c is None]
        if missing and not module.check_mode:
            module.fail_json(msg="cannot read %s" % ", ".join(missing))
    cas = []
    for ca in params["extra_ca_certs"]:
        data = read_bytes(ca)
        if data is None and not module.check_mode:
            module.fail_json(msg="cannot read extra CA certificate %s" % ca)
        cas.append((os.path.basename(ca), data or b""))

    bundle = Bundle(module)
    bundle.ensure_dir(params["path"])
    config_bytes = to_bytes(CONFIG_HEADER + dump_yaml(config))
    if isinstance(existing, dict):
        before_redacted = CONFIG_HEADER + dump_yaml(redact(existing))
    else:
        before_redacted = describe(current_text) if current_text is not None else ""
    bundle.ensure_file(config_path, config_bytes, "0640",
                       diff_before=before_redacted, diff_after=CONFIG_HEADER + dump_yaml(redact(config)))
    members.append(("config.yaml", config_bytes, 0o640))
    if cert is not None or (params["ssl_cert"] and module.check_mode):
        bundle.ensure_file(os.path.join(params["path"], "ssl.cert"), cert or b"", "0644")
        bundle.ensure_file(os.path.join(params["path"], "ssl.key"), key or b"", params["ssl_key_mode"],
                           diff_before="(private key)\n", diff_after="(private key, changed)\n")
        members.append(("ssl.cert", cert or b"", 0o644))
        members.append(("ssl.key", key or b"", int(params["ssl_key_mode"], 8)))
    if cas:
        ca_dir = os.path.join(params["path"], "extra_ca_certs")
        bundle.ensure_dir(ca_dir)
        for name, data in cas:
            bundle.ensure_file(os.path.join(ca_dir, name), data, "0644")
            members.append(("extra_ca_certs/" + name, data, 0o644))
    if params["tarball"]:
        bundle.ensure_file(os.path.join(params["path"], "quay-config.tar.gz"), make_tarball(members), "0600")

    result = dict(
        changed=bundle.changed,
        path=params["path"],
        config=redact(config),
        files_changed=bundle.files_changed,
        secrets_generated=generated if bundle.changed else [],
        schema_source=schema_source,
        validator=used,
        config_warnings=config_warnings,
    )
    if module._diff:
        result["diff"] = bundle.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
