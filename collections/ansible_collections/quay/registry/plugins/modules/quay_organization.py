#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: quay_organization
short_description: Create, change or delete an organization in a Quay-compatible registry
version_added: "0.1.0"
description:
  - Creates an organization (C(POST /api/v1/organization/)), changes its e-mail address
    (C(PUT /api/v1/organization/{name})) or deletes it with its repositories, teams and robots
    (C(DELETE /api/v1/organization/{name})).
  - The account that creates an organization joins its C(owners) team.
author:
  - quay.registry contributors (@quay-registry)
extends_documentation_fragment:
  - quay.registry.attributes
  - quay.registry.quay_api
options:
  name:
    description: Name of the organization.
    type: str
    required: true
  email:
    description:
      - E-mail address of the organization. Left as it is when not given.
    type: str
  state:
    description:
      - V(absent) deletes the organization with everything in it (a missing one is not an error).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Creating needs a signed-in user (a superuser when the registry disables user creation);
    changing or deleting needs an administrator of the organization. An API token needs the
    C(org:admin) and C(user:admin) scopes.
"""

EXAMPLES = r"""
- name: Organization for the production images
  quay.registry.quay_organization:
    name: production
    email: production@example.com
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"

- name: Connection options once, for every module of the collection that uses the API
  module_defaults:
    group/quay.registry.quay:
      quay_host: https://quay.example.com
      quay_token: "{{ quay_api_token }}"
      ca_path: /etc/pki/quay/ca.crt
  block:
    - name: Organization exists
      quay.registry.quay_organization:
        name: production

- name: Remove an organization and everything in it
  quay.registry.quay_organization:
    name: oldproject
    state: absent
    quay_host: https://quay.example.com
    quay_username: admin
    quay_password: "{{ quay_admin_password }}"
"""

RETURN = r"""
organization:
  description: The organization after the run (as it would be, in check mode); empty when absent.
  returned: always
  type: dict
  sample: {"name": "production", "email": "production@example.com"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quay.registry.plugins.module_utils.quay_api import (
    QUAY_API_MUTUALLY_EXCLUSIVE,
    QUAY_API_REQUIRED_TOGETHER,
    QuayApi,
    QuayApiError,
    path,
    quay_argument_spec,
)


def main():
    module = AnsibleModule(
        argument_spec=quay_argument_spec(
            name=dict(type="str", required=True),
            email=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        mutually_exclusive=QUAY_API_MUTUALLY_EXCLUSIVE,
        required_together=QUAY_API_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    api = QuayApi(module)
    name = module.params["name"]
    email = module.params["email"]
    state = module.params["state"]
    org_path = path("organization", name)

    try:
        current = api.get(org_path)
    except QuayApiError as exc:
        api.fail(exc)
    before = {} if current is None else {"name": current["name"], "email": current.get("email") or ""}

    if state == "absent":
        after = {}
    else:
        after = dict(before) if before else {"name": name, "email": ""}
        if email is not None:
            after["email"] = email
    changed = before != after
    result = dict(changed=changed, organization=after)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if not changed or module.check_mode:
        module.exit_json(**result)

    if current is not None and not current.get("is_admin"):
        module.fail_json(
            msg="organization %s exists, but the API user is not one of its administrators: it cannot be %s"
            % (name, "deleted" if state == "absent" else "changed"),
            **result
        )
    try:
        if state == "absent":
            api.request("DELETE", org_path)
        elif current is None:
            api.request("POST", "/organization/", body={"name": name, "email": email})
        else:
            api.request("PUT", org_path, body={"email": email})
    except QuayApiError as exc:
        api.fail(exc, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
