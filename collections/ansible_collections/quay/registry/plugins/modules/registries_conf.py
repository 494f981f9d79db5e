#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: registries_conf
short_description: Manage one registry entry in containers-registries.conf (version 2)
version_added: "0.1.0"
description:
  - Adds, updates or removes one C([[registry]]) entry of a containers-registries.conf(5)
    version 2 file, and optionally its place in C(unqualified-search-registries).
    Every other entry and key is kept.
  - The file is read as TOML with C(tomllib) (Python 3.11+) or C(tomli), else with a built-in
    parser for the registries.conf subset; it is written with a built-in TOML writer
    (C(tomli_w) is not needed).
  - When the only change is a new entry, the entry is appended to the file and its comments are
    kept; any other change rewrites the file from its parsed content, without comments (use
    O(backup) to keep the original).
  - An entry is identified by its C(prefix), which defaults to its C(location).
author:
  - quay.registry contributors (@quay-registry)
extends_documentation_fragment:
  - quay.registry.attributes
options:
  path:
    description: The registries.conf file. Created (with its directory) when missing.
    type: path
    default: /etc/containers/registries.conf
  location:
    description: C(location) of the registry, C(host[:port][/namespace]).
    type: str
    required: true
  prefix:
    description: C(prefix) the entry applies to; the entry's identity. Defaults to O(location).
    type: str
  insecure:
    description: Allow plain HTTP and unverified TLS for this registry.
    type: bool
    default: false
  blocked:
    description: Forbid pulls from this registry.
    type: bool
    default: false
  mirrors:
    description:
      - C([[registry.mirror]]) entries, in order. Left as they are when not given.
    type: list
    elements: dict
    suboptions:
      location:
        description: Mirror location.
        type: str
        required: true
      insecure:
        description: Allow plain HTTP and unverified TLS for this mirror.
        type: bool
        default: false
  unqualified_search:
    description:
      - V(true) adds O(location) to C(unqualified-search-registries) (at the end), V(false) removes it.
        Not given leaves the list alone.
    type: bool
  state:
    description: Whether the entry should exist.
    type: str
    choices: [present, absent]
    default: present
  backup:
    description: Keep a timestamped copy of the file before changing it.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Trust the private registry (TLS verified with the CA in certs.d)
  quay.registry.registries_conf:
    location: registry.example.com
    unqualified_search: true

- name: A mirror for docker.io
  quay.registry.registries_conf:
    location: docker.io
    mirrors:
      - location: registry.example.com/dockerhub

- name: Remove the entry
  quay.registry.registries_conf:
    location: registry.example.com
    state: absent
    unqualified_search: false
"""

RETURN = r"""
entry:
  description: The entry as written (absent when O(state=absent)).
  returned: always
  type: dict
  sample: {"location": "registry.example.com", "insecure": false, "blocked": false}
rewritten:
  description: Whether the whole file was rewritten (comments dropped) rather than appended to.
  returned: changed
  type: bool
toml_reader:
  description: Which TOML reader parsed the file (C(tomllib), C(tomli) or C(builtin)).
  returned: always
  type: str
backup_file:
  description: Path of the backup, when one was made.
  returned: changed and O(backup=true)
  type: str
"""

import copy
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.quay.registry.plugins.module_utils import registries_toml

HEADER = [
    "containers-registries.conf(5), version 2.",
    "Entries managed by Ansible (quay.registry.registries_conf); other entries are kept.",
]


def entry_id(entry):
    return entry.get("prefix") or entry.get("location")


def desired_state(data, params):
    """Return a new data mapping with the entry applied."""
    data = copy.deepcopy(data)
    ident = params["prefix"] or params["location"]
    registries = data.get("registry", [])
    if not isinstance(registries, list):
        raise ValueError("'registry' in the file is not an array of tables")
    kept = [r for r in registries if entry_id(r) != ident]
    entry = None
    if params["state"] == "present":
        matches = [r for r in registries if entry_id(r) == ident]
        entry = dict(matches[0]) if matches else {}
        entry["location"] = params["location"]
        if params["prefix"]:
            entry["prefix"] = params["prefix"]
        entry["insecure"] = params["insecure"]
        entry["blocked"] = params["blocked"]
        if params["mirrors"] is not None:
            if params["mirrors"]:
                entry["mirror"] = [{"location": m["location"], "insecure": m["insecure"]} for m in params["mirrors"]]
            else:
                entry.pop("mirror", None)
        if matches:
            index = registries.index(matches[0])
            new_list = [r for r in registries[:index] if entry_id(r) != ident] + [entry] + \
                [r for r in registries[index + 1:] if entry_id(r) != ident]
        else:
            new_list = kept + [entry]
    else:
        new_list = kept
    if new_list:
        data["registry"] = new_list
    else:
        data.pop("registry", None)
    search = params["unqualified_search"]
    if search is not None:
        current = list(data.get("unqualified-search-registries", []))
        if search and params["location"] not in current:
            current.append(params["location"])
        if not search:
            current = [r for r in current if r != params["location"]]
        if current or "unqualified-search-registries" in data:
            data["unqualified-search-registries"] = current
    return data, entry


def order_top_level(data):
    """Top-level keys first (TOML needs them before tables), then tables, as found."""
    simple = [(k, v) for k, v in data.items() if not isinstance(v, (dict, list)) or
              (isinstance(v, list) and not all(isinstance(x, dict) for x in v)) or v == []]
    tables = [(k, v) for k, v in data.items() if (k, v) not in simple]
    out = {}
    for k, v in simple + tables:
        out[k] = v
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/containers/registries.conf"),
            location=dict(type="str", required=True),
            prefix=dict(type="str"),
            insecure=dict(type="bool", default=False),
            blocked=dict(type="bool", default=False),
            mirrors=dict(type="list", elements="dict", options=dict(
                location=dict(type="str", required=True),
                insecure=dict(type="bool", default=False),
            )),
            unqualified_search=dict(type="bool"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"]
    text = ""
    exists = os.path.exists(path)
    if exists:
        with open(path, "rb") as f:
            text = to_native(f.read(), errors="surrogate_or_strict")
    try:
        current = registries_toml.loads(text)
    except registries_toml.TomlError as exc:
        module.fail_json(msg="%s is not valid TOML: %s" % (path, to_native(exc)))
    if "registries" in current:
        module.fail_json(msg="%s uses the version 1 format ([registries.*] tables); convert it to version 2 first" % path)
    try:
        desired, entry = desired_state(current, params)
    except ValueError as exc:
        module.fail_json(msg="%s: %s" % (path, to_native(exc)))

    result = dict(changed=False, entry=entry or {}, toml_reader=registries_toml.reader_name(), path=path)
    if desired == current:
        module.exit_json(**result)

    # Appending keeps comments; use it when it yields exactly the desired data.
    new_text = None
    if exists and entry is not None and list(desired) == list(current) + (["registry"] if "registry" not in current else []):
        block = registries_toml.dumps({"registry": [entry]})
        candidate = text + ("" if text.endswith("\n") or not text else "\n") + "\n" + block
        try:
            if registries_toml.loads(candidate) == desired:
                new_text = candidate
        except registries_toml.TomlError:
            new_text = None
    rewritten = new_text is None
    if rewritten:
        new_text = registries_toml.dumps(order_top_level(desired), header=HEADER)

    result.update(changed=True, rewritten=rewritten)
    if module._diff:
        result["diff"] = dict(before_header=path, after_header=path, before=text, after=new_text)
    if not module.check_mode:
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        if exists and params["backup"]:
            result["backup_file"] = module.backup_local(path)
        tmp = path + ".quay-tmp"
        with open(tmp, "wb") as f:
            f.write(to_bytes(new_text))
        if exists:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        module.atomic_move(tmp, path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
