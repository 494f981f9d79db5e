"""LDAP authentication with Quay's LDAP_* keys (ldap3). Filled in by the LDAP work."""

from __future__ import annotations

from typing import Any


class LdapDirectory:
    def __init__(self, config: Any) -> None:
        self.config = config

    def authenticate(self, username: str, password: str) -> tuple[str, str | None] | None:
        raise NotImplementedError("LDAP authentication is not implemented yet")

    def is_superuser(self, username: str) -> bool:
        return False
