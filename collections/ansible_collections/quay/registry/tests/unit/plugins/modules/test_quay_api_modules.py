# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""quay_organization, quay_team, quay_robot, quay_repository and quay_quota, run as Ansible runs them, against
a stub of /api/v1 on a loopback port.

The stub answers each (method, path) with a canned status and JSON body in Quay's shapes and
records every request, so these tests see exactly what a module sends: nothing but GETs in check
mode, the writes a change needs, the credentials header, and the messages made of Quay's error
JSON. It is a stub, not the API: registry_app/tests/e2e/test_collection_modules.py runs the same
modules with ansible-playbook against the real registry_app."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SECRET_TOKEN = "api-token-for-unit-tests-0123456789"
ROBOT_TOKEN = "R0B0TT0KEN" * 6


class Stub(object):
    def __init__(self):
        self.routes = {}
        self.requests = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                stub.requests.append({
                    "method": self.command, "path": path, "query": self.path.partition("?")[2],
                    "auth": self.headers.get("Authorization"), "body": json.loads(body) if body else None,
                })
                status, answer = stub.routes.get((self.command, path), (404, {
                    "status": 404, "error_message": "Not Found", "error_type": "not_found", "detail": "Not Found"}))
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def route(self, method, path, status=200, body=None):
        self.routes[(method, "/api/v1" + path)] = (status, body)

    def writes(self):
        return [(r["method"], r["path"][len("/api/v1"):], r["body"]) for r in self.requests if r["method"] != "GET"]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    s = Stub()
    s.route("GET", "/user/", body={"username": "admin"})
    yield s
    s.close()


@pytest.fixture
def run(run_module, stub):
    def go(module, args, check_mode=False, auth=None):
        full = {"quay_host": stub.url}
        full.update(auth if auth is not None else {"quay_token": SECRET_TOKEN})
        full.update(args)
        return run_module(module, full, check_mode=check_mode)

    return go


def warnings(result):
    """The warnings' text (ansible-core 2.19 returns them as structured events)."""
    return json.dumps(result.get("warnings", []))


def org_view(teams=None, admin=True, email="ops@acme.test"):
    return {"name": "acme", "email": email, "is_admin": admin, "teams": teams or {}}


# -- connection and errors --------------------------------------------------------------------------
def test_bearer_token_is_sent_and_never_shown(run, stub):
    stub.route("GET", "/organization/acme", body=org_view())
    result = run("quay_organization", {"name": "acme"})
    assert result["changed"] is False
    assert stub.requests[0]["auth"] == "Bearer " + SECRET_TOKEN
    assert SECRET_TOKEN not in result.stdout


def test_basic_auth_from_username_and_password(run, stub):
    stub.route("GET", "/organization/acme", body=org_view())
    result = run("quay_organization", {"name": "acme"}, auth={"quay_username": "admin", "quay_password": "s3cret-pw"})
    assert result["changed"] is False
    assert stub.requests[0]["auth"] == "Basic " + base64.b64encode(b"admin:s3cret-pw").decode()
    assert "s3cret-pw" not in result.stdout


def test_no_credentials_is_a_clear_failure(run):
    result = run("quay_organization", {"name": "acme"}, auth={})
    assert result["failed"] is True
    assert "no credentials" in result["msg"] and "quay_token" in result["msg"]


def test_token_and_password_are_mutually_exclusive(run):
    result = run("quay_organization", {"name": "acme", "quay_username": "a", "quay_password": "b"})
    assert result["failed"] is True and "mutually exclusive" in result["msg"]


def test_quay_error_json_becomes_the_message(run, stub):
    stub.route("POST", "/organization/", 400, {
        "status": 400, "error_message": "A user or organization with this name already exists",
        "error_type": "invalid_request", "detail": "A user or organization with this name already exists"})
    result = run("quay_organization", {"name": "acme"})
    assert result["failed"] is True
    assert result["msg"] == ("POST %s/api/v1/organization/ failed: HTTP 400 (invalid_request): "
                             "A user or organization with this name already exists" % stub.url)


def test_unauthorized_names_the_credentials(run, stub):
    stub.route("GET", "/organization/acme", 401, {"error_message": "Invalid or expired access token",
                                                  "error_type": "invalid_token"})
    result = run("quay_organization", {"name": "acme"})
    assert "HTTP 401 (invalid_token): Invalid or expired access token" in result["msg"]
    assert "check quay_token" in result["msg"]


def test_unreachable_registry(run_module):
    result = run_module("quay_organization", {"name": "acme", "quay_host": "http://127.0.0.1:9", "quay_token": "x"})
    assert result["failed"] is True and result["msg"].startswith("cannot reach the registry: GET http://127.0.0.1:9/")


# -- quay_organization ------------------------------------------------------------------------------
def test_organization_check_mode_reports_creation_and_writes_nothing(run, stub):
    result = run("quay_organization", {"name": "acme", "email": "ops@acme.test"}, check_mode=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": {}, "after": {"name": "acme", "email": "ops@acme.test"}}
    assert stub.writes() == []


def test_organization_created(run, stub):
    stub.route("POST", "/organization/", 201, "Created")
    result = run("quay_organization", {"name": "acme", "email": "ops@acme.test"})
    assert result["changed"] is True
    assert stub.writes() == [("POST", "/organization/", {"name": "acme", "email": "ops@acme.test"})]


def test_organization_email_changed(run, stub):
    stub.route("GET", "/organization/acme", body=org_view(email="old@acme.test"))
    stub.route("PUT", "/organization/acme", body=org_view())
    result = run("quay_organization", {"name": "acme", "email": "ops@acme.test"})
    assert result["changed"] is True
    assert result["diff"]["before"]["email"] == "old@acme.test"
    assert stub.writes() == [("PUT", "/organization/acme", {"email": "ops@acme.test"})]


def test_organization_not_administered(run, stub):
    stub.route("GET", "/organization/acme", body=org_view(admin=False, email=""))
    result = run("quay_organization", {"name": "acme", "state": "absent"})
    assert result["failed"] is True
    assert "not one of its administrators" in result["msg"] and "deleted" in result["msg"]
    assert stub.writes() == []


def test_organization_absent(run, stub):
    assert run("quay_organization", {"name": "acme", "state": "absent"})["changed"] is False
    stub.route("GET", "/organization/acme", body=org_view())
    stub.route("DELETE", "/organization/acme", 204)
    result = run("quay_organization", {"name": "acme", "state": "absent"})
    assert result["changed"] is True and result["diff"]["after"] == {}
    assert stub.writes() == [("DELETE", "/organization/acme", None)]


# -- quay_team --------------------------------------------------------------------------------------
def team_routes(stub, members=("alice", "acme+bot"), role="member", description="Devs"):
    stub.route("GET", "/organization/acme", body=org_view({"devs": {"name": "devs", "role": role, "description": description}}))
    stub.route("GET", "/organization/acme/team/devs/members",
               body={"name": "devs", "members": [{"name": m, "is_robot": "+" in m} for m in members]})


def test_team_exact_members_check_mode(run, stub):
    team_routes(stub)
    args = {"name": "devs", "organization": "acme", "members": ["acme+bot", "carol"], "append": False}
    result = run("quay_team", args, check_mode=True)
    assert result["changed"] is True
    assert (result["added"], result["removed"]) == (["carol"], ["alice"])
    assert result["diff"]["before"]["members"] == ["acme+bot", "alice"]
    assert result["diff"]["after"]["members"] == ["acme+bot", "carol"]
    assert stub.writes() == []


def test_team_exact_members_applied_without_touching_role(run, stub):
    team_routes(stub)
    stub.route("PUT", "/organization/acme/team/devs/members/carol", body={"name": "carol"})
    stub.route("DELETE", "/organization/acme/team/devs/members/alice", 204)
    result = run("quay_team", {"name": "devs", "organization": "acme", "members": ["acme+bot", "carol"], "append": False})
    assert result["changed"] is True
    assert stub.writes() == [
        ("PUT", "/organization/acme/team/devs/members/carol", None),
        ("DELETE", "/organization/acme/team/devs/members/alice", None),
    ]


def test_team_append_and_same_state_is_unchanged(run, stub):
    team_routes(stub)
    result = run("quay_team", {"name": "devs", "organization": "acme", "role": "member", "description": "Devs",
                               "members": ["alice"]})
    assert result["changed"] is False and stub.writes() == []


def test_team_role_change_keeps_description(run, stub):
    team_routes(stub)
    stub.route("PUT", "/organization/acme/team/devs", body={"name": "devs"})
    result = run("quay_team", {"name": "devs", "organization": "acme", "role": "creator"})
    assert result["changed"] is True
    assert stub.writes() == [("PUT", "/organization/acme/team/devs", {"role": "creator", "description": "Devs"})]


def test_team_new_with_members(run, stub):
    stub.route("GET", "/organization/acme", body=org_view())
    stub.route("PUT", "/organization/acme/team/ops", body={"name": "ops"})
    stub.route("PUT", "/organization/acme/team/ops/members/alice", body={"name": "alice"})
    result = run("quay_team", {"name": "ops", "organization": "acme", "members": ["alice"]})
    assert result["diff"]["after"] == {"name": "ops", "role": "member", "description": "", "members": ["alice"]}
    assert stub.writes() == [
        ("PUT", "/organization/acme/team/ops", {"role": "member", "description": ""}),
        ("PUT", "/organization/acme/team/ops/members/alice", None),
    ]


def test_team_unknown_member_message(run, stub):
    team_routes(stub)
    stub.route("PUT", "/organization/acme/team/devs/members/ghost", 400, {"error_message": "Unknown user"})
    result = run("quay_team", {"name": "devs", "organization": "acme", "members": ["ghost"]})
    assert result["failed"] is True
    assert result["msg"].startswith("cannot add ghost to team devs of acme: PUT ")
    assert result["msg"].endswith("HTTP 400: Unknown user")


def test_team_of_missing_organization(run, stub):
    result = run("quay_team", {"name": "devs", "organization": "acme"})
    assert result["failed"] is True and "organization acme does not exist" in result["msg"]
    result = run("quay_team", {"name": "devs", "organization": "acme"}, check_mode=True)
    assert result["changed"] is True and "check mode assumes" in warnings(result)
    assert run("quay_team", {"name": "devs", "organization": "acme", "state": "absent"})["changed"] is False


# -- quay_robot -------------------------------------------------------------------------------------
def test_robot_name_must_have_a_namespace(run, stub):
    result = run("quay_robot", {"name": "deployer"})
    assert result["failed"] is True and "namespace+shortname" in result["msg"]
    assert stub.requests == []


def test_robot_created_token_returned_not_in_diff(run, stub):
    stub.route("GET", "/organization/acme/robots", body={"robots": []})
    stub.route("PUT", "/organization/acme/robots/deployer", 201,
               {"name": "acme+deployer", "description": "ci", "token": ROBOT_TOKEN})
    result = run("quay_robot", {"name": "acme+deployer", "description": "ci"})
    assert result["changed"] is True
    assert (result["name"], result["token"]) == ("acme+deployer", ROBOT_TOKEN)
    assert ROBOT_TOKEN not in json.dumps(result["diff"]) and ROBOT_TOKEN not in json.dumps(result["robot"])
    assert stub.writes() == [("PUT", "/organization/acme/robots/deployer", {"description": "ci"})]
    assert stub.requests[1]["query"] == "token=false"


def test_robot_check_mode_creates_nothing_and_has_no_token(run, stub):
    stub.route("GET", "/organization/acme/robots", body={"robots": []})
    result = run("quay_robot", {"name": "acme+deployer"}, check_mode=True)
    assert result["changed"] is True and "token" not in result.result
    assert stub.writes() == []


def test_robot_existing_returns_token_and_warns_about_description(run, stub):
    stub.route("GET", "/organization/acme/robots", body={"robots": [{"name": "acme+deployer", "description": "old"}]})
    stub.route("GET", "/organization/acme/robots/deployer", body={"name": "acme+deployer", "token": ROBOT_TOKEN})
    result = run("quay_robot", {"name": "acme+deployer", "description": "new"})
    assert result["changed"] is False and result["token"] == ROBOT_TOKEN
    assert "cannot change a robot's description" in warnings(result)
    assert stub.writes() == []


def test_personal_robot_uses_user_endpoints(run, stub):
    stub.route("GET", "/user/robots", body={"robots": [{"name": "admin+mine", "description": ""}]})
    stub.route("DELETE", "/user/robots/mine", 204)
    result = run("quay_robot", {"name": "admin+mine", "state": "absent"})
    assert result["changed"] is True
    assert stub.writes() == [("DELETE", "/user/robots/mine", None)]


# -- quay_repository --------------------------------------------------------------------------------
def repo_routes(stub, public=False, users=None, teams=None):
    stub.route("GET", "/repository/acme/web", body={"namespace": "acme", "name": "web", "is_public": public,
                                                    "description": "web"})
    users = users if users is not None else {"admin": "admin", "acme+bot": "read"}
    stub.route("GET", "/repository/acme/web/permissions/user/", body={"permissions": {
        n: {"name": n, "role": r, "is_robot": "+" in n} for n, r in users.items()}})
    stub.route("GET", "/repository/acme/web/permissions/team/", body={"permissions": {
        n: {"name": n, "role": r} for n, r in (teams or {}).items()}})


def test_repository_name_is_checked(run, stub):
    for bad in ("web", "acme/", "a/b/c"):
        result = run("quay_repository", {"name": bad})
        assert result["failed"] is True and "namespace/name" in result["msg"], bad
    result = run("quay_repository", {"name": "acme/web", "permissions": [{"name": "bot", "type": "robot"}]})
    assert result["failed"] is True and "permissions[0]" in result["msg"]
    assert stub.requests == []


def test_repository_check_mode_new(run, stub):
    args = {"name": "acme/web", "visibility": "public", "permissions": [{"name": "devs", "type": "team", "role": "write"}]}
    result = run("quay_repository", args, check_mode=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"] == {
        "name": "acme/web", "visibility": "public", "description": "",
        "permissions": [{"name": "devs", "type": "team", "role": "write"},
                        {"name": "admin", "type": "user", "role": "admin"}],
    }
    assert stub.writes() == []


def test_repository_exact_permissions_and_visibility(run, stub):
    repo_routes(stub, users={"admin": "admin", "acme+bot": "read", "carol": "write"}, teams={"old": "read"})
    for method, p in (("PUT", "/permissions/user/acme%2Bbot"), ("PUT", "/permissions/team/devs"),
                      ("DELETE", "/permissions/user/carol"), ("DELETE", "/permissions/team/old"),
                      ("DELETE", "/permissions/user/admin"), ("POST", "/changevisibility")):
        stub.route(method, "/repository/acme/web" + p, 204 if method == "DELETE" else 200, None if method == "DELETE" else {})
    args = {"name": "acme/web", "visibility": "public", "append": False,
            "permissions": [{"name": "acme+bot", "type": "robot", "role": "write"},
                            {"name": "devs", "type": "team", "role": "read"}]}
    check = run("quay_repository", args, check_mode=True)
    assert check["changed"] is True and stub.writes() == []
    assert check["diff"]["after"]["permissions"] == [
        {"name": "devs", "type": "team", "role": "read"},
        {"name": "acme+bot", "type": "robot", "role": "write"},
    ]
    result = run("quay_repository", args)
    assert result["changed"] is True
    writes = [(w[0], w[1]) for w in stub.writes()]
    assert writes == [
        ("POST", "/repository/acme/web/changevisibility"),
        ("PUT", "/repository/acme/web/permissions/team/devs"),
        ("PUT", "/repository/acme/web/permissions/user/acme%2Bbot"),
        ("DELETE", "/repository/acme/web/permissions/team/old"),
        ("DELETE", "/repository/acme/web/permissions/user/carol"),
        ("DELETE", "/repository/acme/web/permissions/user/admin"),  # the caller's own role last
    ]
    assert stub.writes()[0][2] == {"visibility": "public"}


def test_repository_namespace_owner_is_kept(run, stub):
    stub.route("GET", "/repository/alice/tools", body={"namespace": "alice", "name": "tools", "is_public": False,
                                                       "description": ""})
    stub.route("GET", "/repository/alice/tools/permissions/user/", body={"permissions": {
        "alice": {"role": "admin", "is_robot": False}}})
    stub.route("GET", "/repository/alice/tools/permissions/team/", body={"permissions": {}})
    result = run("quay_repository", {"name": "alice/tools", "append": False, "permissions": []})
    assert result["changed"] is False and stub.writes() == []


def test_repository_unchanged_and_absent(run, stub):
    repo_routes(stub)
    args = {"name": "acme/web", "visibility": "private", "description": "web",
            "permissions": [{"name": "acme+bot", "type": "robot", "role": "read"}]}
    assert run("quay_repository", args)["changed"] is False
    assert stub.writes() == []
    stub.route("DELETE", "/repository/acme/web", 204)
    result = run("quay_repository", {"name": "acme/web", "state": "absent"})
    assert result["changed"] is True and stub.writes() == [("DELETE", "/repository/acme/web", None)]


def test_repository_forbidden_message(run, stub):
    stub.route("GET", "/repository/acme/web", 403, {"error_message": "Unauthorized", "error_type": "insufficient_scope"})
    result = run("quay_repository", {"name": "acme/web"})
    assert result["failed"] is True
    assert result["msg"].startswith("the API user has no admin role on repository acme/web")


# -- quay_quota -------------------------------------------------------------------------------------
QUOTA = "/organization/acme/quota"


def quota_view(limit_bytes=1024, limits=(), quota_id=7):
    return {"id": quota_id, "limit_bytes": limit_bytes, "limit": "", "default_config": False,
            "default_config_exists": False,
            "limits": [{"id": 100 + i, "type": t, "limit_percent": p} for i, (t, p) in enumerate(limits)]}


def test_quota_check_mode_reports_creation_and_writes_nothing(run, stub):
    stub.route("GET", QUOTA, body=[])
    result = run("quay_quota", {"organization": "acme", "limit": "10 GiB",
                                "limits": [{"type": "Reject", "threshold_percent": 100}]}, check_mode=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": {}, "after": {
        "limit_bytes": 10 * 1024 ** 3, "limits": [{"type": "Reject", "threshold_percent": 100}]}}
    assert stub.writes() == []


def test_quota_system_default_is_not_a_quota(run, stub):
    stub.route("GET", QUOTA, body=[{"id": None, "limit_bytes": 5, "limit": "5.0 Byte", "default_config": True,
                                    "limits": [], "default_config_exists": True}])
    result = run("quay_quota", {"organization": "acme", "state": "absent"})
    assert result["changed"] is False and stub.writes() == []


class Answers(dict):
    """Routes where one (method, path) answers from a list in turn (a GET before and after a POST)."""

    def __init__(self, routes, key, answers):
        super(Answers, self).__init__(routes)
        self.key = key
        self.answers = list(answers)

    def get(self, key, default=None):
        if key == self.key and self.answers:
            return self.answers.pop(0)
        return super(Answers, self).get(key, default)


def test_quota_created_with_limits(run, stub):
    stub.route("POST", QUOTA, 201, "Created")
    stub.route("POST", QUOTA + "/7/limit", 201, "Created")
    stub.routes = Answers(stub.routes, ("GET", "/api/v1" + QUOTA), [(200, []), (200, [quota_view(2000)])])
    result = run("quay_quota", {"organization": "acme", "limit_bytes": 2000,
                                "limits": [{"type": "Warning", "threshold_percent": 80}]})
    assert result["changed"] is True, result.result
    assert stub.writes() == [("POST", QUOTA, {"limit_bytes": 2000}),
                             ("POST", QUOTA + "/7/limit", {"type": "Warning", "threshold_percent": 80})]


def test_quota_same_state_is_unchanged(run, stub):
    stub.route("GET", QUOTA, body=[quota_view(1024, [("Warning", 80), ("Reject", 100)])])
    result = run("quay_quota", {"organization": "acme", "limit": "1 KiB", "limits": [
        {"type": "Reject", "threshold_percent": 100}, {"type": "Warning", "threshold_percent": 80}]})
    assert result["changed"] is False and stub.writes() == []
    # Without limits, the existing ones are left as they are.
    assert run("quay_quota", {"organization": "acme", "limit_bytes": 1024})["changed"] is False


def test_quota_resized_and_limits_made_exact(run, stub):
    stub.route("GET", QUOTA, body=[quota_view(1024, [("Warning", 80), ("Reject", 100)])])
    stub.route("PUT", QUOTA + "/7", body=quota_view(4096))
    stub.route("DELETE", QUOTA + "/7/limit/101", 204)
    stub.route("POST", QUOTA + "/7/limit", 201, "Created")
    result = run("quay_quota", {"organization": "acme", "limit_bytes": 4096, "limits": [
        {"type": "Warning", "threshold_percent": 80}, {"type": "Reject", "threshold_percent": 90}]})
    assert result["changed"] is True
    assert result["diff"]["before"]["limit_bytes"] == 1024 and result["diff"]["after"]["limit_bytes"] == 4096
    assert stub.writes() == [
        ("PUT", QUOTA + "/7", {"limit_bytes": 4096}),
        ("DELETE", QUOTA + "/7/limit/101", None),
        ("POST", QUOTA + "/7/limit", {"type": "Reject", "threshold_percent": 90}),
    ]


def test_quota_absent(run, stub):
    stub.route("GET", QUOTA, body=[quota_view()])
    stub.route("DELETE", QUOTA + "/7", 204)
    result = run("quay_quota", {"organization": "acme", "state": "absent"})
    assert result["changed"] is True and result["quota"] == {}
    assert stub.writes() == [("DELETE", QUOTA + "/7", None)]


@pytest.mark.parametrize("args, message", [
    ({"limit": "ten"}, "use a number and a unit"),
    ({"limit_bytes": 10, "limits": [{"type": "Warning", "threshold_percent": 0}]}, "between 1 and 100"),
    ({"limit_bytes": 10, "limits": [{"type": "Reject", "threshold_percent": 90},
                                    {"type": "Reject", "threshold_percent": 100}]}, "at most one"),
    ({"limit_bytes": 10, "limit": "1 KiB"}, "mutually exclusive"),
    ({}, "limit_bytes, limit"),
])
def test_quota_invalid_input_is_refused_before_any_request(run, stub, args, message):
    result = run("quay_quota", dict({"organization": "acme"}, **args))
    assert result["failed"] is True and message in result["msg"], result["msg"]
    assert stub.requests == []


def test_quota_feature_off_or_no_organization(run, stub):
    result = run("quay_quota", {"organization": "acme", "limit_bytes": 10})
    assert result["failed"] is True and "FEATURE_QUOTA_MANAGEMENT" in result["msg"]
