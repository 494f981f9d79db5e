# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The pure parts of plugins/module_utils/quay_api.py: idempotence logic and error messages."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.quay.registry.plugins.module_utils.quay_api import (
    error_message,
    path,
    permission_changes,
    permission_list,
    set_changes,
)


def test_set_changes_append_only_adds():
    assert set_changes(["a", "b"], ["b", "c"], append=True) == (["c"], [])


def test_set_changes_exact_adds_and_removes():
    assert set_changes(["a", "b", "z"], ["c", "b"], append=False) == (["c"], ["a", "z"])


def test_set_changes_nothing_to_do():
    assert set_changes(["a", "b"], ["b", "a"], append=False) == ([], [])
    assert set_changes([], [], append=False) == ([], [])


def test_permission_changes_sets_missing_and_different_roles():
    current = {("user", "alice"): "read", ("team", "devs"): "write"}
    wanted = {("user", "alice"): "admin", ("team", "devs"): "write", ("user", "org+bot"): "read"}
    assert permission_changes(current, wanted, append=True) == (
        [("user", "alice", "admin"), ("user", "org+bot", "read")],
        [],
    )


def test_permission_changes_exact_removes_others_but_keeps_the_namespace_owner():
    current = {("user", "bob"): "admin", ("user", "carol"): "read", ("team", "old"): "read", ("user", "org+bot"): "read"}
    wanted = {("user", "org+bot"): "read"}
    to_set, to_remove = permission_changes(current, wanted, append=False, keep=("bob",))
    assert to_set == []
    assert to_remove == [("team", "old"), ("user", "carol")]


def test_permission_changes_same_name_user_and_team_are_different_entries():
    current = {("team", "ops"): "read"}
    wanted = {("user", "ops"): "read"}
    assert permission_changes(current, wanted, append=False) == ([("user", "ops", "read")], [("team", "ops")])


def test_permission_list_names_robots_and_teams():
    perms = {("user", "alice"): "read", ("user", "org+bot"): "write", ("team", "devs"): "admin"}
    assert permission_list(perms) == [
        {"name": "devs", "type": "team", "role": "admin"},
        {"name": "alice", "type": "user", "role": "read"},
        {"name": "org+bot", "type": "robot", "role": "write"},
    ]


def test_error_message_reads_quay_error_json():
    body = json.dumps({"status": 400, "error_message": "Repository already exists", "title": "invalid_request",
                       "error_type": "invalid_request", "detail": "Repository already exists"}).encode()
    assert error_message(400, body) == "HTTP 400 (invalid_request): Repository already exists"


def test_error_message_without_json_shows_the_text():
    assert error_message(502, b"<html>Bad Gateway</html>") == "HTTP 502: <html>Bad Gateway</html>"
    assert error_message(500, b"") == "HTTP 500: no details in the answer"


def test_error_message_v2_errors():
    body = json.dumps({"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]})
    assert error_message(403, body) == "HTTP 403: requested access to the resource is denied"


def test_path_quotes_each_part():
    assert path("organization", "acme", "robots", "acme+bot") == "/organization/acme/robots/acme%2Bbot"
    assert path("repository", "a", "b/c") == "/repository/a/b%2Fc"
