#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: quay_autoprune_policy
short_description: Manage the auto-prune policies of an organization, a user or a repository
version_added: "0.2.0"
description:
  - Creates or deletes an auto-prune policy of a Quay-compatible registry
    (C(/api/v1/organization/{org}/autoprunepolicy/), C(/api/v1/user/autoprunepolicy/) or
    C(/api/v1/repository/{namespace}/{repo}/autoprunepolicy/)). The registry's autoprune worker
    then ends the tags a policy selects; ended tags stay restorable for the namespace's time
    machine window, and each pruned tag is written to the audit log.
  - A policy has no name; it is identified by its settings (O(method), O(value), O(tag_pattern),
    O(tag_pattern_matches)). The registry refuses two equal policies on the same owner.
    O(exclusive=true) makes the given policy the only one of its owner, which is how a policy's
    value is changed.
author:
  - quay.registry contributors (@quay-registry)
extends_documentation_fragment:
  - quay.registry.attributes
  - quay.registry.quay_api
options:
  namespace:
    description:
      - The organization, or the signed-in user's own namespace, that owns the policy (or the
        repository, with O(repository)).
    type: str
    required: true
  repository:
    description: Name of a repository of O(namespace); the policy is then that repository's.
    type: str
  method:
    description:
      - V(number_of_tags) keeps the O(value) newest tags and prunes the older ones;
        V(creation_date) prunes the tags pushed longer than O(value) ago.
      - Required with O(state=present) and for O(state=absent) unless O(exclusive=true).
    type: str
    choices: [number_of_tags, creation_date]
  value:
    description:
      - For V(number_of_tags), how many tags to keep (a positive integer). For V(creation_date),
        an age such as V(7d), V(12h) or V(2w) (units C(s), C(m), C(h), C(d), C(w)).
    type: raw
  tag_pattern:
    description:
      - A regular expression; the policy covers only the tags it matches (searched anywhere in
        the tag name), or with O(tag_pattern_matches=false) only those it does not match.
    type: str
  tag_pattern_matches:
    description: Whether the policy covers the tags that match O(tag_pattern) or those that do not.
    type: bool
    default: true
  exclusive:
    description:
      - With O(state=present), delete the owner's other auto-prune policies. With
        O(state=absent) and no O(method), delete all of them.
    type: bool
    default: false
  state:
    description: V(absent) deletes the policy equal to the one given (a missing one is not an error).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Organization policies need an administrator of the organization (API token scope
    C(org:admin)), repository policies an administrator of the repository (C(repo:admin)), the
    user's own policies the C(user:admin) scope.
  - The registry's C(DEFAULT_NAMESPACE_AUTOPRUNE_POLICY) (the registry role's
    C(quay_registry_default_autoprune_policy)) applies to every namespace beside these.
"""

EXAMPLES = r"""
- name: Keep the 20 newest tags of every repository of an organization
  quay.registry.quay_autoprune_policy:
    namespace: production
    method: number_of_tags
    value: 20
    exclusive: true
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"

- name: Prune development tags older than two weeks in one repository
  quay.registry.quay_autoprune_policy:
    namespace: production
    repository: web
    method: creation_date
    value: 2w
    tag_pattern: "^dev-"
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"

- name: Remove every policy of a repository
  quay.registry.quay_autoprune_policy:
    namespace: production
    repository: web
    state: absent
    exclusive: true
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"
"""

RETURN = r"""
policy:
  description: The policy as the registry shows it (with its C(uuid)); empty when absent or not created in check mode.
  returned: always
  type: dict
  sample: {"uuid": "5b1e7c3a-...", "method": "number_of_tags", "value": 20, "tagPattern": null, "tagPatternMatches": true}
policies:
  description: The owner's auto-prune policies after the run (as they would be in check mode), without uuids.
  returned: always
  type: list
  elements: dict
  sample: [{"method": "number_of_tags", "value": 20, "tagPattern": null, "tagPatternMatches": true}]
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

AGE = re.compile(r"^[0-9]+[smhdw]$")
KEYS = ("method", "value", "tagPattern", "tagPatternMatches")


def wanted_policy(module):
    """The policy in the API's shape, with the value checked as the registry checks it."""
    method, value = module.params["method"], module.params["value"]
    if method == "number_of_tags":
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            module.fail_json(msg="value must be a positive integer (how many tags to keep) for method number_of_tags")
    else:
        if not isinstance(value, str) or not AGE.match(value.strip()):
            module.fail_json(msg="value must be an age such as 7d, 12h or 2w for method creation_date, got %r" % (value,))
        value = value.strip()
    pattern = module.params["tag_pattern"]
    if pattern is not None:
        pattern = pattern.strip()
        try:
            re.compile(pattern)
        except re.error as exc:
            module.fail_json(msg="tag_pattern is not a regular expression: %s" % exc)
    return {"method": method, "value": value, "tagPattern": pattern or None,
            "tagPatternMatches": module.params["tag_pattern_matches"]}


def comparable(policy):
    return dict((k, policy.get(k)) for k in KEYS)


def main():
    module = AnsibleModule(
        argument_spec=quay_argument_spec(
            namespace=dict(type="str", required=True),
            repository=dict(type="str"),
            method=dict(type="str", choices=["number_of_tags", "creation_date"]),
            value=dict(type="raw"),
            tag_pattern=dict(type="str"),
            tag_pattern_matches=dict(type="bool", default=True),
            exclusive=dict(type="bool", default=False),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        mutually_exclusive=QUAY_API_MUTUALLY_EXCLUSIVE,
        required_together=QUAY_API_REQUIRED_TOGETHER + [["method", "value"]],
        required_if=[["state", "present", ["method", "value"]], ["exclusive", False, ["method"]]],
        supports_check_mode=True,
    )
    namespace, repository = module.params["namespace"], module.params["repository"]
    state, exclusive = module.params["state"], module.params["exclusive"]
    wanted = wanted_policy(module) if module.params["method"] is not None else None
    api = QuayApi(module)
    try:
        if repository:
            base = path("repository", namespace, repository, "autoprunepolicy") + "/"
        elif namespace == api.me():
            base = "/user/autoprunepolicy/"
        else:
            base = path("organization", namespace, "autoprunepolicy") + "/"
        listing = api.get(base)
    except QuayApiError as exc:
        if exc.status == 403:
            module.fail_json(msg="the API user may not manage the auto-prune policies of %s (not an administrator, "
                             "or the token lacks the admin scope): %s" % (repository and namespace + "/" + repository
                                                                          or namespace, exc.message))
        api.fail(exc)
    if listing is None:
        module.fail_json(msg="%s does not exist" % (namespace + "/" + repository if repository else namespace))
    current = listing.get("policies", [])
    equal = [p for p in current if wanted is not None and comparable(p) == wanted]
    if state == "present":
        delete = [p for p in current if exclusive and comparable(p) != wanted]
        create = not equal
    else:
        delete = current if (exclusive and wanted is None) else equal
        create = False
    kept = [comparable(p) for p in current if p not in delete]
    after = kept + ([wanted] if create else [])
    before = [comparable(p) for p in current]
    changed = bool(delete) or create
    result = dict(changed=changed, policies=after, policy=equal[0] if equal and state == "present" else {})
    if module._diff:
        result["diff"] = dict(before={"policies": before}, after={"policies": after})
    if module.check_mode or not changed:
        module.exit_json(**result)
    try:
        for policy in delete:
            api.request("DELETE", base + path(policy["uuid"]).lstrip("/"))
        if create:
            created = api.request("POST", base, body=wanted)[1]
            result["policy"] = dict(wanted, uuid=created["uuid"])
    except QuayApiError as exc:
        api.fail(exc, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
