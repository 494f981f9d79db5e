"""The ASGI application: routes /v2 and /health, maps domain errors to responses, logs access.

It is built by the composition (``wiring.create_app``), which hands it every part it needs."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Protocol

from registry_app.http import incidents
from registry_app.http.base import (
    Blocking,
    ClientDisconnected,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    error_body,
    json_response,
    send_response,
)
from registry_app.http.limits import BodyReceive
from registry_app.http.metrics import RequestMeter
from registry_app.http.ui import WebUI
from registry_app.http.v2 import API_VERSION, V2
from registry_app.observability.exporter import process_exiting
from registry_app.services import client_json
from registry_app.services.errors import NotFound, RegistryError
from registry_app.services.registry import RegistryService

log = logging.getLogger("registry_app")
API_WEB_PATHS = frozenset({"/csrf_token", "/config"})  # Quay's, outside /api/v1; served by the API app
API_WEB_PREFIXES = ("/api/", "/oauth2/")  # /oauth2/{service}/callback: OpenID Connect sign-in


class HealthChecks:
    def __init__(self, registry: RegistryService) -> None:
        self.registry = registry

    def run(self) -> dict[str, bool]:
        services = {"database": True, "disk_space": True, "auth": True}
        try:
            self.registry.store.count_users()
        except Exception as exc:
            log.warning("health: database check failed: %s", str(exc).splitlines()[0] if str(exc) else exc)
            services["database"] = False
        try:
            self.registry.storage.check()
        except Exception as exc:
            log.warning("health: storage check failed: %s", getattr(exc, "detail", exc))
            services["disk_space"] = False
        return services


class BackgroundWorkers(Protocol):
    """What the lifespan starts and stops: the process's workers (``workers.base.WorkerGroup``)."""

    def start(self) -> None: ...

    def stop(self) -> bool: ...


class RegistryApp:
    def __init__(
        self,
        registry: RegistryService,
        v2: V2,
        blocking: Blocking,
        health: HealthChecks,
        api: Any = None,
        audit: Any = None,
        secscan: Any = None,
        body_idle_timeout: float = 0,
        workers: BackgroundWorkers | None = None,
        ui: WebUI | None = None,
    ) -> None:
        self.registry = registry
        self.v2 = v2
        self.blocking = blocking
        self.health = health
        self.api = api
        self.audit = audit
        self.secscan = secscan
        self.body_idle_timeout = body_idle_timeout
        self.workers = workers
        self.ui = ui
        self.out = sys.stderr

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    if self.workers is not None:
                        self.workers.start()  # background workers in this server process
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    if self.workers is not None:
                        await self.blocking(self.workers.stop)  # graceful, bounded; flushes the audit log
                    self.blocking.pool.shutdown(wait=False, cancel_futures=True)
                    process_exiting()  # this process's pool gauges leave the sums
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One request, measured (``http/metrics.py``: route class, status, duration, bytes)."""
        meter = RequestMeter(scope)
        try:
            await self.handle(scope, meter.receive(receive), meter.send(send))
        finally:
            meter.record()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        receive = BodyReceive(receive, self.body_idle_timeout)  # every body read has an idle limit
        if self.api is not None and (scope["path"].startswith(API_WEB_PREFIXES) or scope["path"] in API_WEB_PATHS):
            status = 500
            started = False

            async def send_logged(message: dict[str, Any]) -> None:
                nonlocal status, started
                if message["type"] == "http.response.start":
                    status, started = message["status"], True
                await send(message)

            try:
                await self.api(scope, receive, send_logged)  # an ApiBodyGuard: bounded bodies
            except ClientDisconnected:
                status = 499
            except Exception:
                # Starlette re-raises what its error handler answered (create_api logged it with a
                # reference): do not log it twice. Unanswered, it is the server's to report.
                if not started:
                    raise
            self.access_log(Request(scope, receive), status, start)
            return
        req = Request(scope, receive)
        head = req.method == "HEAD"
        try:
            resp = await self.route(req)
        except ClientDisconnected:
            self.access_log(req, 499, start)
            return
        except RegistryError as exc:
            resp = self.error(req, exc)
        except Exception as exc:  # logged with a reference; the client gets the kind and the reference
            domain, message = incidents.unexpected(exc, f"{req.method} {req.path}", self.out)
            domain.message = message
            resp = Response(domain.status, error_body(domain), [(b"content-type", b"application/json")])
        if req.path.startswith("/v2"):
            resp.headers.append(API_VERSION)
        await send_response(send, resp, head, receive)
        self.access_log(req, resp.status, start)

    def access_log(self, req: Request, status: int, start: float) -> None:
        ms = (time.perf_counter() - start) * 1000
        self.out.write(f'{req.client_ip} "{req.method} {req.path}" {status} {ms:.1f}ms\n')

    def error(self, req: Request, exc: RegistryError) -> Response:
        headers = [(b"content-type", b"application/json")]
        if exc.status == 401:
            headers += self.v2.challenge(req, exc)
        exc.headers.pop("x-scope", None)
        headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
        if exc.status >= 500:  # no internals to the client: the detail is logged under a reference
            exc.message = incidents.server_error(exc, f"{req.method} {req.path}", self.out)
        return Response(exc.status, error_body(exc), headers)

    async def route(self, req: Request) -> Response:
        path = req.path
        if path.startswith("/v2"):
            return await self.v2.handle(req)
        if path in ("/health/instance", "/health/endtoend", "/health"):
            services = await self.blocking(self.health.run)
            ok = all(services.values())
            status = 200 if ok else 503
            return json_response(status, {"data": {"services": services}, "status_code": status})
        if path == "/secscan/notification" and self.secscan is not None and self.secscan.notifications:
            return await self.secscan_notification(req)
        page = self.ui.handle(req) if self.ui is not None else None
        if page is not None:
            return page
        raise NotFound(f"no such endpoint: {req.method} {path}")

    async def secscan_notification(self, req: Request) -> Response:
        """Quay's ``/secscan/notification``: Clair's notifier says a notification is ready. With a
        PSK its JWT is verified; the id is queued for the security worker, which pages through the
        notification, records vulnerability_found events and deletes it at Clair."""
        text = [(b"content-type", b"text/html; charset=utf-8")]
        if req.method != "POST":
            return Response(405, b"Method Not Allowed", text)
        if not self.secscan.webhook_authorized(req.headers.get("authorization")):
            return Response(401, b"Unauthorized", text)
        try:
            data = client_json.loads(await req.body(64 * 1024))
        except (OverflowError, ValueError):
            data = None
        if not isinstance(data, dict) or "notification_id" not in data or "callback" not in data:
            return Response(400, b"Bad Request", text)
        await self.blocking(self.secscan.queue_notification, str(data["notification_id"]))
        return Response(200, b"Okay", text)
