#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: quay_robot
short_description: Create or delete a robot account in a Quay-compatible registry
version_added: "0.1.0"
description:
  - Creates a robot account of an organization (C(PUT /api/v1/organization/{org}/robots/{short}))
    or of the signed-in user (C(PUT /api/v1/user/robots/{short})), or deletes it, and returns
    its name and token, the credentials that C(podman login), C(skopeo) and C(docker) take.
  - Deleting a robot makes its token, and every registry token issued for it, fail at once.
author:
  - quay.registry contributors (@quay-registry)
extends_documentation_fragment:
  - quay.registry.attributes
  - quay.registry.quay_api
options:
  name:
    description:
      - Full name of the robot, C(namespace+shortname). The namespace is an organization, or
        the signed-in user for a personal robot.
      - The short name has lowercase letters, digits and C(_), and starts with a letter.
    type: str
    required: true
  description:
    description:
      - Description of a new robot.
      - The API cannot change the description of an existing robot; a different one gives a
        warning (delete the robot with O(state=absent) and create it again to change it, which
        also changes its token).
    type: str
  state:
    description: V(absent) deletes the robot (a missing one is not an error).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Organization robots need an administrator of the organization (API token scope
    C(org:admin)); personal robots need the C(user:admin) scope.
  - The returned O(name) and RV(token) are credentials. Use C(no_log) on the task that
    registers them and on the tasks that use them.
"""

EXAMPLES = r"""
- name: Robot that deploys images
  quay.registry.quay_robot:
    name: production+deployer
    description: Pulls images on the production hosts
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"
  register: deployer
  no_log: true

- name: Log in with it
  containers.podman.podman_login:
    registry: quay.example.com
    username: "{{ deployer.name }}"
    password: "{{ deployer.token }}"
  no_log: true

- name: Remove a robot
  quay.registry.quay_robot:
    name: production+old
    state: absent
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"
"""

RETURN = r"""
name:
  description: Full name of the robot (C(namespace+shortname)), its registry user name.
  returned: when O(state=present)
  type: str
  sample: production+deployer
token:
  description:
    - The robot's token, its registry password. Sensitive; register the result with C(no_log).
    - Not returned in check mode when the robot does not exist yet.
  returned: when O(state=present) and the robot exists
  type: str
robot:
  description: The robot after the run (no token), as it would be in check mode; empty when absent.
  returned: always
  type: dict
  sample: {"name": "production+deployer", "description": "Pulls images on the production hosts"}
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quay.registry.plugins.module_utils.quay_api import (
    QUAY_API_MUTUALLY_EXCLUSIVE,
    QUAY_API_REQUIRED_TOGETHER,
    QuayApi,
    QuayApiError,
    path,
    quay_argument_spec,
)

SHORT_NAME = re.compile(r"^[a-z][a-z0-9_]{1,254}$")


def main():
    module = AnsibleModule(
        argument_spec=quay_argument_spec(
            name=dict(type="str", required=True),
            description=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        mutually_exclusive=QUAY_API_MUTUALLY_EXCLUSIVE,
        required_together=QUAY_API_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    name, description, state = module.params["name"], module.params["description"], module.params["state"]
    namespace, plus, short = name.partition("+")
    if not plus or not namespace or not SHORT_NAME.match(short):
        module.fail_json(
            msg="name %r is not a robot name: give namespace+shortname (e.g. myorg+deployer), the short name "
            "of lowercase letters, digits and _, starting with a letter, 2 to 255 characters" % name
        )
    api = QuayApi(module)

    try:
        personal = namespace == api.me()
        base = "/user/robots" if personal else path("organization", namespace, "robots")
        listing = api.get(base, query={"token": "false"}, missing=(404,) if not personal else ())
        if listing is None and state == "absent":
            module.exit_json(changed=False, robot={})
        if listing is None and not module.check_mode:
            module.fail_json(msg="organization %s does not exist (create it first, e.g. with quay.registry.quay_organization)" % namespace)
        if listing is None:
            module.warn("organization %s does not exist yet: check mode assumes that an earlier task creates it" % namespace)
        found = [r for r in (listing or {}).get("robots", []) if r.get("name") == name]
    except QuayApiError as exc:
        if exc.status == 403:
            module.fail_json(msg="the API user may not manage the robots of %s (no such organization, not one of its "
                             "administrators, or the token lacks the org:admin scope): %s" % (namespace, exc.message))
        api.fail(exc)
    current = found[0] if found else None
    before = {} if current is None else {"name": name, "description": current.get("description") or ""}
    after = {} if state == "absent" else (dict(before) if before else {"name": name, "description": description or ""})
    changed = before != after
    result = dict(changed=changed, robot=after)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if current is not None and state == "present" and description is not None and description != before["description"]:
        module.warn(
            "robot %s exists with description %r: the API cannot change a robot's description (delete and "
            "recreate the robot to change it; that also changes its token)" % (name, before["description"])
        )
    robot_path = base + path(short)
    try:
        if state == "absent":
            if changed and not module.check_mode:
                api.request("DELETE", robot_path)
            module.exit_json(**result)
        if current is None:
            if module.check_mode:
                module.exit_json(name=name, **result)
            created = api.request("PUT", robot_path, body={"description": description or ""})[1]
            token = created["token"]
        else:
            token = api.get(robot_path, missing=())["token"]
    except QuayApiError as exc:
        api.fail(exc, **result)
    module.exit_json(name=name, token=token, **result)


if __name__ == "__main__":
    main()
