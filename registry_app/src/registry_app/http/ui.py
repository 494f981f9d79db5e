"""The web UI: the built React app (``http/ui_dist``, made by scripts/build-ui from registry_app/ui)
served at ``/`` and at the paths Quay users bookmark.

Every screen path answers the same ``index.html`` (the app routes in the browser), revalidated on
each load (``no-cache`` with an ETag) so a new release is seen at once; files under ``/assets/``
carry a content hash in their names and are cached for a year. Text assets are sent gzipped to
clients that accept it (compressed once per process, on first request, and kept: the whole UI is
about 400 kB compressed), other files straight from disk. Nothing is fetched from elsewhere at run
time: the Content-Security-Policy allows this origin only.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from registry_app.http.base import Request, Response

# The client-side routes (registry_app/ui/src/routes.tsx); Quay's bookmarkable paths among them.
SCREEN_PATHS = re.compile(
    r"^/(?:|signin|createaccount|repository|organization|superuser"
    r"|repository/[^/]+/[^/]+(?:/tag/[^/]+)?|organization/[^/]+|user/[^/]+)/?$"
)
ASSET_PATH = re.compile(r"^/assets/[A-Za-z0-9][A-Za-z0-9._-]*$")
ROOT_FILES = frozenset({"/favicon.svg", "/robots.txt"})
COMPRESSIBLE = frozenset({".js", ".css", ".svg", ".json", ".txt", ".html"})
MAX_COMPRESSED_SOURCE = 16 * 1024 * 1024  # bigger files go uncompressed (none is near this)

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
IMMUTABLE = b"public, max-age=31536000, immutable"
# React and PatternFly set style attributes, hence 'unsafe-inline' for styles only; no script
# but the app's own files, no frames, nothing from another origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def default_dist() -> Path:
    return Path(str(resources.files("registry_app.http").joinpath("ui_dist")))


@dataclass(frozen=True)
class _Index:
    body: bytes
    etag: bytes


class WebUI:
    """Answers the UI's paths (``handle`` returns None for any other path)."""

    def __init__(self, dist: Path | None = None) -> None:
        self.dist = dist if dist is not None else default_dist()
        index = self.dist / "index.html"
        self.index: _Index | None = None
        self._gzipped: dict[str, bytes] = {}
        if index.is_file():
            body = index.read_bytes()
            self.index = _Index(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'.encode())

    def handles(self, path: str) -> bool:
        return bool(SCREEN_PATHS.match(path) or ASSET_PATH.match(path) or path in ROOT_FILES)

    def handle(self, req: Request) -> Response | None:
        path = req.path
        if not self.handles(path):
            return None
        if req.method not in ("GET", "HEAD"):
            return _json(
                405, "method_not_allowed", f"{req.method} is not allowed on {path}", [(b"allow", b"GET, HEAD")]
            )
        if SCREEN_PATHS.match(path):
            return self._index(req)
        return self._file(req, path)

    def _index(self, req: Request) -> Response:
        if self.index is None:
            if req.path == "/":  # a package built without the UI still says what it is
                body = json.dumps({"registry": "registry_app", "api": "/v2/", "ui": "not built (scripts/build-ui)"})
                return Response(200, body.encode(), [(b"content-type", b"application/json")])
            return _json(404, "not_found", "the web UI is not built into this package (scripts/build-ui)")
        headers = [
            (b"cache-control", b"no-cache"),
            (b"etag", self.index.etag),
            *SECURITY_HEADERS,
        ]
        if self.index.etag in _etags(req.headers.get("if-none-match")):
            return Response(304, b"", headers)
        return Response(200, self.index.body, [(b"content-type", b"text/html; charset=utf-8"), *headers])

    def _file(self, req: Request, path: str) -> Response:
        target = self.dist / path.lstrip("/")
        if not target.is_file():
            return _json(404, "not_found", f"no such file: {path}")
        headers = [
            (b"content-type", CONTENT_TYPES.get(target.suffix, "application/octet-stream").encode()),
            (b"cache-control", IMMUTABLE if path.startswith("/assets/") else b"no-cache"),
            (b"x-content-type-options", b"nosniff"),
        ]
        if target.suffix in COMPRESSIBLE:
            headers.append((b"vary", b"accept-encoding"))
            if "gzip" in _encodings(req.headers.get("accept-encoding")):
                packed = self._gzip(target)
                if packed is not None:
                    headers += [(b"content-encoding", b"gzip"), (b"content-length", str(len(packed)).encode())]
                    return Response(200, packed, headers)
        headers.append((b"content-length", str(target.stat().st_size).encode()))
        return Response(200, b"", headers, path=str(target))

    def _gzip(self, target: Path) -> bytes | None:
        """The file gzipped (mtime 0: the same bytes every time), or None when it does not pay."""
        key = str(target)
        packed = self._gzipped.get(key)
        if packed is None:
            data = target.read_bytes()
            if len(data) > MAX_COMPRESSED_SOURCE:
                return None
            packed = gzip.compress(data, compresslevel=6, mtime=0)
            if len(packed) >= len(data):
                packed = b""
            self._gzipped[key] = packed
        return packed or None


def _etags(value: str | None) -> set[bytes]:
    return {v.strip().removeprefix("W/").encode() for v in value.split(",")} if value else set()


def _encodings(value: str | None) -> set[str]:
    """Accepted content codings (a ``q=0`` refuses one)."""
    out: set[str] = set()
    for part in (value or "").split(","):
        name, _, params = part.strip().partition(";")
        if name and not re.search(r"q\s*=\s*0(?:\.0*)?\s*$", params):
            out.add(name.strip().lower())
    return out


def _json(status: int, kind: str, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> Response:
    body = json.dumps({"errors": [{"code": kind.upper(), "message": message}]}).encode()
    return Response(status, body, [(b"content-type", b"application/json"), *(extra or [])])
