# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Helpers for the quay_config_bundle module: the schema, validation, redaction.

The schema is registry_app's own ``config_schema.json``. It is read from the installed
``registry_app`` package when the Python running the module can import it (the role runs the
module with the application's virtualenv interpreter once that exists), else from the copy in
``config_schema.py`` that ``scripts/sync-config-schema`` keeps equal to the original.

Validation uses ``jsonschema`` (Draft 2020-12) when it is importable, else a small validator for
the keywords that schema uses. Both report problems as ``KEY: what is wrong`` like registry_app.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from ansible_collections.quay.registry.plugins.module_utils.config_schema import SCHEMA

REDACTED = "********"
_SECRET_KEY_RE = re.compile(r"(SECRET|PASSWORD|PASSWD|PSK|TOKEN)", re.IGNORECASE)
_URI_PASSWORD_RE = re.compile(r"^([a-z0-9+.-]+://[^:/@]*:)([^@]*)(@)", re.IGNORECASE)


def load_schema():
    """Return (schema dict, source name)."""
    try:
        from importlib import resources

        text = resources.files("registry_app").joinpath("config_schema.json").read_text(encoding="utf-8")
        return json.loads(text), "registry_app"
    except Exception:
        return copy.deepcopy(SCHEMA), "quay.registry bundled copy"


def _describe_path(path):
    return ".".join(str(p) for p in path) or "(top level)"


def _validate_with_jsonschema(schema, values):
    import jsonschema  # noqa: F401 (ImportError handled by the caller)

    validator_cls = getattr(jsonschema, "Draft202012Validator", None)
    if validator_cls is None:
        raise ImportError("jsonschema without Draft 2020-12")
    problems = []
    for error in validator_cls(schema).iter_errors(values):
        path = _describe_path(error.absolute_path)
        if error.validator == "required":
            missing = re.findall(r"'([^']+)' is a required property", error.message)
            problems.append("%s: required key is missing" % (missing[0] if missing else path))
        else:
            problems.append("%s: %s" % (path, error.message))
    return problems


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _subset_validate(schema, root, value, path, problems):
    """The JSON Schema keywords config_schema.json uses, nothing more."""
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError("unsupported $ref %s" % ref)
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        _subset_validate(target, root, value, path, problems)
    where = _describe_path(path)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            problems.append("%s: %r is not of type %s" % (where, value, ", ".join(repr(t) for t in types)))
            return
    if "enum" in schema and value not in schema["enum"]:
        problems.append("%s: %r is not one of %s" % (where, value, ", ".join(repr(v) for v in schema["enum"])))
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            problems.append("%s: %r is too short" % (where, value))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append("%s: %r does not match %r" % (where, value, schema["pattern"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append("%s: %r is less than the minimum of %r" % (where, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            problems.append("%s: %r is greater than the maximum of %r" % (where, value, schema["maximum"]))
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append("%s: %r should be non-empty" % (where, value) if schema["minItems"] == 1
                            else "%s: %r is too short" % (where, value))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append("%s: %r is too long" % (where, value))
        prefix = schema.get("prefixItems", [])
        for index, item in enumerate(value):
            if index < len(prefix):
                _subset_validate(prefix[index], root, item, path + [index], problems)
            elif "items" in schema:
                _subset_validate(schema["items"], root, item, path + [index], problems)
    if isinstance(value, dict):
        if len(value) < schema.get("minProperties", 0):
            problems.append("%s: %r should be non-empty" % (where, value))
        for key in schema.get("required", []):
            if key not in value:
                problems.append("%s: required key is missing" % key)
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                _subset_validate(props[key], root, item, path + [key], problems)
            elif isinstance(schema.get("additionalProperties"), dict):
                _subset_validate(schema["additionalProperties"], root, item, path + [key], problems)
            elif schema.get("additionalProperties") is False:
                problems.append("%s: additional property %r is not allowed" % (where, key))


def validate(values, schema=None, engine="auto"):
    """Validate a config.yaml mapping.

    Returns (problems, warnings, engine used). ``engine`` is ``auto``, ``jsonschema`` or ``builtin``.
    """
    if schema is None:
        schema = load_schema()[0]
    if not isinstance(values, dict):
        return ["(top level): expected a mapping of keys, got %s" % type(values).__name__], [], engine
    problems = None
    used = engine
    if engine in ("auto", "jsonschema"):
        try:
            problems = _validate_with_jsonschema(schema, values)
            used = "jsonschema"
        except ImportError:
            if engine == "jsonschema":
                raise
    if problems is None:
        problems = []
        _subset_validate(schema, schema, values, [], problems)
        used = "builtin"
    # Cross-key rules registry_app checks as well (registry_app/config.py validate_values).
    pref = values.get("DISTRIBUTED_STORAGE_PREFERENCE") or []
    storage = values.get("DISTRIBUTED_STORAGE_CONFIG") or {}
    if isinstance(pref, list) and isinstance(storage, dict):
        for name in pref:
            if name not in storage:
                problems.append("DISTRIBUTED_STORAGE_PREFERENCE: %r is not defined in DISTRIBUTED_STORAGE_CONFIG" % name)
    warnings = ["%s: not a key registry_app knows" % k for k in sorted(values)
                if k not in schema.get("properties", {})]
    return sorted(problems, key=lambda s: s.split(":", 1)[0]), warnings, used


def redact(value, key=None):
    """A copy of a config mapping with secrets replaced by ********."""
    if isinstance(value, dict):
        return dict((k, redact(v, k)) for k, v in value.items())
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        if key is not None and _SECRET_KEY_RE.search(str(key)):
            return REDACTED
        return _URI_PASSWORD_RE.sub(lambda m: m.group(1) + REDACTED + m.group(3), value)
    return value
