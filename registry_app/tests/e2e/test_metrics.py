"""``/metrics`` for Prometheus (issue 13 item 3), against the real ``registry-app serve`` with two
granian worker processes, scraped over HTTP on the metrics port and parsed with
``prometheus_client``'s text parser.

Pushes are made with skopeo (and, for many repositories, the /v2 test client); what the scrape
shows must follow from them: request counts by route class and status summed over both worker
processes, body bytes, upload counters, worker counters, queue depths, the database pool; no
repository name in any label value; the registry and the metrics each on their own port only.
Waits poll with generous deadlines (a worker's first round); nothing asserts on time.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN
from tests.support.engines import ContainersClients
from tests.support.images import OciImage, build_image
from tests.support.oci import Client, Image, sha256
from tests.support.server import RegistryServer, WorkerProcess, free_port

pytestmark = pytest.mark.clients

ROUTE_CLASSES = {
    "v2_base", "v2_auth", "v2_catalog", "v2_blob", "v2_upload", "v2_manifest", "v2_tags",
    "v2_referrers", "v2_other", "api", "ui", "health", "secscan",
}  # fmt: skip
MARKER = "cardinalityprobe"  # in every repository name of the cardinality test


Labels = tuple[tuple[str, str], ...]


@dataclass
class Scrape:
    """One scrape: every sample as (name, labels) -> value."""

    samples: dict[tuple[str, Labels], float]

    def get(self, name: str, **labels: str) -> float:
        """The sum of the samples named ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= set(ls))

    def label_values(self) -> set[str]:
        return {value for (_n, ls) in self.samples for _k, value in ls}


@dataclass
class Metrics:
    server: RegistryServer
    tmpdir: Path  # the server's TMPDIR: its private multiprocess directory is made in it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.metrics_port}/metrics"

    def scrape(self) -> Scrape:
        r = httpx.get(self.url, timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        samples: dict[tuple[str, Labels], float] = {}
        for family in text_string_to_metric_families(r.text):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return Scrape(samples)

    def wait_for(self, what: str, predicate: object, deadline_s: float = 120) -> Scrape:
        end = time.monotonic() + deadline_s
        while True:
            scrape = self.scrape()
            if callable(predicate) and predicate(scrape):
                return scrape
            if time.monotonic() > end:
                pytest.fail(f"{what}: not seen within {deadline_s}s")
            time.sleep(0.5)

    def multiproc_dir(self) -> Path:
        found = list(self.tmpdir.glob("registry-app-metrics-*"))
        assert len(found) == 1, f"expected one private metrics directory in {self.tmpdir}, found {found}"
        return found[0]


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metrics]:
    base = tmp_path_factory.mktemp("metrics")
    tmpdir = base / "tmp"
    tmpdir.mkdir()
    server = RegistryServer(
        data_dir=base / "data", workers=2, metrics_port=free_port(), extra_env={"TMPDIR": str(tmpdir)}
    )
    server.create_user(*ADMIN, superuser=True)
    with server.start():
        yield Metrics(server, tmpdir)
    assert not list(tmpdir.glob("registry-app-metrics-*")), "serve left its metrics directory behind"


@pytest.fixture
def image(tmp_path: Path, request: pytest.FixtureRequest) -> OciImage:
    return build_image(tmp_path / "src-layout", "v1", seed=request.node.nodeid)


def layout_bytes(layout: Path) -> int:
    return sum(p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir())


def test_skopeo_push_is_counted(metrics: Metrics, cc: ContainersClients, image: OciImage) -> None:
    server = metrics.server
    before = metrics.scrape()
    cc.skopeo("login", "--username", ADMIN[0], "--password-stdin", "--tls-verify=false", server.host, input=ADMIN[1])
    cc.skopeo("copy", "--dest-tls-verify=false", image.ref, f"docker://{server.host}/{ADMIN[0]}/metrics-push:v1")
    after = metrics.scrape()

    def delta(name: str, **labels: str) -> float:
        return after.get(name, **labels) - before.get(name, **labels)

    count = "quay_request_duration_seconds_count"
    assert delta(count, route="v2_manifest", method="PUT", status="201") == 1
    assert delta(count, route="v2_upload", method="POST", status="202") >= 2  # config and layer(s)
    assert delta(count, route="v2_upload", method="PUT", status="201") >= 2
    assert delta(count, route="v2_auth", status="200") >= 1  # skopeo's token
    # bytes in: every blob of the image (config, layers) and its manifest came in as request bodies
    sent = delta("quay_http_request_bytes_total", route="v2_upload") + delta(
        "quay_http_request_bytes_total", route="v2_manifest"
    )
    assert sent >= layout_bytes(image.layout)  # the layout holds this image's blobs and manifest only
    assert delta("quay_http_response_bytes_total", route="v2_auth") > 0  # the token went out
    started = delta("quay_blob_uploads_started_total")
    assert started >= 2
    assert delta("quay_blob_uploads_completed_total") == started
    assert delta("quay_blob_uploads_failed_total") == 0

    # pulled back: the blob bytes go out on v2_blob
    out = cc.base / "pulled"
    cc.skopeo("copy", "--src-tls-verify=false", f"docker://{server.host}/{ADMIN[0]}/metrics-push:v1", f"oci:{out}:v1")
    pulled = metrics.scrape()
    blob_bytes = layout_bytes(image.layout) - len(image.manifest)  # config and layers
    assert pulled.get("quay_http_response_bytes_total", route="v2_blob") - after.get(
        "quay_http_response_bytes_total", route="v2_blob"
    ) >= blob_bytes


def test_requests_are_summed_over_both_workers(metrics: Metrics) -> None:
    """Many requests on separate connections: the scrape counts every one, and the counts come
    from the files of both granian worker processes (each one's share adds up to the total)."""
    n = 80
    url = f"{metrics.server.url}/health/instance"
    before = metrics.scrape().get("quay_request_duration_seconds_count", route="health")

    def one(_i: int) -> int:
        return httpx.get(url, timeout=60).status_code  # a new connection each time

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(one, range(n))) == {200}
    after = metrics.scrape()
    assert after.get("quay_request_duration_seconds_count", route="health", status="200", method="GET") - before == n

    per_process: dict[int, float] = {}
    for path in metrics.multiproc_dir().glob("histogram_*.db"):
        pid = int(re.fullmatch(r"histogram_(\d+)\.db", path.name).group(1))  # type: ignore[union-attr]
        total = 0.0
        for key, value, *_rest in MmapedDict.read_all_values_from_file(str(path)):
            _metric, sample, labels, *_help = json.loads(key)
            # a histogram's file holds each bucket's own count (not cumulative): they add up to _count
            if sample == "quay_request_duration_seconds_bucket" and labels.get("route") == "health":
                total += value
        if total:
            per_process[pid] = total
    assert len(per_process) == 2, f"expected health requests in both worker processes, got {per_process}"
    assert sum(per_process.values()) == after.get("quay_request_duration_seconds_count", route="health")


def test_failed_upload_and_open_upload_queue(metrics: Metrics) -> None:
    client = Client(metrics.server.url, auth=ADMIN)
    try:
        before = metrics.scrape()
        data = os.urandom(2048)
        r = client.push_blob(f"{ADMIN[0]}/metrics-failed", data, digest=sha256(b"something else"))
        assert r.status_code == 400, r.text
        r = client.http.post(f"/v2/{ADMIN[0]}/metrics-failed/blobs/uploads/")  # left open
        assert r.status_code == 202, r.text
        after = metrics.scrape()
    finally:
        client.close()
    assert after.get("quay_blob_uploads_failed_total") - before.get("quay_blob_uploads_failed_total") == 1
    assert after.get("quay_blob_uploads_started_total") - before.get("quay_blob_uploads_started_total") == 2
    open_before = before.get("quay_queue_depth", queue="uploads_open")
    assert after.get("quay_queue_depth", queue="uploads_open") == open_before + 1
    assert after.get("quay_queue_depth_up") == 1
    assert after.get("quay_queue_depth", queue="repository_event") == 0


def test_worker_counters_and_database_pool(metrics: Metrics) -> None:
    scrape = metrics.wait_for(
        "a round of the audit-flush worker", lambda s: s.get("quay_worker_rounds_total", worker="audit-flush") > 0
    )
    for worker in ("audit-flush", "upload-activity", "uploads"):  # every worker of the process, from the base
        for counter in ("rounds", "errors", "items", "skipped"):
            assert (f"quay_worker_{counter}_total", (("worker", worker),)) in scrape.samples
    assert scrape.get("quay_worker_errors_total", worker="audit-flush") == 0
    assert scrape.get("quay_db_pool_size") > 0  # SQLite's QueuePool in each of the two workers
    assert scrape.get("quay_db_pooled_connections_in_use") >= 0


def test_no_repository_name_in_any_label(metrics: Metrics) -> None:
    """Push to 20 repositories: no label value names any of them, and the number of series does
    not grow between the 10th and the 20th (labels come from fixed sets)."""
    client = Client(metrics.server.url, auth=ADMIN)
    series: list[int] = []
    try:
        for i in range(20):
            image = Image.random(1, 512)
            r = client.push_image(f"{ADMIN[0]}/{MARKER}-{i}", image, f"tag{MARKER}{i}")
            assert r.status_code == 201, r.text
            assert client.http.get(f"/v2/{ADMIN[0]}/{MARKER}-{i}/tags/list").status_code == 200
            if i in (9, 19):
                series.append(len(metrics.scrape().samples))
    finally:
        client.close()
    scrape = metrics.scrape()
    values = scrape.label_values()
    leaked = sorted(v for v in values if MARKER in v or ADMIN[0] in v or v.startswith("sha256:"))
    assert not leaked, f"label values name client input: {leaked}"
    routes = {v for (_n, ls) in scrape.samples for k, v in ls if k == "route"}
    assert routes <= ROUTE_CLASSES
    assert {"v2_manifest", "v2_tags", "v2_upload"} <= routes
    assert series[0] == series[1], f"series grew with the repositories: {series}"


def test_ports_serve_only_their_own(metrics: Metrics) -> None:
    server = metrics.server
    r = httpx.get(f"{server.url}/metrics", timeout=30)
    assert r.status_code == 404
    assert "quay_request_duration_seconds" not in r.text
    metrics_base = f"http://127.0.0.1:{server.metrics_port}"
    for path in ("/", "/v2/", "/health/instance", "/api/v1/discovery", "/metrics/extra"):
        r = httpx.get(metrics_base + path, timeout=30)
        assert r.status_code == 404, path
        assert "quay_" not in r.text
    assert httpx.post(metrics.url, timeout=30).status_code == 405


def test_worker_process_serves_its_own_metrics(metrics: Metrics) -> None:
    """``registry-app worker --metrics-port``: a worker process of its own (here the upload
    collector beside the server's data) has its workers' counters on its own port."""
    port = free_port()
    worker = WorkerProcess(metrics.server, ("uploads",), metrics_port=port).start()
    try:
        scraper = Metrics(metrics.server, metrics.tmpdir)
        scraper.server = RegistryServer(data_dir=metrics.server.data_dir, port=metrics.server.port, metrics_port=port)
        end = time.monotonic() + 120
        while True:
            try:
                scrape = scraper.scrape()
            except httpx.HTTPError:
                scrape = None
            if scrape is not None and scrape.get("quay_worker_rounds_total", worker="audit-flush") > 0:
                break
            assert worker.proc is not None and worker.proc.poll() is None, worker.log()
            if time.monotonic() > end:
                pytest.fail(f"no worker round on the worker's metrics port within 120s:\n{worker.log()}")
            time.sleep(0.5)
        assert ("quay_worker_rounds_total", (("worker", "uploads"),)) in scrape.samples
        assert scrape.get("quay_queue_depth_up") == 1
    finally:
        assert worker.stop() == 0, worker.log()
