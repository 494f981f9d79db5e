# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""A small client for Quay's /api/v1 (registry_app implements it), shared by the quay_* modules.

Authentication is an API (OAuth) token sent as ``Authorization: Bearer`` or a user's password
sent as HTTP basic auth. Quay's error JSON (``error_message``/``detail``/``error_type``) becomes a
one-line message that names the request. Only ansible-core and the standard library are used.

The pure functions at the end (``set_changes``, ``permission_changes``) hold the idempotence
logic of the modules; the unit tests call them directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode
from ansible.module_utils.urls import fetch_url


QUAY_API_ARGUMENT_SPEC = dict(
    quay_host=dict(type="str", default="http://127.0.0.1", fallback=(env_fallback, ["QUAY_HOST"])),
    quay_token=dict(type="str", no_log=True, fallback=(env_fallback, ["QUAY_TOKEN"])),
    quay_username=dict(type="str", fallback=(env_fallback, ["QUAY_USERNAME"])),
    quay_password=dict(type="str", no_log=True, fallback=(env_fallback, ["QUAY_PASSWORD"])),
    validate_certs=dict(type="bool", default=True, aliases=["verify_ssl"], fallback=(env_fallback, ["QUAY_VERIFY_SSL"])),
    ca_path=dict(type="path"),
    timeout=dict(type="int", default=30),
)

QUAY_API_MUTUALLY_EXCLUSIVE = [("quay_token", "quay_username"), ("quay_token", "quay_password")]
QUAY_API_REQUIRED_TOGETHER = [("quay_username", "quay_password")]

REDACTED = "********"


def quay_argument_spec(**module_options):
    """The connection options plus the module's own."""
    spec = dict(QUAY_API_ARGUMENT_SPEC)
    spec.update(module_options)
    return spec


def path(*parts):
    """``/a/b`` with every part quoted (robot names contain ``+``, team names may contain ``.``)."""
    return "".join("/" + quote(str(p), safe="") for p in parts)


def error_message(status, body):
    """Quay's API error JSON (or any body) as one line: ``HTTP 400 (invalid_request): message``."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    detail = None
    kind = None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        detail = data.get("error_message") or data.get("detail") or data.get("message")
        kind = data.get("error_type") or data.get("title")
        if isinstance(data.get("errors"), list) and not detail:  # /v2 style
            detail = "; ".join(str(e.get("message", e)) for e in data["errors"] if isinstance(e, dict))
    if not detail:
        detail = text.strip()[:300] or "no details in the answer"
    return "HTTP %s%s: %s" % (status, " (%s)" % kind if kind else "", detail)


class QuayApiError(Exception):
    def __init__(self, message, status=None):
        super(QuayApiError, self).__init__(message)
        self.message = message
        self.status = status


class QuayApi(object):
    """The API of one registry, for one AnsibleModule (whose params hold the connection options)."""

    def __init__(self, module):
        self.module = module
        params = module.params
        host = (params["quay_host"] or "").strip().rstrip("/")
        if not host:
            module.fail_json(msg="quay_host is empty: give the registry's URL, e.g. https://quay.example.com")
        if "://" not in host:
            host = "https://" + host
        if not host.startswith(("http://", "https://")):
            module.fail_json(msg="quay_host must be an http:// or https:// URL, not %r" % params["quay_host"])
        self.host = host
        self.base = host + "/api/v1"
        self.headers = {"Accept": "application/json"}
        if params.get("quay_token"):
            self.headers["Authorization"] = "Bearer " + params["quay_token"]
        elif params.get("quay_username"):
            pair = "%s:%s" % (params["quay_username"], params["quay_password"])
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        else:
            module.fail_json(
                msg="no credentials: set quay_token (an API token) or quay_username and quay_password "
                "(or the QUAY_TOKEN / QUAY_USERNAME and QUAY_PASSWORD environment variables)"
            )
        self._me = None

    # -- transport ---------------------------------------------------------------------------------
    def request(self, method, api_path, body=None, query=None, missing=()):
        """(status, decoded JSON or None). Statuses in ``missing`` return (status, None); any other
        non-2xx raises QuayApiError with a message naming the request."""
        url = self.base + api_path
        if query:
            url += "?" + urlencode(query)
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        resp, info = fetch_url(
            self.module,
            url,
            data=data,
            headers=headers,
            method=method,
            timeout=self.module.params["timeout"],
            ca_path=self.module.params.get("ca_path"),
            use_netrc=False,
        )
        status = info.get("status", -1)
        what = "%s %s" % (method, url)
        if status == -1 or status is None:
            reason = info.get("msg", "unknown error")
            hint = ""
            if "CERTIFICATE_VERIFY_FAILED" in reason or "certificate verify failed" in reason.lower():
                hint = " (set ca_path to the CA that signed the registry's certificate)"
            raise QuayApiError("cannot reach the registry: %s: %s%s" % (what, reason, hint))
        if "body" in info:  # an HTTP error: fetch_url has read the body already
            raw = info["body"] or b""
        else:
            raw = resp.read() if resp is not None else b""
        if status in missing:
            return status, None
        if not 200 <= status < 300:
            message = "%s failed: %s" % (what, error_message(status, raw))
            if status == 401:
                message += " (check quay_token, or quay_username and quay_password)"
            raise QuayApiError(message, status)
        if not raw:
            return status, None
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw

    def get(self, api_path, query=None, missing=(404,)):
        """The JSON of a GET, or None when the status is in ``missing``."""
        return self.request("GET", api_path, query=query, missing=missing)[1]

    def me(self):
        """The signed-in account's name (GET /user/)."""
        if self._me is None:
            self._me = self.get("/user/", missing=())["username"]
        return self._me

    def fail(self, error, **result):
        self.module.fail_json(msg=error.message if isinstance(error, QuayApiError) else str(error), **result)


# -- idempotence logic (pure) ----------------------------------------------------------------------
def set_changes(current, wanted, append):
    """Members to (add, remove) so that ``current`` holds ``wanted`` (and, unless ``append``, only
    them). Both sorted."""
    current = set(current)
    wanted = set(wanted)
    add = sorted(wanted - current)
    remove = [] if append else sorted(current - wanted)
    return add, remove


def permission_changes(current, wanted, append, keep=()):
    """Repository permissions to (set, remove).

    ``current`` and ``wanted`` map (kind, name) to a role, kind being ``user`` (users and robots)
    or ``team``. ``set`` lists (kind, name, role) whose role is missing or different; ``remove``
    lists (kind, name) present but not wanted, unless ``append`` or the name is in ``keep`` (the
    namespace owner, whose admin role cannot be removed)."""
    to_set = sorted((k, n, r) for (k, n), r in wanted.items() if current.get((k, n)) != r)
    to_remove = []
    if not append:
        to_remove = sorted(key for key in current if key not in wanted and key[1] not in keep)
    return to_set, to_remove


def permission_list(perms, robots=()):
    """A (kind, name) -> role map as the module shows it: a sorted list of {name, type, role}."""
    out = []
    for (kind, name), role in sorted(perms.items()):
        shown = "team" if kind == "team" else ("robot" if name in robots or "+" in name else "user")
        out.append({"name": name, "type": shown, "role": role})
    return out
