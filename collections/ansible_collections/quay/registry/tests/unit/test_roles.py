# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Every role keeps its documented interface: defaults == argument_specs, README sections,
platform vars loaded by set_vars.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

ROLES_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "roles"))
ROLES = sorted(os.listdir(ROLES_DIR))
PLATFORM_ROLES = [r for r in ROLES if os.path.exists(os.path.join(ROLES_DIR, r, "tasks", "set_vars.yml"))]


def load(role, *path):
    with open(os.path.join(ROLES_DIR, role, *path)) as f:
        return yaml.safe_load(f) or {}


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_agree(role):
    defaults = load(role, "defaults", "main.yml")
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    required = set(k for k, v in options.items() if v.get("required"))
    assert set(defaults) == set(options) - required
    for name, spec in options.items():
        assert name.startswith("quay_%s_" % role), name
        assert spec.get("description"), name
        assert spec.get("type"), name
        if "password" in name:
            assert spec.get("no_log") is True, name


@pytest.mark.parametrize("role", ROLES)
def test_readme_sections(role):
    with open(os.path.join(ROLES_DIR, role, "README.md")) as f:
        text = f.read()
    for section in ("## Requirements", "## Role Variables", "## Dependencies", "## Example Playbook"):
        assert section in text, "%s: %s" % (role, section)
    for name in load(role, "defaults", "main.yml"):
        assert "`%s`" % name in text, "%s: %s is not documented in README.md" % (role, name)


@pytest.mark.parametrize("role", PLATFORM_ROLES)
def test_platform_vars(role):
    for platform in ("Debian", "RedHat", "Altlinux"):
        assert os.path.exists(os.path.join(ROLES_DIR, role, "vars", platform + ".yml")), "%s: vars/%s.yml" % (role, platform)
    for name in os.listdir(os.path.join(ROLES_DIR, role, "vars")):
        for key in load(role, "vars", name):
            assert key.startswith("__quay_"), "%s: vars/%s: %s" % (role, name, key)
    # Every platform file defines the same variables as the os_family one it refines.
    debian = set(load(role, "vars", "Debian.yml"))
    for family in ("RedHat", "Altlinux"):
        assert set(load(role, "vars", family + ".yml")) == debian, "%s: vars/%s.yml" % (role, family)
