"""``AUTHENTICATION_TYPE: LDAP``: the directory's URIs, bind account, user bases, filters,
timeouts and CA certificates, read as Quay reads its ``LDAP_*`` keys (``services/ldap.py`` uses
them), and the checks the schema cannot make (``ldap_problems``, run by the loader)."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ldap3.core.exceptions import LDAPInvalidFilterError
from ldap3.operation.search import parse_filter

DEFAULT_TIMEOUT = 10.0


def wrap_filter(text: str) -> str:
    text = text.strip()
    return text if text.startswith("(") and text.endswith(")") else f"({text})"


@dataclass(frozen=True)
class LdapUri:
    text: str
    host: str
    port: int
    tls: bool  # ldaps://


def parse_uri(uri: str) -> LdapUri:
    """ldap[s]://HOST[:PORT][/...] (what follows the host, as a DN in RFC 4516 URLs, is ignored)."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps"):
        raise ValueError(f"{uri!r} must start with ldap:// or ldaps://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{uri!r} has an invalid port") from None
    if not parts.hostname:
        raise ValueError(f"{uri!r} names no host")
    return LdapUri(uri, parts.hostname, port or (636 if scheme == "ldaps" else 389), scheme == "ldaps")


def ldap_problems(values: Mapping[str, Any]) -> list[str]:
    """Problems with the LDAP_* keys of a config (empty when usable), as 'KEY: what is wrong'."""
    problems = []
    uris = str(values.get("LDAP_URI") or "").split()
    if not uris:
        problems.append("LDAP_URI: required when AUTHENTICATION_TYPE is LDAP")
    for uri in uris:
        try:
            parse_uri(uri)
        except ValueError as exc:
            problems.append(f"LDAP_URI: {exc}")
    for key in ("LDAP_ADMIN_DN", "LDAP_ADMIN_PASSWD"):
        if not values.get(key):
            problems.append(f"{key}: required when AUTHENTICATION_TYPE is LDAP")
    if not values.get("LDAP_BASE_DN"):
        problems.append("LDAP_BASE_DN: required when AUTHENTICATION_TYPE is LDAP (a list such as [dc=example, dc=org])")
    for key in ("LDAP_USER_FILTER", "LDAP_SUPERUSER_FILTER"):
        text = values.get(key)
        if text:
            try:
                parse_filter(wrap_filter(str(text)), None, True, True, None, False)
            except LDAPInvalidFilterError as exc:
                problems.append(f"{key}: {text!r} is not an LDAP filter ({exc})")
    for key in ("LDAP_TIMEOUT", "LDAP_NETWORK_TIMEOUT"):
        value = values.get(key)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value <= 0):
            problems.append(f"{key}: expected a number of seconds > 0, got {value!r}")
    return problems


def _bundle_ca_pem(config_dir: Path | None) -> str | None:
    """PEM text of ``ldap.crt`` and ``extra_ca_certs/*`` in the bundle, or None when there are none."""
    if config_dir is None:
        return None
    files = [config_dir / "ldap.crt"]
    extra = config_dir / "extra_ca_certs"
    if extra.is_dir():
        files += sorted(p for p in extra.iterdir() if p.suffix in (".crt", ".pem"))
    pems = [p.read_text(encoding="ascii", errors="replace") for p in files if p.is_file()]
    return "\n".join(pems) if pems else None


def _system_ca_pem() -> str:
    paths = ssl.get_default_verify_paths()
    for name in (paths.cafile, paths.openssl_cafile):
        if name and Path(name).is_file():
            return Path(name).read_text(encoding="ascii", errors="replace")
    return ""


def _seconds(value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    return float(value) if ok else DEFAULT_TIMEOUT


def _uris(text: str) -> tuple[LdapUri, ...]:
    parsed = []
    for uri in text.split():
        try:
            parsed.append(parse_uri(uri))
        except ValueError:
            pass  # reported by ldap_problems
    return tuple(parsed)


@dataclass(frozen=True)
class LdapSettings:
    """``problems`` is what ``ldap_problems`` found: empty for a loaded config (the loader refuses
    one with problems); a directory built from hand-made settings reports them as unavailable."""

    uris: tuple[LdapUri, ...]
    admin_dn: str
    admin_password: str = field(repr=False)
    user_bases: tuple[str, ...]
    uid_attr: str = "uid"
    email_attr: str = "mail"
    user_filter: str | None = None
    superuser_filter: str | None = None
    allow_insecure_fallback: bool = False
    network_timeout: float = DEFAULT_TIMEOUT
    timeout: float = DEFAULT_TIMEOUT
    ca_pem: str | None = field(default=None, repr=False)
    problems: tuple[str, ...] = ()

    @classmethod
    def from_values(cls, values: Mapping[str, Any], config_dir: Path | None = None) -> LdapSettings:
        """``config_dir``: the bundle, whose ``ldap.crt`` and ``extra_ca_certs/`` are trusted
        besides the system CAs for ``ldaps://``."""
        base_dn = [str(p) for p in values.get("LDAP_BASE_DN") or []]
        user_rdn = [str(p) for p in values.get("LDAP_USER_RDN") or []]
        # As Quay: LDAP_USER_RDN is a list of RDN parts; LDAP_SECONDARY_USER_RDNS a list of RDN strings.
        relative = [",".join(user_rdn)] + [str(r) for r in values.get("LDAP_SECONDARY_USER_RDNS") or []]
        bases = tuple(",".join((r.split(",") if r else []) + base_dn) for r in relative)
        user_filter = values.get("LDAP_USER_FILTER")
        superuser_filter = values.get("LDAP_SUPERUSER_FILTER")
        bundle_ca = _bundle_ca_pem(config_dir)
        return cls(
            uris=_uris(str(values.get("LDAP_URI") or "")),
            admin_dn=str(values.get("LDAP_ADMIN_DN") or ""),
            admin_password=str(values.get("LDAP_ADMIN_PASSWD") or ""),
            user_bases=bases,
            uid_attr=str(values.get("LDAP_UID_ATTR") or "uid"),
            email_attr=str(values.get("LDAP_EMAIL_ATTR") or "mail"),
            user_filter=wrap_filter(str(user_filter)) if user_filter else None,
            superuser_filter=wrap_filter(str(superuser_filter)) if superuser_filter else None,
            allow_insecure_fallback=bool(values.get("LDAP_ALLOW_INSECURE_FALLBACK", False)),
            network_timeout=_seconds(values.get("LDAP_NETWORK_TIMEOUT")),
            timeout=_seconds(values.get("LDAP_TIMEOUT")),
            ca_pem=_system_ca_pem() + "\n" + bundle_ca if bundle_ca else None,
            problems=tuple(ldap_problems(values)),
        )
