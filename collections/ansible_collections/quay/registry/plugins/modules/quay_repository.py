#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: quay_repository
short_description: Manage a repository, its visibility and permissions in a Quay-compatible registry
version_added: "0.1.0"
description:
  - Creates a repository (C(POST /api/v1/repository)), sets its description
    (C(PUT /api/v1/repository/{namespace}/{name})) and visibility
    (C(POST .../changevisibility)), gives users, robots and teams a role on it
    (C(PUT)/C(DELETE .../permissions/user/{name}) and C(.../permissions/team/{name})),
    or deletes it with its tags and permissions.
author:
  - quay.registry contributors (@quay-registry)
extends_documentation_fragment:
  - quay.registry.attributes
  - quay.registry.quay_api
options:
  name:
    description:
      - The repository, C(namespace/name). The namespace is an organization or a user and must
        exist.
    type: str
    required: true
  visibility:
    description:
      - V(public) lets anyone pull; V(private) only those with a role.
      - A new repository is V(private) when not given; an existing one keeps its visibility.
    type: str
    choices: [public, private]
  description:
    description: Description of the repository (Markdown). Left as it is when not given.
    type: str
  permissions:
    description:
      - Roles of users, robots and teams on the repository. Not given leaves the permissions alone.
      - With O(append=false), the roles not listed are removed (except the namespace owner's,
        which the API keeps). A new repository starts with an C(admin) role for the account
        that created it.
    type: list
    elements: dict
    aliases: [perms]
    suboptions:
      name:
        description: User name, robot name (C(namespace+shortname)) or team name (of the organization).
        type: str
        required: true
      type:
        description: What O(permissions[].name) names. A name with C(+) is a robot.
        type: str
        choices: [user, robot, team]
        default: user
      role:
        description: V(read) pulls, V(write) also pushes, V(admin) also administers the repository.
        type: str
        choices: [read, write, admin]
        default: read
  append:
    description:
      - V(true) adds and changes the roles in O(permissions) and keeps the others; V(false)
        makes O(permissions) the complete list.
    type: bool
    default: true
  state:
    description: V(absent) deletes the repository, its tags and permissions (a missing one is not an error).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Needs the C(admin) role on the repository (creating needs the right to create in the
    namespace); an API token needs the C(repo:admin) and C(repo:create) scopes.
"""

EXAMPLES = r"""
- name: Private repository that the deployer robot pulls from and the developers push to
  quay.registry.quay_repository:
    name: production/web
    visibility: private
    description: The web frontend
    permissions:
      - name: production+deployer
        type: robot
        role: read
      - name: developers
        type: team
        role: write
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"

- name: Public base image; exactly these roles
  quay.registry.quay_repository:
    name: production/base
    visibility: public
    permissions:
      - name: operators
        type: team
        role: admin
    append: false
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"

- name: Repository gone
  quay.registry.quay_repository:
    name: production/old
    state: absent
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"
"""

RETURN = r"""
repository:
  description: The repository after the run (as it would be, in check mode); empty when absent.
  returned: always
  type: dict
  sample:
    name: production/web
    visibility: private
    description: The web frontend
    permissions:
      - {"name": "admin", "type": "user", "role": "admin"}
      - {"name": "developers", "type": "team", "role": "write"}
      - {"name": "production+deployer", "type": "robot", "role": "read"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quay.registry.plugins.module_utils.quay_api import (
    QUAY_API_MUTUALLY_EXCLUSIVE,
    QUAY_API_REQUIRED_TOGETHER,
    QuayApi,
    QuayApiError,
    path,
    permission_changes,
    permission_list,
    quay_argument_spec,
)


def wanted_permissions(module):
    """(kind, name) -> role from the permissions option, kind ``user`` (users, robots) or ``team``."""
    wanted = {}
    for i, perm in enumerate(module.params["permissions"] or []):
        name, kind = perm["name"], perm["type"]
        if kind == "robot" and "+" not in name:
            module.fail_json(msg="permissions[%d]: robot %r must be named namespace+shortname" % (i, name))
        if kind == "team" and "+" in name:
            module.fail_json(msg="permissions[%d]: %r is a robot name, not a team (type: robot)" % (i, name))
        key = ("team" if kind == "team" else "user", name)
        if key in wanted and wanted[key] != perm["role"]:
            module.fail_json(msg="permissions: %s %s is listed twice with different roles" % (kind, name))
        wanted[key] = perm["role"]
    return wanted


def current_permissions(api, repo_path):
    perms = {}
    robots = set()
    for name, view in (api.get(repo_path + "/permissions/user/", missing=())["permissions"] or {}).items():
        perms[("user", name)] = view["role"]
        if view.get("is_robot"):
            robots.add(name)
    for name, view in (api.get(repo_path + "/permissions/team/", missing=())["permissions"] or {}).items():
        perms[("team", name)] = view["role"]
    return perms, robots


def main():
    module = AnsibleModule(
        argument_spec=quay_argument_spec(
            name=dict(type="str", required=True),
            visibility=dict(type="str", choices=["public", "private"]),
            description=dict(type="str"),
            permissions=dict(
                type="list",
                elements="dict",
                aliases=["perms"],
                options=dict(
                    name=dict(type="str", required=True),
                    type=dict(type="str", choices=["user", "robot", "team"], default="user"),
                    role=dict(type="str", choices=["read", "write", "admin"], default="read"),
                ),
            ),
            append=dict(type="bool", default=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        mutually_exclusive=QUAY_API_MUTUALLY_EXCLUSIVE,
        required_together=QUAY_API_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    p = module.params
    full, state = p["name"], p["state"]
    namespace, slash, repo = full.partition("/")
    if not slash or not namespace or not repo or "/" in repo:
        module.fail_json(msg="name %r is not a repository name: give namespace/name (e.g. myorg/web)" % full)
    wanted = wanted_permissions(module)
    api = QuayApi(module)
    repo_path = path("repository", namespace, repo)

    try:
        current = api.get(repo_path, missing=(404,))
        perms, robots = ({}, set())
        if current is not None and (state == "present" and p["permissions"] is not None):
            perms, robots = current_permissions(api, repo_path)
        elif current is None and state == "present" and p["permissions"] is not None:
            # The API gives the creator an explicit admin role on a new repository.
            perms = {("user", api.me()): "admin"}
    except QuayApiError as exc:
        if exc.status == 403:
            module.fail_json(msg="the API user has no admin role on repository %s (or may not create it in namespace %s): %s"
                             % (full, namespace, exc.message))
        api.fail(exc)

    before = {}
    if current is not None:
        before = {
            "name": full,
            "visibility": "public" if current.get("is_public") else "private",
            "description": current.get("description") or "",
        }
        if p["permissions"] is not None:
            before["permissions"] = permission_list(perms, robots)
    to_set, to_remove = [], []
    if state == "absent":
        after = {}
    else:
        after = dict(before) if before else {"name": full, "visibility": "private", "description": ""}
        if p["visibility"] is not None:
            after["visibility"] = p["visibility"]
        if p["description"] is not None:
            after["description"] = p["description"]
        if p["permissions"] is not None:
            to_set, to_remove = permission_changes(perms, wanted, p["append"], keep=(namespace,))
            final = dict(perms)
            for kind, name, role in to_set:
                final[(kind, name)] = role
            for key in to_remove:
                del final[key]
            robots = robots | set(perm["name"] for perm in p["permissions"] if perm["type"] == "robot")
            after["permissions"] = permission_list(final, robots)
    changed = before != after
    result = dict(changed=changed, repository=after)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if not changed or module.check_mode:
        module.exit_json(**result)

    try:
        if state == "absent":
            api.request("DELETE", repo_path)
            module.exit_json(**result)
        if current is None:
            api.request("POST", "/repository", body={
                "namespace": namespace, "repository": repo,
                "visibility": after["visibility"], "description": after["description"],
            })
            if p["permissions"] is not None:
                perms, robots = current_permissions(api, repo_path)
                to_set, to_remove = permission_changes(perms, wanted, p["append"], keep=(namespace,))
        else:
            if after["description"] != before["description"]:
                api.request("PUT", repo_path, body={"description": after["description"]})
            if after["visibility"] != before["visibility"]:
                api.request("POST", repo_path + "/changevisibility", body={"visibility": after["visibility"]})
    except QuayApiError as exc:
        api.fail(exc, **result)
    for kind, name, role in to_set:
        try:
            api.request("PUT", repo_path + path("permissions", kind, name), body={"role": role})
        except QuayApiError as exc:
            module.fail_json(msg="cannot give %s %s the %s role on %s: %s" % (kind, name, role, full, exc.message), **result)
    # The caller's own role last: without it the caller may lose the right to change the others.
    me = None
    if to_remove and current is not None:
        try:
            me = api.me()
        except QuayApiError as exc:
            api.fail(exc, **result)
    for kind, name in sorted(to_remove, key=lambda key: key == ("user", me)):
        try:
            api.request("DELETE", repo_path + path("permissions", kind, name))
        except QuayApiError as exc:
            module.fail_json(msg="cannot remove the role of %s %s on %s: %s" % (kind, name, full, exc.message), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
