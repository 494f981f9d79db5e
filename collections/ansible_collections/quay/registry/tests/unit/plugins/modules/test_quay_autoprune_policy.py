# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""quay_autoprune_policy run as Ansible runs it, against the /api/v1 stub of
test_quay_api_modules.py: which owner's endpoint it uses, idempotence by the policy's settings,
exclusive, check mode (nothing but GETs), diff, validation before any request. The module against
the real registry: registry_app/tests/e2e/test_collection_modules.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

# The stub and the fixtures that run a module against it (pytest finds fixtures by name).
from ansible_collections.quay.registry.tests.unit.plugins.modules.test_quay_api_modules import (  # noqa: F401 pylint: disable=unused-import
    run,
    stub,
)

ORG = "/organization/acme/autoprunepolicy/"
KEEP10 = {"uuid": "u-1", "method": "number_of_tags", "value": 10, "tagPattern": None, "tagPatternMatches": True}
AGED = {"uuid": "u-2", "method": "creation_date", "value": "7d", "tagPattern": "^dev", "tagPatternMatches": True}


def plain(policy):
    return dict((k, v) for k, v in policy.items() if k != "uuid")


def test_created_on_the_organization(run, stub):
    stub.route("GET", ORG, body={"policies": []})
    stub.route("POST", ORG, status=201, body={"uuid": "new"})
    result = run("quay_autoprune_policy", {"namespace": "acme", "method": "number_of_tags", "value": "10"})
    assert result["changed"] is True
    assert stub.writes() == [("POST", ORG, plain(KEEP10))]
    assert result["policy"] == dict(plain(KEEP10), uuid="new")
    assert result["diff"] == {"before": {"policies": []}, "after": {"policies": [plain(KEEP10)]}}


def test_equal_policy_is_unchanged(run, stub):
    stub.route("GET", ORG, body={"policies": [KEEP10]})
    result = run("quay_autoprune_policy", {"namespace": "acme", "method": "number_of_tags", "value": 10})
    assert result["changed"] is False and result["policy"] == KEEP10
    assert stub.writes() == []


def test_check_mode_writes_nothing(run, stub):
    stub.route("GET", ORG, body={"policies": [KEEP10]})
    args = {"namespace": "acme", "method": "creation_date", "value": "7d", "tag_pattern": "^dev", "exclusive": True}
    result = run("quay_autoprune_policy", args, check_mode=True)
    assert result["changed"] is True
    assert result["policies"] == [plain(AGED)]
    assert [r["method"] for r in stub.requests] == ["GET", "GET"]  # /user/ and the listing


def test_exclusive_replaces_the_others(run, stub):
    stub.route("GET", ORG, body={"policies": [KEEP10, AGED]})
    stub.route("DELETE", ORG + "u-1", body={"uuid": "u-1"})
    args = {"namespace": "acme", "method": "creation_date", "value": "7d", "tag_pattern": "^dev", "exclusive": True}
    result = run("quay_autoprune_policy", args)
    assert result["changed"] is True
    assert stub.writes() == [("DELETE", ORG + "u-1", None)]


def test_absent_deletes_the_equal_policy_or_all(run, stub):
    stub.route("GET", ORG, body={"policies": [KEEP10, AGED]})
    stub.route("DELETE", ORG + "u-1", body={"uuid": "u-1"})
    stub.route("DELETE", ORG + "u-2", body={"uuid": "u-2"})
    result = run("quay_autoprune_policy", {"namespace": "acme", "method": "number_of_tags", "value": 10, "state": "absent"})
    assert result["changed"] is True and stub.writes() == [("DELETE", ORG + "u-1", None)]
    del stub.requests[:]
    result = run("quay_autoprune_policy", {"namespace": "acme", "state": "absent", "exclusive": True})
    assert result["changed"] is True
    assert [w[1] for w in stub.writes()] == [ORG + "u-1", ORG + "u-2"]
    del stub.requests[:]
    result = run("quay_autoprune_policy", {"namespace": "acme", "method": "number_of_tags", "value": 3, "state": "absent"})
    assert result["changed"] is False and stub.writes() == []


def test_user_and_repository_endpoints(run, stub):
    stub.route("GET", "/user/autoprunepolicy/", body={"policies": [KEEP10]})
    result = run("quay_autoprune_policy", {"namespace": "admin", "method": "number_of_tags", "value": 10})
    assert result["changed"] is False
    stub.route("GET", "/repository/acme/web/autoprunepolicy/", body={"policies": []})
    stub.route("POST", "/repository/acme/web/autoprunepolicy/", status=201, body={"uuid": "r"})
    args = {"namespace": "acme", "repository": "web", "method": "creation_date", "value": "2w"}
    result = run("quay_autoprune_policy", args)
    assert result["changed"] is True
    assert stub.writes()[-1][:2] == ("POST", "/repository/acme/web/autoprunepolicy/")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"method": "number_of_tags", "value": 0}, "positive integer"),
        ({"method": "number_of_tags", "value": "ten"}, "positive integer"),
        ({"method": "creation_date", "value": "7 days"}, "an age such as"),
        ({"method": "creation_date", "value": "7d", "tag_pattern": "("}, "not a regular expression"),
        ({}, "method"),
    ],
)
def test_invalid_arguments_fail_before_any_request(run, stub, args, message):
    result = run("quay_autoprune_policy", dict(args, namespace="acme"))
    assert result["failed"] is True and message in result["msg"]
    assert stub.requests == []


def test_not_an_administrator(run, stub):
    stub.route("GET", ORG, status=403, body={"status": 403, "error_message": "Unauthorized", "error_type": "insufficient_scope"})
    result = run("quay_autoprune_policy", {"namespace": "acme", "method": "number_of_tags", "value": 1})
    assert result["failed"] is True and "may not manage the auto-prune policies of acme" in result["msg"]
