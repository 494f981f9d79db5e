"""Request metrics: each request's route class, method, status, duration and body bytes.

The route class is one of ``metrics.ROUTE_CLASSES``, decided from the path's shape only (which
part of the API it is), so that no repository name, tag, digest or other client input ever
becomes a label value; an unknown method is counted as ``other``.
"""

from __future__ import annotations

import time
from typing import Any

from registry_app.http.base import Receive, Send
from registry_app.observability import metrics

API_PATHS = frozenset({"/csrf_token", "/config"})
API_PREFIXES = ("/api/", "/oauth2/")
HEALTH_PATHS = frozenset({"/health", "/health/instance", "/health/endtoend"})


def route_class(path: str) -> str:
    """The route class of a request path (see the module docstring)."""
    if path.startswith("/v2"):
        if path in ("/v2", "/v2/"):
            return "v2_base"
        if path == "/v2/auth":
            return "v2_auth"
        if path == "/v2/_catalog":
            return "v2_catalog"
        if "/blobs/uploads" in path:
            return "v2_upload"
        if "/blobs/" in path:
            return "v2_blob"
        if "/manifests/" in path:
            return "v2_manifest"
        if path.endswith("/tags/list"):
            return "v2_tags"
        if "/referrers/" in path:
            return "v2_referrers"
        return "v2_other"
    if path.startswith(API_PREFIXES) or path in API_PATHS:
        return "api"
    if path in HEALTH_PATHS:
        return "health"
    if path == "/secscan/notification":
        return "secscan"
    return "ui"  # the web UI answers every other path (its pages, assets, and 404s)


class RequestMeter:
    """Wraps one request's ``receive`` and ``send`` to count body bytes and see the status;
    ``record()`` writes the request's metrics once it has ended."""

    __slots__ = ("bytes_in", "bytes_out", "content_length", "method", "route", "start", "status")

    def __init__(self, scope: dict[str, Any]) -> None:
        self.start = time.perf_counter()
        self.route = route_class(scope["path"])
        method = scope["method"]
        self.method = method if method in metrics.METHODS else "other"
        self.status = 499  # no response sent: the client went away first
        self.bytes_in = 0
        self.bytes_out = 0
        self.content_length = 0

    def receive(self, receive: Receive) -> Receive:
        async def counted() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                self.bytes_in += len(message.get("body", b""))
            return message

        return counted

    def send(self, send: Send) -> Send:
        async def counted(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                self.status = int(message["status"])
                for key, value in message.get("headers", ()):
                    if key.lower() == b"content-length":
                        self.content_length = int(value) if value.isdigit() else 0
            elif kind == "http.response.body":
                self.bytes_out += len(message.get("body", b""))
            elif kind == "http.response.pathsend":
                self.bytes_out += self.content_length  # the server sends the file
            await send(message)

        return counted

    def record(self) -> None:
        metrics.request_duration.labels(self.route, self.method, str(self.status)).observe(
            time.perf_counter() - self.start
        )
        if self.bytes_in:
            metrics.request_bytes.labels(self.route).inc(self.bytes_in)
        if self.bytes_out:
            metrics.response_bytes.labels(self.route).inc(self.bytes_out)


__all__ = ["RequestMeter", "route_class"]
