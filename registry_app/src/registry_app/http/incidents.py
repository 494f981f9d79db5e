"""Server-side failures, as the client and the log see them.

A 5xx tells the client its kind only ("storage is full", "database unavailable", "internal server
error") and a short reference. The detail (a path, the database driver's words, an LDAP address,
a traceback) goes to the server log on a line with the same reference, so that an operator finds
it from what a user reports, and nothing about the server's inside reaches a client. Both /v2
(http/app.py) and /api/v1 (http/api) answer 5xx through here.
"""

from __future__ import annotations

import secrets
import sys
import traceback
from typing import TextIO

from registry_app.services.errors import RegistryError
from registry_app.services.registry import as_domain_error


def new_reference() -> str:
    return secrets.token_hex(4)


def log_incident(
    what: str, detail: str | None = None, *, with_traceback: bool = False, out: TextIO | None = None
) -> str:
    """Write one ERROR entry (``what``, the detail, the current traceback if asked) and return its
    reference."""
    ref = new_reference()
    text = f"ERROR [ref {ref}] {what}" + (f": {detail}" if detail else "") + "\n"
    if with_traceback:
        text += traceback.format_exc()
    stream = out or sys.stderr
    stream.write(text)
    stream.flush()
    return ref


def public_message(message: str, ref: str) -> str:
    return f"{message} (reference {ref}; the server log has the detail)"


def server_error(exc: RegistryError, request_line: str, out: TextIO | None = None) -> str:
    """Log a 5xx domain error with its ``log_detail``; the message to send instead of its own."""
    ref = log_incident(f"{request_line}: {exc.message}", exc.log_detail, out=out)
    return public_message(exc.message, ref)


def unexpected(exc: BaseException, request_line: str, out: TextIO | None = None) -> tuple[RegistryError, str]:
    """An exception nobody mapped: infrastructure failures that escaped the services (a database
    outage) become their domain error (503); anything else is a 500 with the traceback logged.
    Returns the error and the message to send."""
    domain = as_domain_error(exc)
    if domain is not None:
        return domain, server_error(domain, request_line, out)
    ref = log_incident(f"unhandled exception for {request_line}", with_traceback=True, out=out)
    return RegistryError("internal server error"), public_message("internal server error", ref)


__all__ = ["log_incident", "new_reference", "public_message", "server_error", "unexpected"]
