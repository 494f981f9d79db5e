#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: quay_quota
short_description: Set, change or remove an organization's storage quota and its limits
version_added: "0.2.0"
description:
  - Sets the storage quota of an organization (C(POST /api/v1/organization/{org}/quota)), changes
    its size (C(PUT .../quota/{id})) and makes its C(Warning) and C(Reject) limits exactly the
    ones given (C(POST) and C(DELETE .../quota/{id}/limit)), or removes it
    (C(DELETE .../quota/{id})).
  - The registry needs C(FEATURE_QUOTA_MANAGEMENT) (role variable
    C(quay_registry_feature_quota_management)).
author:
  - quay.registry contributors (@quay-registry)
extends_documentation_fragment:
  - quay.registry.attributes
  - quay.registry.quay_api
options:
  organization:
    description: Name of the organization.
    type: str
    required: true
  limit_bytes:
    description: Size of the quota in bytes.
    type: int
  limit:
    description:
      - Size of the quota as Quay's human-readable form, for example C(10 GiB), C(500MB) or C(2G)
        (K, Ki, KiB... are binary; KB, MB... decimal).
    type: str
  limits:
    description:
      - The quota's limits. When given, exactly these exist afterwards (others are deleted); when
        not given, the limits are left as they are.
      - A push that would take the organization's consumption to a C(Reject) limit is refused; crossing
        a C(Warning) limit raises a C(quota_warning) event. At most one C(Reject) limit.
    type: list
    elements: dict
    suboptions:
      type:
        description: Kind of limit.
        type: str
        required: true
        choices: [Warning, Reject]
      threshold_percent:
        description: Percent of the quota at which the limit applies (1-100).
        type: int
        required: true
  state:
    description:
      - V(absent) removes the quota and its limits (a missing quota is not an error).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Setting and removing quotas needs a superuser (an API token with the C(super:user) scope);
    members of the organization may read them.
"""

EXAMPLES = r"""
- name: Ten gibibytes for production, warn at 80 %, refuse pushes at 100 %
  quay.registry.quay_quota:
    organization: production
    limit: 10 GiB
    limits:
      - {type: Warning, threshold_percent: 80}
      - {type: Reject, threshold_percent: 100}
    quay_host: https://quay.example.com
    quay_token: "{{ quay_superuser_token }}"

- name: No quota for the sandbox organization
  quay.registry.quay_quota:
    organization: sandbox
    state: absent
    quay_host: https://quay.example.com
    quay_token: "{{ quay_superuser_token }}"
"""

RETURN = r"""
quota:
  description: The quota after the run (as it would be, in check mode); empty when absent.
  returned: always
  type: dict
  sample: {"limit_bytes": 10737418240, "limits": [{"type": "Reject", "threshold_percent": 100}]}
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
    set_changes,
)

_UNITS = {"": 1, "B": 1}
for _i, _p in enumerate("KMGTP", start=1):
    _UNITS.update({_p: 1024 ** _i, _p + "I": 1024 ** _i, _p + "IB": 1024 ** _i, _p + "B": 1000 ** _i})
_LIMIT = re.compile(r"^(\d+)\s?([A-Za-z]*)$")


def parse_limit(text):
    """Bytes of Quay's human-readable ``limit`` (registry_app's services/quota.py rules), or None."""
    found = _LIMIT.match((text or "").strip())
    if not found or found.group(2).upper() not in _UNITS:
        return None
    return int(found.group(1)) * _UNITS[found.group(2).upper()]


def limit_set(limits):
    """{(type, percent)} of limits in the module's or the API's shape."""
    out = set()
    for lim in limits or []:
        percent = lim.get("threshold_percent", lim.get("limit_percent"))
        out.add((lim["type"], int(percent)))
    return out


def shown(limit_bytes, limits):
    return {
        "limit_bytes": limit_bytes,
        "limits": [{"type": t, "threshold_percent": p} for t, p in sorted(limits)],
    }


def main():
    module = AnsibleModule(
        argument_spec=quay_argument_spec(
            organization=dict(type="str", required=True),
            limit_bytes=dict(type="int"),
            limit=dict(type="str"),
            limits=dict(
                type="list",
                elements="dict",
                options=dict(
                    type=dict(type="str", required=True, choices=["Warning", "Reject"]),
                    threshold_percent=dict(type="int", required=True),
                ),
            ),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        mutually_exclusive=QUAY_API_MUTUALLY_EXCLUSIVE + [("limit_bytes", "limit")],
        required_together=QUAY_API_REQUIRED_TOGETHER,
        required_if=[("state", "present", ("limit_bytes", "limit"), True)],
        supports_check_mode=True,
    )
    params = module.params
    org = params["organization"]
    state = params["state"]
    limit_bytes = params["limit_bytes"]
    if params["limit"] is not None:
        limit_bytes = parse_limit(params["limit"])
        if limit_bytes is None:
            module.fail_json(msg="limit %r: use a number and a unit, e.g. 10 GiB or 500MB" % params["limit"])
    if state == "present" and limit_bytes <= 0:
        module.fail_json(msg="the quota must be at least 1 byte")
    wanted_limits = None if params["limits"] is None else limit_set(params["limits"])
    if wanted_limits is not None:
        bad = [lim[1] for lim in wanted_limits if not 0 < lim[1] <= 100]
        if bad:
            module.fail_json(msg="threshold_percent must be between 1 and 100, not %s" % bad[0])
        if len([lim for lim in wanted_limits if lim[0] == "Reject"]) > 1:
            module.fail_json(msg="at most one limit of type Reject")

    api = QuayApi(module)
    quota_path = path("organization", org, "quota")
    try:
        listed = api.get(quota_path)
    except QuayApiError as exc:
        api.fail(exc)
    if listed is None:
        module.fail_json(
            msg="GET /api/v1%s: not found: no organization %s, or FEATURE_QUOTA_MANAGEMENT is off" % (quota_path, org)
        )
    current = next((q for q in listed if q.get("id") is not None and not q.get("default_config")), None)
    current_limits = limit_set(current["limits"]) if current else set()
    before = shown(current["limit_bytes"], current_limits) if current else {}

    if state == "absent":
        after = {}
    else:
        after = shown(limit_bytes, current_limits if wanted_limits is None else wanted_limits)
    changed = before != after
    result = dict(changed=changed, quota=after)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if not changed or module.check_mode:
        module.exit_json(**result)

    try:
        if state == "absent":
            api.request("DELETE", path("organization", org, "quota", current["id"]))
            module.exit_json(**result)
        if current is None:
            api.request("POST", quota_path, body={"limit_bytes": limit_bytes})
            current = next(q for q in api.get(quota_path, missing=()) if q.get("id") is not None)
        elif current["limit_bytes"] != limit_bytes:
            api.request("PUT", path("organization", org, "quota", current["id"]), body={"limit_bytes": limit_bytes})
        if wanted_limits is not None:
            add, remove = set_changes(current_limits, wanted_limits, append=False)
            ids = dict(((lim["type"], lim["limit_percent"]), lim["id"]) for lim in current.get("limits", []))
            for key in remove:  # first, so that a Reject limit can be replaced by another
                api.request("DELETE", path("organization", org, "quota", current["id"], "limit", ids[key]))
            for kind, percent in add:
                api.request(
                    "POST",
                    path("organization", org, "quota", current["id"], "limit"),
                    body={"type": kind, "threshold_percent": percent},
                )
    except QuayApiError as exc:
        api.fail(exc, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
