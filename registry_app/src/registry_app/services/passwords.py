"""Password hashing (passlib) behind the only two calls the services make: ``hash`` and ``verify``.

passlib raises for input it will not hash (PasswordSizeError past 4096 characters, NUL bytes for
bcrypt) and for stored hashes it cannot identify. Those are ValueErrors nobody expected, and they
answered 500 with a traceback for a long password on /v2/auth and /api/v1. Here every such case
has one meaning: ``verify`` says False (no such password can be right), ``hash`` refuses with a
400-class IdentityError. A password is at most ``MAX_PASSWORD_LENGTH`` characters everywhere (the
API's request models and the CLI say the same).
"""

from __future__ import annotations

import logging

from passlib.context import CryptContext
from passlib.exc import PasswordValueError

from registry_app.services.identity import IdentityError

log = logging.getLogger("registry_app.passwords")

MAX_PASSWORD_LENGTH = 1024  # characters; at most 4096 UTF-8 bytes, passlib's own ceiling


class Passwords:
    def __init__(self, context: CryptContext) -> None:
        self.context = context

    def hash(self, password: str) -> str:
        if len(password) > MAX_PASSWORD_LENGTH:
            raise IdentityError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
        try:
            return str(self.context.hash(password))
        except PasswordValueError as exc:
            raise IdentityError(f"the password cannot be used: {exc}") from None

    def verify(self, password: str, hashed: str) -> bool:
        """Whether ``password`` matches ``hashed``; False for any password that could never be set
        (too long; NUL for bcrypt) and for a stored hash passlib cannot read (logged)."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        try:
            return bool(self.context.verify(password, hashed))
        except PasswordValueError:
            return False
        except ValueError as exc:  # the stored hash, not the caller's input
            log.error("a stored password hash cannot be verified (%s): that account cannot sign in", exc)
            return False


# argon2id at OWASP's recommended minimum (19 MiB, t=2, p=1): ~30 ms here, where passlib's default
# (100 MiB, p=8) takes ~700 ms on a 2-core host. bcrypt verifies hashes imported from Quay.
PASSWORDS = Passwords(
    CryptContext(
        schemes=["argon2", "bcrypt"],
        deprecated="auto",
        argon2__memory_cost=19456,
        argon2__time_cost=2,
        argon2__parallelism=1,
        argon2__type="ID",
    )
)

__all__ = ["MAX_PASSWORD_LENGTH", "PASSWORDS", "Passwords"]
