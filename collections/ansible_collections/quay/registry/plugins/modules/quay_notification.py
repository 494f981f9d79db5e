#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: quay_notification
short_description: Manage a repository notification in a Quay-compatible registry
version_added: "0.1.0"
description:
  - Creates, replaces or deletes a repository notification
    (C(/api/v1/repository/{namespace}/{repository}/notification/)), that is an event of the
    repository (a push, expiring tags, a vulnerability found, a quota threshold) sent by webhook,
    e-mail or Slack.
  - A notification is found by its O(title) in the repository. Quay's API cannot change a
    notification, so a different event, method, config or event config deletes it and creates it
    again (its failure count starts from zero).
  - Can also reset the failure count of a notification that three failed deliveries disabled
    (O(reset_failures)) and send a test notification with the event's sample data (O(test)).
author:
  - quay.registry contributors (@quay-registry)
extends_documentation_fragment:
  - quay.registry.attributes
  - quay.registry.quay_api
options:
  repository:
    description: The repository, C(namespace/name).
    type: str
    required: true
  title:
    description:
      - The notification's title, which identifies it in the repository (unique per repository
        for this module).
    type: str
    required: true
  event:
    description: The event that is sent. Required with O(state=present).
    type: str
    choices: [repo_push, repo_image_expiry, vulnerability_found, quota_warning, quota_error]
  method:
    description: How it is sent. Required with O(state=present).
    type: str
    choices: [webhook, email, slack]
  config:
    description:
      - The method's settings, as Quay takes them; C(url) for V(webhook) (with an optional JSON
        body C(template)) and V(slack), C(email) for V(email).
      - Webhook and Slack URLs often hold tokens, so this option is not logged and the diff shows
        its values redacted.
    type: dict
    default: {}
  event_config:
    description:
      - The event's settings; C(level) (a priority index, 0 Critical to 5 Unknown) for
        V(vulnerability_found), C(days) for V(repo_image_expiry).
    type: dict
    default: {}
  reset_failures:
    description: Reset the failure count of a notification that is disabled (three failures or more).
    type: bool
    default: false
  test:
    description: Queue a test notification (the event's sample data) after the run. Always reports a change.
    type: bool
    default: false
  state:
    description: V(absent) deletes the notification (a missing one is not an error).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Needs an administrator of the repository.
  - E-mail notifications need C(FEATURE_MAILING) and the C(MAIL_*) settings of the registry.
"""

EXAMPLES = r"""
- name: Tell CI about every push
  quay.registry.quay_notification:
    repository: production/app
    title: CI webhook
    event: repo_push
    method: webhook
    config:
      url: https://ci.example.com/hooks/quay
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"

- name: Critical and high vulnerabilities to the security team
  quay.registry.quay_notification:
    repository: production/app
    title: security mail
    event: vulnerability_found
    method: email
    config:
      email: security@example.com
    event_config:
      level: 1
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"

- name: Enable a notification again after its receiver was fixed
  quay.registry.quay_notification:
    repository: production/app
    title: CI webhook
    event: repo_push
    method: webhook
    config:
      url: https://ci.example.com/hooks/quay
    reset_failures: true
    quay_host: https://quay.example.com
    quay_token: "{{ quay_api_token }}"
"""

RETURN = r"""
notification:
  description:
    - The notification after the run, as the API shows it (C(config) values redacted); empty when absent.
    - In check mode, what it would be (no C(uuid) for one not created yet).
  returned: always
  type: dict
  sample: {"uuid": "5f0c…", "title": "CI webhook", "event": "repo_push", "method": "webhook",
           "config": {"url": "********"}, "event_config": {}, "number_of_failures": 0}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quay.registry.plugins.module_utils.quay_api import (
    QUAY_API_MUTUALLY_EXCLUSIVE,
    QUAY_API_REQUIRED_TOGETHER,
    REDACTED,
    QuayApi,
    QuayApiError,
    path,
    quay_argument_spec,
)

EVENTS = ["repo_push", "repo_image_expiry", "vulnerability_found", "quota_warning", "quota_error"]
METHODS = ["webhook", "email", "slack"]
FAILURE_LIMIT = 3  # Quay disables a notification at three failures in a row


def redacted(view):
    """A notification view with its config values hidden (URLs may hold tokens)."""
    if not view:
        return {}
    out = dict(view)
    out["config"] = dict((k, REDACTED) for k in (view.get("config") or {}))
    return out


def wanted_view(params):
    return {
        "title": params["title"], "event": params["event"], "method": params["method"],
        "config": params["config"] or {}, "event_config": params["event_config"] or {},
    }


def comparable(view):
    """What the module manages of a notification (not its uuid or failure count)."""
    if not view:
        return {}
    return dict((k, view.get(k) if k not in ("config", "event_config") else view.get(k) or {})
                for k in ("title", "event", "method", "config", "event_config"))


def main():
    module = AnsibleModule(
        argument_spec=quay_argument_spec(
            repository=dict(type="str", required=True),
            title=dict(type="str", required=True),
            event=dict(type="str", choices=EVENTS),
            method=dict(type="str", choices=METHODS),
            config=dict(type="dict", default={}, no_log=True),
            event_config=dict(type="dict", default={}),
            reset_failures=dict(type="bool", default=False),
            test=dict(type="bool", default=False),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        mutually_exclusive=QUAY_API_MUTUALLY_EXCLUSIVE,
        required_together=QUAY_API_REQUIRED_TOGETHER,
        required_if=[("state", "present", ("event", "method"))],
        supports_check_mode=True,
    )
    p = module.params
    namespace, slash, name = p["repository"].partition("/")
    if not slash or not namespace or not name:
        module.fail_json(msg="repository %r: give namespace/name" % p["repository"])
    api = QuayApi(module)
    base = path("repository", namespace, name, "notification") + "/"
    try:
        listing = api.get(base, missing=(404,))
    except QuayApiError as exc:
        if exc.status == 403:
            module.fail_json(msg="the API user is not an administrator of %s: %s" % (p["repository"], exc.message))
        api.fail(exc)
    if listing is None:
        if p["state"] == "absent":
            module.exit_json(changed=False, notification={})
        if not module.check_mode:
            module.fail_json(msg="repository %s does not exist (create it first, e.g. with "
                             "quay.registry.quay_repository)" % p["repository"])
        module.warn("repository %s does not exist yet: check mode assumes that an earlier task creates it"
                    % p["repository"])
    same_title = [n for n in (listing or {}).get("notifications", []) if n.get("title") == p["title"]]
    if len(same_title) > 1:
        module.fail_json(msg="%d notifications of %s have the title %r: this module needs titles to be unique "
                         "(delete the extra ones)" % (len(same_title), p["repository"], p["title"]))
    current = same_title[0] if same_title else None

    before = comparable(current)
    after = {} if p["state"] == "absent" else wanted_view(p)
    replace = bool(current) and bool(after) and before != after
    create = current is None and bool(after)
    delete = bool(current) and (not after or replace)
    reset = bool(after) and p["reset_failures"] and not create and not replace and \
        bool(current) and int(current.get("number_of_failures") or 0) > 0
    changed = bool(create or delete or reset or (p["test"] and after))
    result_view = {}
    if after:
        fresh = create or replace
        failures = 0 if fresh or reset else int((current or {}).get("number_of_failures") or 0)
        result_view = dict(after, uuid=None if fresh else current["uuid"], number_of_failures=failures)
    result = dict(changed=changed, notification=redacted(result_view))
    if module._diff:
        result["diff"] = dict(before=redacted(before), after=redacted(after))
    if module.check_mode:
        module.exit_json(**result)
    try:
        if delete:
            api.request("DELETE", base + path(current["uuid"])[1:])
        if create or replace:
            body = {"event": p["event"], "method": p["method"], "config": p["config"] or {},
                    "eventConfig": p["event_config"] or {}, "title": p["title"]}
            created = api.request("POST", base, body=body)[1]
            result_view = created
        elif reset:
            api.request("POST", base + path(current["uuid"])[1:])
            result_view = dict(current, number_of_failures=0)
        elif current is not None and after:
            result_view = current
        if after and p["test"]:
            api.request("POST", base + path(result_view["uuid"])[1:] + "/test")
    except QuayApiError as exc:
        api.fail(exc, **result)
    result["notification"] = redacted(result_view) if after else {}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
