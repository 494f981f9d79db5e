"""What /api/v1/discovery says beyond what FastAPI generates from the endpoints.

- Links: which operation's answer names the object other operations take (a created repository
  is shown, changed, listed by tag, deleted; a created robot is read, regenerated, deleted; ...).
  Clients and generators (schemathesis' stateful phase, which the tests run) follow them to chain
  calls on objects that exist instead of guessing names. Quay's own document has none.
- Name patterns: the shapes of account, repository, robot and tag names, which the endpoints
  check themselves (with Quay's messages) and the generated document would not show.

Tables here, applied to the generated document (``complete_document``), so that the endpoint
modules stay as they are; nothing here changes what an operation accepts.
"""

from __future__ import annotations

from typing import Any

from registry_app.services.identity import NAMESPACE, ROBOT_SHORT
from registry_app.services.names import COMPONENT, MAX_NAME, TAG

P = "/api/v1"
REPO = f"{P}/repository/{{namespace}}/{{repository}}"
ORG = f"{P}/organization/{{orgname}}"
USER_ROBOT = f"{P}/user/robots/{{robot_shortname}}"
ORG_ROBOT = f"{ORG}/robots/{{robot_shortname}}"
SU_USER = f"{P}/superuser/users/{{username}}"
QUOTA = f"{ORG}/quota/{{quota_id}}"  # FEATURE_QUOTA_MANAGEMENT (http/api/quota.py)

# (method, path, status) of a producer → (parameter expressions, [(method, path) it leads to])
LINKS: dict[tuple[str, str, str], tuple[dict[str, str], list[tuple[str, str]]]] = {
    ("post", f"{P}/repository", "201"): (
        {"namespace": "$response.body#/namespace", "repository": "$response.body#/name"},
        [
            ("get", REPO),
            ("put", REPO),
            ("post", f"{REPO}/changevisibility"),
            ("get", f"{REPO}/tag/"),
            ("get", f"{REPO}/permissions/user/"),
            ("get", f"{REPO}/permissions/team/"),
            ("get", f"{REPO}/logs"),
            ("get", f"{REPO}/aggregatelogs"),
            ("get", f"{REPO}/notification/"),
            ("delete", REPO),
        ],
    ),
    ("post", f"{P}/organization/", "201"): (
        {"orgname": "$request.body#/name"},
        [("get", ORG), ("put", ORG), ("get", f"{ORG}/members"), ("get", f"{ORG}/robots"), ("get", f"{ORG}/logs"),
         ("delete", ORG)],
    ),
    ("put", f"{ORG}/team/{{teamname}}", "200"): (
        {"orgname": "$request.path.orgname", "teamname": "$request.path.teamname"},
        [("get", f"{ORG}/team/{{teamname}}/members"), ("delete", f"{ORG}/team/{{teamname}}")],
    ),
    ("put", USER_ROBOT, "201"): (
        {"robot_shortname": "$request.path.robot_shortname"},
        [("get", USER_ROBOT), ("post", f"{USER_ROBOT}/regenerate"), ("get", f"{USER_ROBOT}/permissions"),
         ("delete", USER_ROBOT)],
    ),
    ("put", ORG_ROBOT, "201"): (
        {"orgname": "$request.path.orgname", "robot_shortname": "$request.path.robot_shortname"},
        [("get", ORG_ROBOT), ("post", f"{ORG_ROBOT}/regenerate"), ("get", f"{ORG_ROBOT}/permissions"),
         ("delete", ORG_ROBOT)],
    ),
    ("post", f"{P}/superuser/users/", "200"): (
        {"username": "$request.body#/username"},
        [("get", SU_USER), ("put", SU_USER), ("delete", SU_USER)],
    ),
    ("post", f"{REPO}/notification/", "201"): (
        {
            "namespace": "$request.path.namespace",
            "repository": "$request.path.repository",
            "uuid": "$response.body#/uuid",
        },
        [
            ("get", f"{REPO}/notification/{{uuid}}"),
            ("post", f"{REPO}/notification/{{uuid}}/test"),
            ("post", f"{REPO}/notification/{{uuid}}"),
            ("delete", f"{REPO}/notification/{{uuid}}"),
        ],
    ),
    ("post", f"{ORG}/quota", "201"): ({"orgname": "$request.path.orgname"}, [("get", f"{ORG}/quota")]),
    ("get", f"{ORG}/quota", "200"): (
        {"orgname": "$request.path.orgname", "quota_id": "$response.body#/0/id"},
        [("get", QUOTA), ("put", QUOTA), ("get", f"{QUOTA}/limit"), ("post", f"{QUOTA}/limit"), ("delete", QUOTA)],
    ),
    ("put", QUOTA, "200"): (
        {"orgname": "$request.path.orgname", "quota_id": "$request.path.quota_id",
         "limit_id": "$response.body#/limits/0/id"},
        [("get", f"{QUOTA}/limit/{{limit_id}}"), ("put", f"{QUOTA}/limit/{{limit_id}}"),
         ("delete", f"{QUOTA}/limit/{{limit_id}}")],
    ),
    ("post", f"{ORG}/autoprunepolicy/", "201"): (
        {"orgname": "$request.path.orgname", "policy_uuid": "$response.body#/uuid"},
        [("get", f"{ORG}/autoprunepolicy/{{policy_uuid}}"), ("put", f"{ORG}/autoprunepolicy/{{policy_uuid}}"),
         ("delete", f"{ORG}/autoprunepolicy/{{policy_uuid}}")],
    ),
    ("post", f"{REPO}/autoprunepolicy/", "201"): (
        {"namespace": "$request.path.namespace", "repository": "$request.path.repository",
         "policy_uuid": "$response.body#/uuid"},
        [("get", f"{REPO}/autoprunepolicy/{{policy_uuid}}"), ("put", f"{REPO}/autoprunepolicy/{{policy_uuid}}"),
         ("delete", f"{REPO}/autoprunepolicy/{{policy_uuid}}")],
    ),
    ("post", f"{ORG}/immutabilitypolicy/", "201"): (
        {"orgname": "$request.path.orgname", "policy_uuid": "$response.body#/uuid"},
        [("get", f"{ORG}/immutabilitypolicy/{{policy_uuid}}"), ("put", f"{ORG}/immutabilitypolicy/{{policy_uuid}}"),
         ("delete", f"{ORG}/immutabilitypolicy/{{policy_uuid}}")],
    ),
    ("post", f"{P}/user/autoprunepolicy/", "201"): (
        {"policy_uuid": "$response.body#/uuid"},
        [("get", f"{P}/user/autoprunepolicy/{{policy_uuid}}"), ("delete", f"{P}/user/autoprunepolicy/{{policy_uuid}}")],
    ),
    ("post", f"{P}/user/apptoken", "200"): (
        {"token_uuid": "$response.body#/token/uuid"},
        [("get", f"{P}/user/apptoken/{{token_uuid}}"), ("delete", f"{P}/user/apptoken/{{token_uuid}}")],
    ),
}


ACCOUNT_NAME = {"type": "string", "pattern": NAMESPACE.pattern, "minLength": 2, "maxLength": 255}
NAMES: dict[str, dict[str, Any]] = {
    "namespace": ACCOUNT_NAME,
    "orgname": ACCOUNT_NAME,
    "username": ACCOUNT_NAME,
    "repository": {"type": "string", "pattern": f"^{COMPONENT.pattern}$", "maxLength": MAX_NAME},
    "robot_shortname": {"type": "string", "pattern": ROBOT_SHORT.pattern},
    "tag": {"type": "string", "pattern": f"^{TAG.pattern}$"},
}
# Request bodies whose properties are such names: (component schema, property) → name kind.
BODY_NAMES = {
    ("NewRepo", "repository"): "repository",
    ("NewRepo", "namespace"): "namespace",
    ("NewOrg", "name"): "orgname",
    ("CreateUserBody", "username"): "username",
}


def complete_document(document: dict[str, Any]) -> dict[str, Any]:
    """Add the name patterns and the links to a generated document (in place; also returned)."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") in NAMES:
                    parameter["schema"] = {**parameter.get("schema", {}), **NAMES[parameter["name"]]}
    schemas = document.get("components", {}).get("schemas", {})
    for (schema, prop), kind in BODY_NAMES.items():
        target = schemas.get(schema, {}).get("properties", {}).get(prop)
        if target is None:
            continue
        if "anyOf" in target:  # optional (str | None): constrain the string branch
            for branch in target["anyOf"]:
                if branch.get("type") == "string":
                    branch.update(NAMES[kind])
        else:
            target.update(NAMES[kind])
    return add_links(document)


def add_links(document: dict[str, Any]) -> dict[str, Any]:
    """Add LINKS to a generated OpenAPI document (in place; also returned). Operations the document
    does not have (a feature that is off) are skipped."""
    paths = document.get("paths", {})
    for (method, path, status), (parameters, targets) in LINKS.items():
        producer = paths.get(path, {}).get(method)
        if producer is None:
            continue
        links = producer.setdefault("responses", {}).setdefault(status, {"description": "Successful Response"})
        for target_method, target_path in targets:
            target = paths.get(target_path, {}).get(target_method)
            if target is None or "operationId" not in target:
                continue
            wanted = {p["name"] for p in target.get("parameters", []) if p.get("in") == "path"}
            links.setdefault("links", {})[target["operationId"]] = {
                "operationId": target["operationId"],
                "parameters": {name: expr for name, expr in parameters.items() if name in wanted},
            }
    return document


__all__ = ["LINKS", "NAMES", "add_links", "complete_document"]
