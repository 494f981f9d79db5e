"""LDAP authentication with Quay's LDAP_* keys, over ldap3.

A login is Quay's (``data/users/externalldap.py``):

1. bind as ``LDAP_ADMIN_DN`` / ``LDAP_ADMIN_PASSWD``;
2. search each user base — ``LDAP_USER_RDN`` + ``LDAP_BASE_DN``, then each of
   ``LDAP_SECONDARY_USER_RDNS`` + ``LDAP_BASE_DN`` — with ``(|(UID_ATTR=name)(EMAIL_ATTR=name))``
   ANDed with ``LDAP_USER_FILTER`` (so people may sign in with their uid or their e-mail address);
3. bind as the entry found with the given password: that bind is the password check.

The account is the entry's ``LDAP_UID_ATTR`` value (default ``uid``) and its e-mail the first
``LDAP_EMAIL_ATTR`` value (default ``mail``). Superusers are the users that also match
``LDAP_SUPERUSER_FILTER``.

Connections time out (``LDAP_NETWORK_TIMEOUT`` to connect, ``LDAP_TIMEOUT`` per operation, 10 s
each by default): a directory that is down, silent or refuses the admin bind makes the login fail
with ``LdapUnavailable`` (HTTP 503, naming the LDAP URI), never a hang and never a 401 that would
blame the user. ``ldaps://`` certificates are verified against the system CAs plus ``ldap.crt``
and ``extra_ca_certs/`` in the config bundle; ``LDAP_ALLOW_INSECURE_FALLBACK: true`` retries an
``ldaps://`` connection whose certificate cannot be verified without verification (logged).
``ldap://`` is plain LDAP, as in Quay. Passwords never reach a log or an error message.
"""

from __future__ import annotations

import logging
import math
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPSocketOpenError
from ldap3.utils.conv import escape_filter_chars

from registry_app.services.errors import RegistryError
from registry_app.services.passwords import MAX_PASSWORD_LENGTH
from registry_app.settings.ldap import LdapSettings, LdapUri

log = logging.getLogger("registry_app.ldap")

SEARCH_SIZE_LIMIT = 20  # as Quay: a handful of candidates, the best one is chosen
SUPERUSER_MEMO_SECONDS = 5.0  # authenticate() answers the is_superuser() that follows it

# LDAP result codes (RFC 4511)
SUCCESS = 0
SIZE_LIMIT_EXCEEDED = 4
NO_SUCH_OBJECT = 32
INVALID_CREDENTIALS = 49


class LdapUnavailable(RegistryError):
    """The directory cannot answer: unreachable, timed out, TLS refused, admin bind rejected or
    misconfigured. Not the user's fault, so not a 401."""

    code = "UNKNOWN"
    status = 503


@dataclass(frozen=True)
class _Entry:
    dn: str
    uid: str
    email: str | None


def _values(attributes: Any, name: str) -> list[str]:
    value = attributes.get(name) if attributes else None
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in items if v not in (None, "", b"")]


@dataclass
class _Bound:
    """A bound connection and the URI it reached."""

    conn: ldap3.Connection
    uri: LdapUri


class LdapDirectory:
    """The DirectoryAuth of AUTHENTICATION_TYPE: LDAP (see ``registry_app.services.auth``)."""

    def __init__(self, settings: LdapSettings) -> None:
        self.problems = list(settings.problems)
        self.settings = settings
        self._memo: dict[str, tuple[bool, float]] = {}
        self._memo_lock = threading.Lock()
        self._warned_insecure: set[str] = set()
        if self.problems:
            # Not raised here: this runs in each server worker, which would be respawned forever.
            log.error("LDAP configuration is unusable: %s", "; ".join(self.problems))

    # -- DirectoryAuth -------------------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> tuple[str, str | None] | None:
        """(uid, email) when the directory accepts the password, None when it does not."""
        if not username or not password:
            return None  # an empty password would be an unauthenticated bind (RFC 4513 5.1.2)
        if len(password) > MAX_PASSWORD_LENGTH:
            return None  # as for database users (services/passwords.py): never a valid password
        with self._admin() as admin:
            entry = self._find(admin, username, self.settings.user_filter)
            if entry is None:
                log.debug("LDAP login %r: no matching entry", username)
                return None
            if not self._password_ok(entry.dn, password):
                log.debug("LDAP login %r: password rejected for %s", username, entry.dn)
                return None
            if self.settings.superuser_filter:
                superuser = self._matches_superuser(admin, entry.uid)
                now = time.monotonic()
                with self._memo_lock:
                    if len(self._memo) > 1000:
                        self._memo = {k: v for k, v in self._memo.items() if v[1] > now}
                    self._memo[entry.uid] = (superuser, now + SUPERUSER_MEMO_SECONDS)
        return entry.uid, entry.email

    def is_superuser(self, username: str) -> bool:
        """Whether the user matches LDAP_SUPERUSER_FILTER (and LDAP_USER_FILTER)."""
        if not self.settings.superuser_filter:
            return False
        with self._memo_lock:
            memo = self._memo.pop(username, None)
        if memo is not None and memo[1] > time.monotonic():
            return memo[0]
        with self._admin() as admin:
            return self._matches_superuser(admin, username)

    # -- searches ------------------------------------------------------------------------------
    def _user_query(self, name: str, *filters: str | None) -> str:
        s = self.settings
        value = escape_filter_chars(name)
        query = f"(|({s.uid_attr}={value})({s.email_attr}={value}))"
        extra = "".join(f for f in filters if f)
        return f"(&{query}{extra})" if extra else query

    def _matches_superuser(self, bound: _Bound, name: str) -> bool:
        s = self.settings
        if not s.superuser_filter:
            return False
        return self._find(bound, name, s.user_filter, s.superuser_filter) is not None

    def _find(self, bound: _Bound, name: str, *filters: str | None) -> _Entry | None:
        s = self.settings
        conn = bound.conn
        query = self._user_query(name, *filters)
        for base in s.user_bases:
            try:
                conn.search(
                    base, query, search_scope=ldap3.SUBTREE, attributes=[s.uid_attr, s.email_attr],
                    size_limit=SEARCH_SIZE_LIMIT, time_limit=max(1, math.ceil(s.timeout)),
                )
            except LDAPException as exc:
                reason = self._describe(exc, conn.last_error)
                raise self._unavailable(bound.uri.text, f"search under {base} failed: {reason}") from None
            result = conn.result or {}
            code = result.get("result")
            if code == NO_SUCH_OBJECT:
                continue  # this base does not exist: try the next one
            if code not in (SUCCESS, SIZE_LIMIT_EXCEEDED):
                reason = f"search under {base} failed: {result.get('description')} {result.get('message') or ''}"
                raise self._unavailable(bound.uri.text, reason.strip())
            entries = [self._entry(r) for r in conn.response or [] if r.get("type") == "searchResEntry"]
            found = [e for e in entries if e is not None]
            if found:
                # Prefer the entry whose uid is the name given, then one with an e-mail (as Quay).
                found.sort(key=lambda e: (e.uid.lower() != name.lower(), e.email is None))
                return found[0]
        return None

    def _entry(self, response: dict[str, Any]) -> _Entry | None:
        s = self.settings
        attributes = response.get("attributes") or {}
        uids = _values(attributes, s.uid_attr)
        if not uids:
            log.warning("LDAP entry %s has no %s attribute: it cannot sign in", response.get("dn"), s.uid_attr)
            return None
        emails = _values(attributes, s.email_attr)
        return _Entry(dn=str(response.get("dn")), uid=uids[0], email=emails[0] if emails else None)

    # -- connections ---------------------------------------------------------------------------
    def _unavailable(self, where: str, reason: str, password: str | None = None) -> LdapUnavailable:
        for secret in (self.settings.admin_password, password):
            if secret:
                reason = reason.replace(secret, "***")
        log.warning("LDAP directory %s unavailable: %s", where, reason)
        # The client learns only that the directory cannot answer; where and why are logged.
        return LdapUnavailable(
            "the LDAP directory is unavailable", log_detail=f"the LDAP directory at {where} is unavailable: {reason}"
        )

    def _describe(self, exc: LDAPException, last_error: str | None = None) -> str:
        text = last_error or str(exc)  # ldap3's last_error is the readable one for socket errors
        if "timed out" in text:
            if isinstance(exc, LDAPSocketOpenError):
                return f"no connection within {self.settings.network_timeout:g} s (LDAP_NETWORK_TIMEOUT)"
            return f"no answer within {math.ceil(self.settings.timeout)} s (LDAP_TIMEOUT)"
        return text

    def _server(self, uri: LdapUri, verify: bool) -> ldap3.Server:
        s = self.settings
        tls = None
        if uri.tls:
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE,
                ca_certs_data=s.ca_pem if verify else None,
            )
        # A new Server per connection: a shared one marks a refused address unusable for 5 s.
        return ldap3.Server(
            uri.host, port=uri.port, use_ssl=uri.tls, tls=tls, connect_timeout=s.network_timeout,
            get_info=ldap3.NONE,
        )

    def _bind(self, dn: str, password: str) -> tuple[_Bound | None, LdapUri, dict[str, Any]]:
        """(the bound connection or None when the bind is refused, the URI that answered, its result).

        Tries each URI of LDAP_URI in turn; raises LdapUnavailable when none answers."""
        s = self.settings
        if self.problems:
            raise LdapUnavailable(
                "the LDAP directory is unavailable", log_detail="LDAP is misconfigured: " + "; ".join(self.problems)
            )
        errors = []
        for uri in s.uris:
            attempts = (True, False) if s.allow_insecure_fallback and uri.tls else (True,)
            for verify in attempts:
                conn = ldap3.Connection(
                    self._server(uri, verify), user=dn, password=password, read_only=True,
                    receive_timeout=max(1, math.ceil(s.timeout)), raise_exceptions=False, client_strategy=ldap3.SYNC,
                )
                try:
                    ok = conn.bind()
                except LDAPException as exc:
                    reason = self._describe(exc, conn.last_error)
                    conn.unbind()
                    if verify and len(attempts) > 1 and "ssl" in reason.lower():
                        if uri.text not in self._warned_insecure:
                            self._warned_insecure.add(uri.text)
                            log.warning(
                                "LDAP %s: TLS certificate not verified (%s); LDAP_ALLOW_INSECURE_FALLBACK "
                                "lets the connection go on without verification", uri.text, reason,
                            )
                        continue
                    errors.append((uri.text, reason))
                    break
                result = dict(conn.result or {})
                if ok:
                    return _Bound(conn, uri), uri, result
                conn.unbind()
                return None, uri, result
        where = " ".join(u for u, _ in errors) or "(no LDAP_URI)"
        raise self._unavailable(where, "; ".join(reason for _, reason in errors) or "nothing to connect to", password)

    @contextmanager
    def _admin(self) -> Iterator[_Bound]:
        s = self.settings
        bound, uri, result = self._bind(s.admin_dn, s.admin_password)
        if bound is None:
            raise self._unavailable(
                uri.text, f"it refused the LDAP_ADMIN_DN/LDAP_ADMIN_PASSWD bind ({result.get('description')})"
            )
        try:
            yield bound
        finally:
            bound.conn.unbind()

    def _password_ok(self, dn: str, password: str) -> bool:
        bound, _, result = self._bind(dn, password)
        if bound is None:
            if result.get("result") != INVALID_CREDENTIALS:
                log.info("LDAP bind as %s refused: %s", dn, result.get("description"))
            return False
        bound.conn.unbind()
        return True
