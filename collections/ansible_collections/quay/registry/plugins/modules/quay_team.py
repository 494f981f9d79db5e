#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: quay_team
short_description: Manage a team of an organization in a Quay-compatible registry
version_added: "0.1.0"
description:
  - Creates a team or changes its role and description
    (C(PUT /api/v1/organization/{org}/team/{name})), adds and removes members, users or robots
    (C(PUT)/C(DELETE .../members/{member})), or deletes the team.
author:
  - quay.registry contributors (@quay-registry)
extends_documentation_fragment:
  - quay.registry.attributes
  - quay.registry.quay_api
options:
  name:
    description:
      - Name of the team, 2 to 255 lowercase letters and digits, with C(.), C(_) or C(-) between them.
    type: str
    required: true
  organization:
    description: The organization of the team. It must exist.
    type: str
    required: true
  role:
    description:
      - The team's role in the organization. V(member) reads what the team is given,
        V(creator) may also create repositories, V(admin) administers the organization.
      - A new team gets V(member) when not given; an existing team keeps its role.
    type: str
    choices: [member, creator, admin]
  description:
    description: Description of the team (Markdown). Left as it is when not given.
    type: str
  members:
    description:
      - Users and robots in the team. Robots are named C(organization+shortname) and must belong
        to the organization.
      - Not given leaves the members alone.
    type: list
    elements: str
  append:
    description:
      - V(true) adds O(members) and keeps the other members; V(false) makes the team hold exactly
        O(members), removing the others.
    type: bool
    default: true
  state:
    description: V(absent) deletes the team (a missing one is not an error).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Needs an administrator of the organization (an API token with the C(org:admin) scope).
"""

EXAMPLES = r"""
- name: Operators may create repositories; exactly these members
  quay.registry.quay_team:
    name: operators
    organization: production
    role: creator
    description: Operations team
    members:
      - lvasquez
      - production+deployer
    append: false
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"

- name: One more member, others kept
  quay.registry.quay_team:
    name: operators
    organization: production
    members: [dwilde]
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"

- name: No team developers
  quay.registry.quay_team:
    name: developers
    organization: production
    state: absent
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"
"""

RETURN = r"""
team:
  description: The team after the run (as it would be, in check mode); empty when absent.
  returned: always
  type: dict
  sample: {"name": "operators", "role": "creator", "description": "Operations team", "members": ["lvasquez", "production+deployer"]}
added:
  description: Members added (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["production+deployer"]
removed:
  description: Members removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quay.registry.plugins.module_utils.quay_api import (
    QUAY_API_MUTUALLY_EXCLUSIVE,
    QUAY_API_REQUIRED_TOGETHER,
    QuayApi,
    QuayApiError,
    path,
    quay_argument_spec,
    set_changes,
)


def main():
    module = AnsibleModule(
        argument_spec=quay_argument_spec(
            name=dict(type="str", required=True),
            organization=dict(type="str", required=True),
            role=dict(type="str", choices=["member", "creator", "admin"]),
            description=dict(type="str"),
            members=dict(type="list", elements="str"),
            append=dict(type="bool", default=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        mutually_exclusive=QUAY_API_MUTUALLY_EXCLUSIVE,
        required_together=QUAY_API_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    api = QuayApi(module)
    p = module.params
    name, org, state = p["name"], p["organization"], p["state"]
    team_path = path("organization", org, "team", name)

    try:
        org_view = api.get(path("organization", org))
        if org_view is None and state == "absent":
            module.exit_json(changed=False, team={}, added=[], removed=[])
        if org_view is None and not module.check_mode:
            module.fail_json(msg="organization %s does not exist (create it first, e.g. with quay.registry.quay_organization)" % org)
        if org_view is None:
            module.warn("organization %s does not exist yet: check mode assumes that an earlier task creates it" % org)
            org_view = {"is_admin": True, "teams": {}}
        if not org_view.get("is_admin"):
            module.fail_json(msg="the API user is not an administrator of organization %s: its teams cannot be managed" % org)
        current = (org_view.get("teams") or {}).get(name)
        members = []
        if current is not None:
            members = sorted(m["name"] for m in api.get(team_path + "/members", missing=())["members"])
    except QuayApiError as exc:
        api.fail(exc)

    before = {}
    if current is not None:
        before = {"name": name, "role": current["role"], "description": current.get("description") or "", "members": members}

    add, remove = [], []
    if state == "absent":
        after = {}
    else:
        after = dict(before) if before else {"name": name, "role": "member", "description": "", "members": []}
        if p["role"] is not None:
            after["role"] = p["role"]
        if p["description"] is not None:
            after["description"] = p["description"]
        if p["members"] is not None:
            add, remove = set_changes(after["members"], [m.strip() for m in p["members"] if m.strip()], p["append"])
            after["members"] = sorted((set(after["members"]) | set(add)) - set(remove))
    changed = before != after
    result = dict(changed=changed, team=after, added=add, removed=remove)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if not changed or module.check_mode:
        module.exit_json(**result)

    try:
        if state == "absent":
            api.request("DELETE", team_path)
            module.exit_json(**result)
        if not before or before["role"] != after["role"] or before["description"] != after["description"]:
            api.request("PUT", team_path, body={"role": after["role"], "description": after["description"]})
    except QuayApiError as exc:
        api.fail(exc, **result)
    for member in add:
        try:
            api.request("PUT", team_path + path("members", member))
        except QuayApiError as exc:
            module.fail_json(msg="cannot add %s to team %s of %s: %s" % (member, name, org, exc.message), **result)
    for member in remove:
        try:
            api.request("DELETE", team_path + path("members", member))
        except QuayApiError as exc:
            module.fail_json(msg="cannot remove %s from team %s of %s: %s" % (member, name, org, exc.message), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
