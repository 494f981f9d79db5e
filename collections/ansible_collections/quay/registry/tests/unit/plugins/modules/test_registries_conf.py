# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import tomllib

import pytest

from ansible_collections.quay.registry.plugins.module_utils import registries_toml

# The shape of the file Debian's containers-common ships (comments only, then a search list).
DEBIAN_DEFAULT = """# For more information on this configuration file, see containers-registries.conf(5).
#
# NOTE: RISK OF USING UNQUALIFIED IMAGE NAMES
# We recommend always using fully qualified image names including the registry
#
# unqualified-search-registries = ["example.com"]
unqualified-search-registries = ["docker.io"]  # the default

[[registry]]
# the mirror is used first
prefix = "docker.io"
location = "docker.io"
mirror-by-digest-only = false

[[registry.mirror]]
location = "mirror.example.com:5000"
insecure = true

[aliases]
"fedora" = 'registry.fedoraproject.org/fedora'
"""


def test_creates_file_and_second_run_changes_nothing(run_module, tmp_path):
    conf = tmp_path / "containers" / "registries.conf"
    args = {"path": str(conf), "location": "registry.example.com:8443", "unqualified_search": True}
    first = run_module("registries_conf", args)
    assert first["changed"] is True and first["rewritten"] is True
    data = tomllib.loads(conf.read_text())
    assert data == {
        "unqualified-search-registries": ["registry.example.com:8443"],
        "registry": [{"location": "registry.example.com:8443", "insecure": False, "blocked": False}],
    }
    assert oct(conf.stat().st_mode & 0o777) == "0o644"
    second = run_module("registries_conf", args)
    assert second["changed"] is False
    assert "diff" not in second.result


def test_check_mode_reports_diff_and_writes_nothing(run_module, tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text(DEBIAN_DEFAULT)
    run = run_module("registries_conf", {"path": str(conf), "location": "quay.local"}, check_mode=True)
    assert run["changed"] is True
    assert run["diff"]["before"] == DEBIAN_DEFAULT
    assert '[[registry]]\nlocation = "quay.local"' in run["diff"]["after"]
    assert conf.read_text() == DEBIAN_DEFAULT


def test_new_entry_is_appended_keeping_comments_and_other_entries(run_module, tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text(DEBIAN_DEFAULT)
    run = run_module("registries_conf", {"path": str(conf), "location": "quay.local"})
    assert run["changed"] is True and run["rewritten"] is False
    text = conf.read_text()
    assert text.startswith(DEBIAN_DEFAULT)
    data = tomllib.loads(text)
    assert data["registry"][0]["mirror"] == [{"location": "mirror.example.com:5000", "insecure": True}]
    assert data["registry"][1] == {"location": "quay.local", "insecure": False, "blocked": False}
    assert data["aliases"] == {"fedora": "registry.fedoraproject.org/fedora"}
    assert run_module("registries_conf", {"path": str(conf), "location": "quay.local"})["changed"] is False


def test_update_and_search_list_rewrite_keeps_other_entries(run_module, tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text(DEBIAN_DEFAULT)
    args = {"path": str(conf), "location": "quay.local", "insecure": True, "unqualified_search": True,
            "mirrors": [{"location": "backup.local"}], "backup": True}
    run = run_module("registries_conf", args)
    assert run["changed"] is True and run["rewritten"] is True
    assert run["backup_file"]
    data = tomllib.loads(conf.read_text())
    assert data["unqualified-search-registries"] == ["docker.io", "quay.local"]
    assert [r["location"] for r in data["registry"]] == ["docker.io", "quay.local"]
    assert data["registry"][0]["mirror-by-digest-only"] is False
    assert data["registry"][1]["mirror"] == [{"location": "backup.local", "insecure": False}]
    assert data["aliases"] == {"fedora": "registry.fedoraproject.org/fedora"}
    assert run_module("registries_conf", args)["changed"] is False


def test_absent_removes_only_that_entry(run_module, tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text(DEBIAN_DEFAULT)
    run_module("registries_conf", {"path": str(conf), "location": "quay.local", "unqualified_search": True})
    run = run_module("registries_conf", {"path": str(conf), "location": "quay.local", "state": "absent",
                                         "unqualified_search": False})
    assert run["changed"] is True
    data = tomllib.loads(conf.read_text())
    assert [r["location"] for r in data["registry"]] == ["docker.io"]
    assert data["unqualified-search-registries"] == ["docker.io"]


def test_version_1_file_is_refused(run_module, tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text('[registries.search]\nregistries = ["docker.io"]\n')
    run = run_module("registries_conf", {"path": str(conf), "location": "quay.local"})
    assert run.get("failed") is True
    assert "version 1" in run["msg"]


def test_invalid_toml_fails_with_the_path(run_module, tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text("[[registry]\nlocation = \n")
    run = run_module("registries_conf", {"path": str(conf), "location": "quay.local"})
    assert run.get("failed") is True and str(conf) in run["msg"]


@pytest.mark.parametrize("text", [
    DEBIAN_DEFAULT,
    'a = "x\\ty\\u00e9\\"q"\nb = [1, -2,\n  3, # c\n]\n[t.u]\nv = {w = true, "x y" = \'z\'}\n',
    "",
])
def test_builtin_parser_agrees_with_tomllib(text):
    assert registries_toml.loads(text, use_library=False) == tomllib.loads(text)


def test_writer_round_trips_through_tomllib_and_tomli_w():
    data = {
        "unqualified-search-registries": ["a", "b\"c"],
        "short-name-mode": "enforcing",
        "registry": [{"location": "x", "insecure": False, "mirror": [{"location": "m", "insecure": True}]},
                     {"prefix": "p", "location": "y", "blocked": True}],
        "aliases": {"fedora": "registry.fedoraproject.org/fedora", "a b": "c"},
    }
    text = registries_toml.dumps(data, header=["h"])
    assert text.startswith("# h\n\n")
    assert tomllib.loads(text) == data
    assert registries_toml.loads(text, use_library=False) == data
    tomli_w = pytest.importorskip("tomli_w")
    assert tomllib.loads(tomli_w.dumps(data)) == tomllib.loads(text)
