"""Clair v4's HTTP API, the calls Quay's ``ClairSecurityScannerAPI`` (util/secscan/v4/api.py) makes:
index state, index reports, vulnerability reports and the notifier's pages.

With a PSK (``SECURITY_SCANNER_V4_PSK``, the same base64 string as Clair's ``auth.psk.key``) every
request carries an HS256 JWT (``iss: quay``) signed with the decoded key, and Clair's notifier
callbacks are verified with it. The PSK, the JWTs and the pull tokens inside index requests never
reach a log line or an exception message: errors name the status or the connection's reason only.

Standard library HTTP (urllib): five JSON calls do not justify a runtime dependency.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

INDEX_REQUEST_TIMEOUT_S = 600  # Quay's INDEX_REQUEST_TIMEOUT: indexing big images takes a while
REQUEST_TIMEOUT_S = 30

_BEARER = re.compile(r"Bearer\s+[A-Za-z0-9._~+/=-]+")


class ClairError(Exception):
    """A request to Clair failed (Quay's APIRequestFailure). ``status`` is None when Clair could
    not be reached at all."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ClairBadRequest(ClairError):
    """Clair answered 400: it cannot use what was sent (Quay's InvalidContentSent)."""


def sign_psk_jwt(key: bytes, lifetime_s: int = 300) -> str:
    """Quay's ``_sign_jwt``: ``{"iss": "quay", "exp": now + 5 min}``, HS256 with the PSK."""
    return jwt.encode({"iss": "quay", "exp": int(time.time()) + lifetime_s}, key, algorithm="HS256")


def verify_psk_jwt(authorization: str | None, key: bytes) -> bool:
    """Check Clair's notifier callback: ``Authorization: Bearer <HS256 JWT signed with the PSK>``."""
    if not authorization:
        return False
    kind, _, token = authorization.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return False
    try:
        jwt.decode(token.strip(), key, algorithms=["HS256"], options={"verify_aud": False}, leeway=30)
    except jwt.PyJWTError:
        return False
    return True


@dataclass(frozen=True)
class ClairResponse:
    status: int
    headers: dict[str, str]
    body: Any


class ClairClient:
    """One Clair v4 deployment (combo mode or the indexer/matcher/notifier behind one URL)."""

    def __init__(self, endpoint: str, key: bytes | None = None) -> None:
        """``key``: the PSK's decoded bytes (the settings decode SECURITY_SCANNER_V4_PSK once)."""
        self.endpoint = endpoint.rstrip("/")
        self._key = key

    def _perform(self, method: str, path: str, body: Any = None, timeout: float = REQUEST_TIMEOUT_S) -> ClairResponse:
        url = self.endpoint + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http(s) checked in config)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self._key is not None:
            req.add_header("Authorization", f"Bearer {sign_psk_jwt(self._key)}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                status, headers, raw = resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            status, headers, raw = exc.code, dict(exc.headers.items()), exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClairError(
                f"Connection error when trying to connect to security scanner endpoint: {reason}"
            ) from None
        if status == 400:
            detail = _BEARER.sub("Bearer <redacted>", raw[:500].decode(errors="replace"))
            raise ClairBadRequest(f"Security scanner endpoint responded with 400 HTTP status code: {detail}", status)
        if status // 100 != 2:
            raise ClairError(f"Security scanner endpoint responded with non-200 HTTP status code: {status}", status)
        try:
            parsed = json.loads(raw) if raw.strip() else None
        except ValueError:
            raise ClairError("Received incompatible response from security scanner", status) from None
        return ClairResponse(status, {k.lower(): v for k, v in headers.items()}, parsed)

    def _or_none(self, method: str, path: str) -> Any:
        """The response body, or None when Clair answers 404 (an unknown digest or notification)."""
        try:
            return self._perform(method, path).body
        except ClairError as exc:
            if exc.status == 404:
                return None
            raise

    def _get_or_none(self, path: str) -> Any:
        return self._or_none("GET", path)

    def index_state(self) -> str:
        body = self._perform("GET", "/indexer/api/v1/index_state").body
        if not isinstance(body, dict) or not isinstance(body.get("state"), str):
            raise ClairError("Received incompatible response from security scanner")
        return str(body["state"])

    def index(self, request: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """POST the manifest; returns (IndexReport, indexer state from the ETag)."""
        resp = self._perform("POST", "/indexer/api/v1/index_report", request, timeout=INDEX_REQUEST_TIMEOUT_S)
        if not isinstance(resp.body, dict) or "state" not in resp.body:
            raise ClairError("Received incompatible response from security scanner", resp.status)
        etag = resp.headers.get("etag")
        return resp.body, etag.strip().removeprefix("W/").strip('"') if etag else None

    def vulnerability_report(self, digest: str) -> dict[str, Any] | None:
        return self._get_or_none(f"/matcher/api/v1/vulnerability_report/{digest}")

    def index_report(self, digest: str) -> dict[str, Any] | None:
        return self._get_or_none(f"/indexer/api/v1/index_report/{digest}")

    def delete_index_report(self, digest: str) -> None:
        self._or_none("DELETE", f"/indexer/api/v1/index_report/{digest}")

    def notification_page(self, notification_id: str, next_page: str | None = None) -> dict[str, Any] | None:
        query = "?" + urllib.parse.urlencode({"next": next_page}) if next_page else ""
        return self._get_or_none(f"/notifier/api/v1/notification/{urllib.parse.quote(notification_id)}{query}")

    def delete_notification(self, notification_id: str) -> None:
        self._or_none("DELETE", f"/notifier/api/v1/notification/{urllib.parse.quote(notification_id)}")


__all__ = [
    "INDEX_REQUEST_TIMEOUT_S",
    "REQUEST_TIMEOUT_S",
    "ClairBadRequest",
    "ClairClient",
    "ClairError",
    "ClairResponse",
    "sign_psk_jwt",
    "verify_psk_jwt",
]
