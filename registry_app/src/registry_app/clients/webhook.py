"""Outbound JSON POSTs for notifications (webhook, Slack): bounded timeouts, TLS verified against
the system's CAs plus the bundle's ``extra_ca_certs``, no redirects followed, at most 64 KiB of an
answer read. Errors never carry the URL (webhook and Slack URLs hold tokens): only the host.
Standard library HTTP (urllib), as clients/clair.py: one POST does not justify a dependency."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

MAX_ANSWER = 64 * 1024


class DeliveryError(Exception):
    """A delivery failed; ``message`` is safe to log (no URL path, query or credentials)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a 3xx is an answer, not a hop
        return None


def safe_target(url: str) -> str:
    """What a log line may say about ``url``: scheme and host (and port), never path or query."""
    parts = urllib.parse.urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"


def post_json(url: str, payload: Any, *, timeout_s: float, context: ssl.SSLContext | None = None) -> int:
    """POST ``payload`` as JSON; returns the status (2xx) or raises DeliveryError."""
    data = json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})  # noqa: S310 (http(s) checked by the caller)
    handlers: list[Any] = [_NoRedirect()]
    if url.lower().startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=context or ssl.create_default_context()))
    opener = urllib.request.build_opener(*handlers)
    target = safe_target(url)
    try:
        with opener.open(req, timeout=timeout_s) as resp:
            resp.read(MAX_ANSWER)
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{exc.code} response from {target}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach {target}: {type(reason).__name__}: {reason}") from None
    if status // 100 != 2:
        raise DeliveryError(f"{status} response from {target}")
    return status
