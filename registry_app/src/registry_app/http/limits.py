"""Limits on request bodies that every endpoint shares: how long a body may pause.

granian (hyper underneath) cuts off a client that is slow to send its request *headers*
(``HTTP1Settings.header_read_timeout``, 30 s) but has no timeout at all for a request *body*: a
client that sends the head of an upload and then nothing would hold its connection, its
granian connection permit and the request's buffers for ever. ``BodyReceive`` wraps the ASGI
``receive`` of every HTTP request: when the application waits for body bytes and none arrive for
``REGISTRY_APP_BODY_IDLE_TIMEOUT`` seconds, the wait ends with ``BodyTimeout`` (408, and
``Connection: close`` so the server drops the connection). Whoever was reading the body sees an
ordinary error: an upload drops its partial chunk (the upload stays at its last durable size, as
after a disconnect) and the request is answered.

Only time spent *waiting for the client* counts: a reader that is slow itself (writing to disk,
hashing) never times out. Once the body is complete, calls go straight through (a response that
listens for ``http.disconnect`` may wait as long as it likes).
"""

from __future__ import annotations

import asyncio
from typing import Any

from registry_app.http.base import Receive
from registry_app.services.errors import RegistryError


class BodyTimeout(RegistryError):
    """No request body bytes arrived for the idle timeout."""

    code = "UNKNOWN"
    status = 408

    def __init__(self, idle: float) -> None:
        super().__init__(
            f"no request body bytes arrived for {idle:g} seconds; the request was ended and its partial body dropped",
            headers={"Connection": "close"},
        )


class BodyReceive:
    """``receive`` for one request, with an idle limit on its body.

    One timer per request (not per chunk): it is armed when a wait for the body starts and, when it
    fires, cancels the waiting task only if that wait has lasted ``idle`` seconds; otherwise it
    re-arms for the current wait. The cancellation is turned into ``BodyTimeout`` here. The loop
    and the reading task are looked up once, at the first wait (one task reads a request's body):
    per chunk the wrapper costs a clock read.
    """

    __slots__ = ("_done", "_fired", "_idle", "_loop", "_receive", "_since", "_task", "_timer", "_waiting")

    def __init__(self, receive: Receive, idle: float) -> None:
        self._receive = receive
        self._idle = idle
        self._done = idle <= 0
        self._since = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._waiting = False
        self._fired = False

    async def __call__(self) -> dict[str, Any]:
        if self._done:
            return await self._receive()
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
        self._since = loop.time()
        if self._timer is None:
            self._timer = loop.call_at(self._since + self._idle, self._check)
        self._waiting = True
        try:
            msg = await self._receive()
        except asyncio.CancelledError:
            if not self._fired:
                raise
            if self._task is not None:
                self._task.uncancel()  # the cancellation was ours: it must not leak into the caller's task
            self._finish()
            raise BodyTimeout(self._idle) from None
        finally:
            self._waiting = False
        if msg["type"] != "http.request" or not msg.get("more_body", False):
            self._finish()
        return msg

    def _check(self) -> None:
        self._timer = None
        if not self._waiting or self._done or self._loop is None or self._task is None:
            return  # not waiting for the client now; the next wait arms a new timer
        due = self._since + self._idle
        if self._loop.time() >= due:
            self._fired = True
            self._task.cancel()
        else:
            self._timer = self._loop.call_at(due, self._check)

    def _finish(self) -> None:
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


__all__ = ["BodyReceive", "BodyTimeout"]
