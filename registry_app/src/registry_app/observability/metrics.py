"""The Prometheus metrics every layer records (docs/architecture.md, "Metrics").

Defined once here, recorded where the thing happens (http/ for requests and bytes, services/ for
uploads, workers/base.py for every worker's rounds) and exported by ``metrics.exporter`` from the
``registry-app serve`` parent process, which adds up the files the granian worker processes write
(``prometheus_client`` multiprocess mode). This module imports nothing of registry_app, so every
layer may import it.

Label policy: every label value comes from a fixed set written in the code (a route class, a
method, a status code, a worker or queue name); never a repository, namespace, user, tag or
digest, nor any other client input. So a scrape's size does not grow with the data. Names follow
Quay's where Quay has the metric (``quay_request_duration_seconds``,
``quay_db_pooled_connections_in_use``) and its default PROMETHEUS_NAMESPACE ``quay`` otherwise.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# -- HTTP (http/app.py) ----------------------------------------------------------------------------
ROUTE_CLASSES = (
    "v2_base", "v2_auth", "v2_catalog", "v2_blob", "v2_upload", "v2_manifest", "v2_tags",
    "v2_referrers", "v2_other", "api", "ui", "health", "secscan",
)  # fmt: skip
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

request_duration = Histogram(
    "quay_request_duration_seconds",
    "seconds taken to process a request, by route class (never a repository name), method and status",
    labelnames=["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
request_bytes = Counter(
    "quay_http_request_bytes",
    "request body bytes received, by route class",
    labelnames=["route"],
)
response_bytes = Counter(
    "quay_http_response_bytes",
    "response body bytes sent, by route class (a file response counts its Content-Length)",
    labelnames=["route"],
)

# -- blob uploads (services/registry.py) ------------------------------------------------------------
uploads_started = Counter("quay_blob_uploads_started", "blob uploads started (POST .../blobs/uploads/)")
uploads_completed = Counter("quay_blob_uploads_completed", "blob uploads completed: the blob was stored")
uploads_failed = Counter(
    "quay_blob_uploads_failed",
    "blob upload completions that stored nothing (digest mismatch, storage or database error)",
)

# -- background workers (workers/base.py) -----------------------------------------------------------
worker_rounds = Counter("quay_worker_rounds", "rounds a background worker ran", labelnames=["worker"])
worker_errors = Counter(
    "quay_worker_errors", "worker rounds that failed (or could not take their lease)", labelnames=["worker"]
)
worker_items = Counter("quay_worker_items", "items a background worker handled", labelnames=["worker"])
worker_skipped = Counter(
    "quay_worker_skipped", "singleton rounds skipped: another process holds the lease", labelnames=["worker"]
)

# -- database pool (db/, wired in wiring.py); summed over the live processes -----------------------
db_pool_size = Gauge(
    "quay_db_pool_size", "connections each pool keeps (summed over processes)", multiprocess_mode="livesum"
)
db_pooled_connections_in_use = Gauge(
    "quay_db_pooled_connections_in_use",
    "pooled database connections checked out (summed over processes)",
    multiprocess_mode="livesum",
)

__all__ = [
    "METHODS",
    "ROUTE_CLASSES",
    "db_pool_size",
    "db_pooled_connections_in_use",
    "request_bytes",
    "request_duration",
    "response_bytes",
    "uploads_completed",
    "uploads_failed",
    "uploads_started",
    "worker_errors",
    "worker_items",
    "worker_rounds",
    "worker_skipped",
]
