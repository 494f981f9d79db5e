"""Minimal ASGI request/response plumbing. Parsing, status codes and headers only."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

from registry_app.services.errors import RegistryError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON = b"application/json"


class ClientDisconnected(Exception):
    pass


class Request:
    __slots__ = ("_query", "headers", "method", "path", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        raw = scope.get("raw_path") or scope["path"].encode()
        self.path: str = raw.decode("latin-1").split("?", 1)[0]
        self.headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            key = k.decode("latin-1").lower()
            val = v.decode("latin-1")
            self.headers[key] = f"{self.headers[key]}, {val}" if key in self.headers else val
        self._query: dict[str, list[str]] | None = None

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            self._query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        return self._query

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def client_ip(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else "-"

    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        if value is None:
            return None
        try:
            n = int(value)
        except ValueError:
            return None
        return n if n >= 0 else None

    async def body(self, limit: int) -> bytes:
        """Read the whole body; raises OverflowError past ``limit`` bytes."""
        chunks: list[bytes] = []
        total = 0
        while True:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunk = msg.get("body", b"")
            total += len(chunk)
            if total > limit:
                raise OverflowError(total)
            chunks.append(chunk)
            if not msg.get("more_body", False):
                return b"".join(chunks)


class Response:
    """A response: ``body``, or a whole file sent by the server (``path``, zero copy), or a body
    produced chunk by chunk (``stream``, with its Content-Length among the headers)."""

    __slots__ = ("body", "headers", "path", "status", "stream")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        path: str | None = None,
        stream: AsyncGenerator[bytes, None] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else []
        self.path = path  # zero-copy file response
        self.stream = stream


def json_response(status: int, obj: Any, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    body = json.dumps(obj).encode()
    hdrs = [(b"content-type", JSON), *(headers or [])]
    return Response(status, body, hdrs)


def error_body(exc: RegistryError) -> bytes:
    err: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.detail is not None:
        err["detail"] = exc.detail
    return json.dumps({"errors": [err]}).encode()


async def send_response(send: Send, resp: Response, head: bool = False, receive: Receive | None = None) -> None:
    headers = resp.headers
    if resp.path is None and resp.stream is None and not any(k == b"content-length" for k, _ in headers):
        headers = [*headers, (b"content-length", str(len(resp.body)).encode())]
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    if resp.stream is not None and not head:
        await send_stream(send, resp.stream, receive)
    elif head:
        if resp.stream is not None:
            await resp.stream.aclose()
        await send({"type": "http.response.body", "body": b""})
    elif resp.path is not None:
        await send({"type": "http.response.pathsend", "path": resp.path})
    else:
        await send({"type": "http.response.body", "body": resp.body})


async def send_stream(send: Send, chunks: AsyncGenerator[bytes, None], receive: Receive | None) -> None:
    """Send a body chunk by chunk. The next chunk is produced only once the server has taken the
    previous one: granian's ``send`` waits while its channel to the connection (4 chunks) is full,
    so memory stays at a few chunks however slowly the client reads. A disconnect (seen through
    ``receive``) stops the producer, which is always closed (its file with it)."""
    gone = asyncio.ensure_future(_disconnected(receive)) if receive is not None else None
    try:
        async for chunk in chunks:
            if gone is not None and gone.done():
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await chunks.aclose()
        if gone is not None:
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await gone


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has gone (after the request body, ``receive`` waits for that)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class Blocking:
    """Runs blocking calls (database, storage, bcrypt) off the event loop."""

    def __init__(self, workers: int = 32) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="registry-io")

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
