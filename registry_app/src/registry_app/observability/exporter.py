"""``/metrics`` on its own port, answered by the ``registry-app serve`` parent process.

Why multiprocess mode: ``serve`` runs the registry in several granian worker processes; a scrape
reaches one process only, and each has its own counters. ``prometheus_client``'s multiprocess
mode has every process write its values into memory-mapped files in one directory, and the
exporter adds them up at scrape time, so one scrape sees the whole server (docs/architecture.md,
"Metrics"). The directory is private to this serve process: ``MetricsDirectory`` creates it
(mode 0700) before any worker starts, points PROMETHEUS_MULTIPROC_DIR at it for the workers, and
removes it when serve ends; the operator sets nothing.

The exporter serves ``GET /metrics`` only (everything else is 404): the registry is never served
on this port, and ``/metrics`` is never served on the registry's. What it exposes are counts,
durations and queue depths, with labels from fixed sets: no secret, no name of anything.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ENV = "PROMETHEUS_MULTIPROC_DIR"
log = logging.getLogger("registry_app.metrics")

QueueSampler = Callable[[], Mapping[str, int]]


class MetricsDirectory:
    """The private multiprocess directory of one serve process (see the module docstring)."""

    def __init__(self) -> None:
        if "prometheus_client.values" in sys.modules and ENV not in os.environ:
            # The value class is chosen when prometheus_client is first imported: too late now.
            raise RuntimeError("prometheus_client was imported before its multiprocess directory was set")
        self.path = tempfile.mkdtemp(prefix="registry-app-metrics-")  # mode 0700
        self.owner = os.getpid()
        os.environ[ENV] = self.path
        atexit.register(self.remove)

    def remove(self) -> None:
        """Remove the directory: only the process that made it (a forked worker inherits the
        atexit hook, and must not remove what the others still write to)."""
        if os.getpid() == self.owner:
            shutil.rmtree(self.path, ignore_errors=True)


def process_exiting() -> None:
    """Called by a worker process that ends cleanly: its pool gauges stop counting (counters are
    kept, so that totals never go down)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


class QueueDepthCollector:
    """``quay_queue_depth{queue}``: sampled at scrape time through a services/ call, so that the
    numbers are current and the database is asked once per scrape (not once per process)."""

    def __init__(self, sample: QueueSampler) -> None:
        self.sample = sample

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            "quay_queue_depth", "items waiting in a work queue, sampled at scrape time", labels=["queue"]
        )
        up = GaugeMetricFamily("quay_queue_depth_up", "1 when the queue depths could be read at this scrape")
        try:
            depths = self.sample()
        except Exception as exc:  # the database is away: say so, and still serve the rest
            log.warning("metrics: queue depths not read: %s", str(exc).splitlines()[0] if str(exc) else exc)
            up.add_metric([], 0)
        else:
            for queue, depth in sorted(depths.items()):
                family.add_metric([queue], depth)
            up.add_metric([], 1)
        return [family, up]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log for scrapes."""


def make_registry(sample: QueueSampler | None) -> Any:
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    if sample is not None:
        registry.register(QueueDepthCollector(sample))
    return registry


def start_exporter(host: str, port: int, sample: QueueSampler | None) -> WSGIServer:
    """Serve ``GET /metrics`` on ``host:port`` in a daemon thread; returns the server (its
    ``server_address`` has the port, ``shutdown()`` stops it). Raises OSError when the address
    cannot be bound."""
    from prometheus_client import make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer

    app = make_wsgi_app(make_registry(sample))

    def only_metrics(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not Found: this port serves /metrics only\n"]
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain"), ("Allow", "GET, HEAD")])
            return [b"Method Not Allowed\n"]
        return app(environ, start_response)

    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    server_class = type("MetricsServer", (ThreadingWSGIServer,), {"address_family": family, "daemon_threads": True})
    httpd: WSGIServer = make_server(host, port, only_metrics, server_class, handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, name="metrics-exporter", daemon=True)
    thread.start()
    return httpd


__all__ = ["ENV", "MetricsDirectory", "QueueDepthCollector", "make_registry", "process_exiting", "start_exporter"]
