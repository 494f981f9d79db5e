#!/usr/bin/env python3
"""Benchmark registry_app against distribution 2.8 and 3.x and the machine's limits, in one run.

    .venv/bin/python bench/run.py            # full: 512 MiB blobs, 10 s wrk, 200 images
    .venv/bin/python bench/run.py --quick    # smoke: 64 MiB blobs, 3 s wrk, 40 images

What is measured and why: docs/benchmarks.md. Exit status is 0 unless a measurement broke;
PASS/MISS against the targets is informational.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quaybench import measure
from quaybench.limits import Nginx, disk_fsync_rate, loopback_rate
from quaybench.measure import Params, Samples
from quaybench.procs import ForeignLoadMonitor, background_busy, set_priority, stop_all
from quaybench.servers import Distribution, RegistryApp, Target, find_binary, imported_source
from quaybench.sink import Sink
from quaybench.util import MB, BenchError, MiB, free_port, log, median

REPO = Path(__file__).resolve().parent.parent
DISTS = ("distribution2", "distribution3")
SERVERS = (*DISTS, "registry_app")
LOGIN_CONNS = (1, 8, 64)
LOGIN_TIMEOUT_S = 2  # wrk's default: a login unanswered after 2 s counts as a timeout

# key, label, unit, higher is better, target ratio (registry_app / the best distribution) or None
ROWS = [
    ("blob_get", "blob GET {size} MiB", "MB/s", True, 1.0),
    ("blob_range", "blob GET Range {range_mib} MiB of {size}", "MB/s", True, 1.0),
    ("mono_push", "monolithic push {size} MiB", "MB/s", True, 1.5),
    ("chunked_push", "chunked push {size} MiB ({chunk} MiB PATCHes)", "MB/s", True, 1.5),
    ("manifest_anon_rps", "manifest GET anonymous, {conns} conns, median", "req/s", True, 5.0),
    ("manifest_anon_p99", "  p99 latency", "ms", False, None),
    ("manifest_bearer_rps", "manifest GET bearer, {conns} conns, median", "req/s", True, 5.0),
    ("manifest_bearer_p99", "  p99 latency", "ms", False, None),
    *[row for c in LOGIN_CONNS for row in (
        (f"login_{c}_rps", f"login (Basic) {c} conn{'s' if c > 1 else ''}, 2xx/s, median", "req/s",
         True, None),
        (f"login_{c}_p99", "  p99 latency", "ms", False, None),
        (f"login_{c}_errors", f"  timeouts (>{LOGIN_TIMEOUT_S}s) + errors, all runs", "count", False, None),
    )],
    ("small_seconds", "{images} small images, {clients} clients, median", "s", False, None),
    ("small_rate", "  throughput", "images/s", True, 2.0),
    ("peak_rss", "peak RSS (sum over process tree)", "MiB", False, None),
    ("peak_pss", "  peak PSS (shared pages split)", "MiB", False, None),
]
BLOB_KEYS = ("blob_get", "blob_range", "mono_push", "chunked_push")

PHASES = ("limits", "blob_get", "mono_push", "chunked_push", "manifests", "login", "small")


def machine_info() -> dict[str, str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        flags = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags"))
        sha_ni = " sha_ni" in flags
    except (OSError, StopIteration):
        sha_ni = False
    return {"nproc": str(os.cpu_count()), "cpu": model, "sha_ni": "yes" if sha_ni else "no",
            "kernel": platform.release(), "python": platform.python_version(),
            "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def default_distribution3() -> str:
    cache = os.environ.get("QUAY_CI_CACHE", "/var/cache/quay-registry-ci")
    return f"{cache}/go/bin/distribution"


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 64 MiB, 3 s wrk, 40 images")
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help="comma-separated subset of " + ",".join(SERVERS) + " (default all)")
    ap.add_argument("--size-mib", type=int, help="blob size for blob GET and pushes (default 512, quick 64)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each measurement (default 3)")
    ap.add_argument("--chunk-mib", type=int, default=16, help="PATCH size for the chunked push (default 16)")
    ap.add_argument("--wrk-seconds", type=int, help="wrk duration (default 10, quick 3)")
    ap.add_argument("--connections", type=int, default=32,
                    help="wrk connections for manifest GETs (default 32)")
    ap.add_argument("--images", type=int, help="small images to push (default 200, quick 40)")
    ap.add_argument("--clients", type=int, default=8, help="parallel small-image clients (default 8)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                    help="registry-app serve --workers (default: nproc)")
    ap.add_argument("--registry-app", help="path of the registry-app command (default: beside python)")
    ap.add_argument("--registry-app-src", default=str(REPO / "registry_app" / "src"),
                    help="registry_app sources to run, first on PYTHONPATH when the command's Python imports"
                         " another copy (default: this repository's; '' = whatever it imports)")
    ap.add_argument("--docker-registry", help="path of distribution 2.8's docker-registry (default: PATH)")
    ap.add_argument("--distribution3", default=default_distribution3(),
                    help="path of distribution 3.x's registry (default: $QUAY_CI_CACHE/go/bin/distribution,"
                         " built by scripts/build-go-tools)")
    ap.add_argument("--nginx", help="path of nginx, the serving ceiling (default: from PATH or /usr/sbin)")
    ap.add_argument("--workdir", default="/var/tmp",
                    help="parent of the temporary server data dir (the disk limit is measured there too)")
    ap.add_argument("--scratch", default="/dev/shm",
                    help="where upload source files are made (tmpfs keeps the client off the disk)")
    ap.add_argument("--json-out", help="also write the results as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    ap.add_argument("--wait-idle", type=int, default=0,
                    help="wait up to N seconds for other processes to leave the CPUs before starting")
    ap.add_argument("--nice", type=int,
                    help="run the benchmark and the servers at this nice value (e.g. -10 on a machine"
                         " shared with other jobs; needs root); default: unchanged")
    ap.add_argument("--skip-ceilings", action="store_true",
                    help="do not measure the clients against a null sink")
    ap.add_argument("--phases", default=",".join(PHASES),
                    help="comma-separated subset of " + ",".join(PHASES) + " (default all); e.g."
                         " --phases mono_push,chunked_push to compare only the pushes")
    args = ap.parse_args(argv)
    args.size_mib = args.size_mib or (64 if args.quick else 512)
    args.wrk_seconds = args.wrk_seconds or (3 if args.quick else 10)
    args.images = args.images or (40 if args.quick else 200)
    args.phases = tuple(x.strip() for x in args.phases.split(",") if x.strip())
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        ap.error(f"unknown phase(s) {sorted(unknown)}; choose from {','.join(PHASES)}")
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(args.servers) - set(SERVERS)
    if unknown:
        ap.error(f"unknown server(s) {sorted(unknown)}; choose from {','.join(SERVERS)}")
    return args


def stats(values: list[float]) -> dict:
    return {"best": max(values), "median": median(values), "runs": values}


class Limits:
    """The machine's limits: SHA-256 on one core, disk write + fsync, loopback TCP, nginx sendfile.

    The first three are measured before the registries start (nothing else of the benchmark
    running); nginx runs beside them and its GETs are interleaved with the registries' blob GETs.
    """

    def __init__(self, results: dict, errors: list[str]) -> None:
        self.out: dict = results.setdefault("limits", {})
        self.errors = errors
        self.nginx: Nginx | None = None
        self.nginx_file = ""

    def _try(self, what: str, fn):
        try:
            return fn()
        except Exception as exc:
            msg = f"limit {what}: {exc}"
            if not isinstance(exc, BenchError):
                msg += "\n" + traceback.format_exc()
            log("ERROR " + msg)
            self.errors.append(msg)
            return None

    def measure_host(self, args: argparse.Namespace, p: Params, base_blob: Path, workdir: Path) -> None:
        with open(base_blob, "rb") as fh:
            data = fh.read(256 * MiB)
        sha = [measure.sha256_rate(data) for _ in range(p.reps)]
        del data
        self.out["sha256"] = stats(sha)
        log(f"limit SHA-256, one core: median {median(sha):.0f} MB/s ({', '.join(f'{x:.0f}' for x in sha)})")

        probe_dir = workdir / "fsync-probe"
        probe_dir.mkdir()

        def disk() -> None:
            runs = [disk_fsync_rate(probe_dir, base_blob, p.size) for _ in range(p.reps)]
            self.out["disk_fsync"] = {**stats([r[0] for r in runs]), "detail": [r[1] for r in runs],
                                      "where": _filesystem_of(probe_dir)}
            log(f"limit disk write + fsync ({self.out['disk_fsync']['where']}): median "
                f"{self.out['disk_fsync']['median']:.0f} MB/s ({'; '.join(r[1] for r in runs)})")

        self._try("disk write + fsync", disk)

        def loopback() -> None:
            sink = Sink(free_port(), str(base_blob))
            try:
                runs = [loopback_rate(sink.url, base_blob) for _ in range(p.reps)]
            finally:
                sink.stop()
            self.out["loopback"] = stats([r[0] for r in runs])
            log(f"limit loopback TCP to a null server: median {self.out['loopback']['median']:.0f} MB/s")

        self._try("loopback", loopback)

    def start_nginx(self, args: argparse.Namespace, base_blob: Path, workdir: Path) -> None:
        def start() -> None:
            www = workdir / "nginx-www"
            www.mkdir()
            measure.make_variant(base_blob, www / "blob.bin", f"quay-bench nginx {time.time_ns()}")
            nginx = Nginx(workdir / "nginx", www, args.nginx)
            nginx.start()
            self.nginx, self.nginx_file = nginx, "blob.bin"
            self.out["nginx_label"] = nginx.label
            log(f"nginx ({nginx.label}) serving {www} on {nginx.base_url}")

        self._try("nginx", start)

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()


def _filesystem_of(path: Path) -> str:
    """'ext4 on /var/tmp'-style description of the filesystem that holds `path`."""
    best = ("?", "/")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _dev, mnt, fstype, *_ = line.split()
            if str(path).startswith(mnt.rstrip("/") + "/") and len(mnt) >= len(best[1]):
                best = (fstype, mnt)
    except OSError:
        pass
    return f"{best[0]} mounted on {best[1]}"


class Runner:
    """Runs every measurement on every live target, interleaved run by run.

    Interleaving (distribution 2.8 run 1, distribution 3.x run 1, registry_app run 1, then run 2,
    ...) means that a burst of background load on this shared 2-core machine hits every server,
    not one.
    """

    def __init__(self, targets: list[Target], p: Params, base_blob: Path, scratch: Path,
                 images: dict[str, list], results: dict, errors: list[str], load: ForeignLoadMonitor,
                 limits: Limits, phases: tuple[str, ...] = PHASES) -> None:
        self.phases = phases
        self.targets = targets
        self.p = p
        self.base_blob = base_blob
        self.scratch = scratch
        self.images = images
        self.results = results
        self.errors = errors
        self.load = load
        self.limits = limits
        self.failed: dict[str, set[str]] = {t.name: set() for t in targets}

    def r(self, t: Target) -> dict:
        return self.results.setdefault(t.name, {})

    def details(self, t: Target) -> dict:
        return self.r(t).setdefault("details", {})

    def step(self, key: str, t: Target, fn):
        """Run fn() for one target; a failure is recorded and the key is skipped for that target."""
        if key in self.failed[t.name]:
            return None
        t.set_phase(key)
        self.load.phase = key
        try:
            t.check_alive()
            return fn()
        except Exception as exc:  # keep going: one broken measurement must not hide the others
            msg = f"{t.name} {key}: {exc}"
            if not isinstance(exc, BenchError):
                msg += "\n" + traceback.format_exc()
            log("ERROR " + msg)
            self.errors.append(msg)
            self.r(t).setdefault("errors", {})[key] = str(exc)
            self.failed[t.name].add(key)
            return None

    def _record(self, key: str, samples: dict[str, Samples]) -> None:
        for t in self.targets:
            s = samples[t.name]
            if s.values and key not in self.failed[t.name]:
                self.r(t)[key] = {"best": s.best, "median": s.median, "runs": s.values}
                self.details(t)[key] = s.detail
                log(f"{t.name} {key}: best {s.best:.1f} MB/s, median {s.median:.1f} MB/s")

    def _nginx_get(self, key: str, ranged: bool, i: int, samples: Samples) -> None:
        nginx = self.limits.nginx
        if nginx is None:
            return
        self.load.phase = key
        try:
            mbs, detail = measure.blob_get_once(nginx.url(self.limits.nginx_file), None, self.p, ranged)
        except BenchError as exc:
            log(f"ERROR nginx {key}: {exc}")
            self.errors.append(f"nginx {key}: {exc}")
            return
        samples.values.append(mbs)
        samples.detail.append(f"run {i + 1}: {detail}")

    def blob_get(self) -> None:
        log("1. blob GET, whole and Range")
        where = {t.name: self.step("blob_get", t, lambda t=t: measure.blob_get_setup(
            t, self.base_blob, self.scratch, self.p)) for t in self.targets}
        for t in self.targets:
            if where[t.name] is not None:
                self.details(t)["range_check"] = where[t.name][2]
        first, last = measure.blob_range(self.p.size)
        self.results["blob_range"] = {"first": first, "last": last, "bytes": last - first + 1}
        for key, ranged in (("blob_get", False), ("blob_range", True)):
            samples = {t.name: Samples() for t in self.targets}
            ceiling = Samples()
            for i in range(self.p.reps):
                for t in self.targets:
                    if where[t.name] is None:
                        continue
                    url, repo, _ = where[t.name]
                    res = self.step(key, t, lambda t=t, url=url, repo=repo, ranged=ranged:
                                    measure.blob_get_once(url, t.token([repo]), self.p, ranged))
                    if res:
                        samples[t.name].values.append(res[0])
                        samples[t.name].detail.append(f"run {i + 1}: {res[1]}")
                self._nginx_get(key, ranged, i, ceiling)
            self._record(key, samples)
            if ceiling.values:
                self.limits.out[f"nginx_{key}"] = {**stats(ceiling.values), "detail": ceiling.detail}
                log(f"nginx {key}: best {ceiling.best:.1f} MB/s, median {ceiling.median:.1f} MB/s")

    def push(self, chunked: bool) -> None:
        key = "chunked_push" if chunked else "mono_push"
        log(f"{3 if chunked else 2}. {key}")
        samples = {t.name: Samples() for t in self.targets}
        for i in range(self.p.reps):
            for t in self.targets:
                res = self.step(key, t, lambda t=t, i=i: measure.big_push_once(
                    t, self.base_blob, self.scratch, self.p, chunked, i))
                if res:
                    samples[t.name].values.append(res[0])
                    samples[t.name].detail.append(f"run {i + 1}: {res[1]}")
        self._record(key, samples)

    def _wrk_series(self, key: str, live: list[Target], url_of: dict[str, str],
                    token_of: dict[str, str | None]) -> None:
        """`reps` interleaved wrk runs per target; the median run's figures are reported."""
        runs: dict[str, list[dict]] = {t.name: [] for t in live}
        for _ in range(self.p.reps):
            for t in live:
                w = self.step(key, t, lambda t=t: measure.wrk_run(url_of[t.name], token_of[t.name], self.p))
                if w:
                    runs[t.name].append(w)
                    log(f"{t.name} {key}: {w['rps']:.0f} req/s, p99 {w['p99_ms']:.1f} ms")
        for t in live:
            if not runs[t.name] or key in self.failed[t.name]:
                continue
            self.r(t)[f"{key}_rps"] = median([w["rps"] for w in runs[t.name]])
            self.r(t)[f"{key}_p99"] = median([w["p99_ms"] for w in runs[t.name]])
            self.details(t)[f"{key}_wrk"] = runs[t.name]

    def manifests(self) -> None:
        log("4. manifest GET (wrk)")
        url_of = {t.name: f"{t.base_url}/v2/bench/web/manifests/latest" for t in self.targets}
        image_of = {t.name: self.step("manifest_bearer", t, lambda t=t: measure.push_web_image(t, self.p))
                    for t in self.targets}
        live = [t for t in self.targets if image_of[t.name] is not None]

        token_of: dict[str, str | None] = {}
        for t in live:
            def bearer_check(t=t) -> None:
                token_of[t.name] = t.token(["bench/web"])
                self.details(t)["manifest_bearer_check"] = measure.verify_manifest(
                    url_of[t.name], token_of[t.name], image_of[t.name])

            self.step("manifest_bearer", t, bearer_check)
        self._wrk_series("manifest_bearer", live, url_of, token_of)

        # distribution is restarted without auth and registry_app's repository made public;
        # leaving the ExitStack puts distribution back on token auth for the next measurement.
        with contextlib.ExitStack() as stack:
            anon_of: dict[str, str | None] = {}
            for t in live:
                def anon_check(t=t) -> None:
                    anon_token, how = stack.enter_context(t.anonymous("bench/web"))
                    self.details(t)["manifest_anon_how"] = how
                    self.details(t)["manifest_anon_check"] = measure.verify_manifest(
                        url_of[t.name], anon_token, image_of[t.name])
                    anon_of[t.name] = anon_token

                self.step("manifest_anon", t, anon_check)
            self._wrk_series("manifest_anon", [t for t in live if t.name in anon_of], url_of, anon_of)

    def login(self) -> None:
        """Basic credentials at 1, 8 and 64 connections: registry_app's /v2/auth issuing a token;
        distribution 3.x checking htpasswd on GET /v2/ (its token auth is an external service)."""
        log("5. login with Basic credentials (wrk at " + ", ".join(map(str, LOGIN_CONNS)) + " connections)")
        key = "login"
        with contextlib.ExitStack() as stack:
            how_of: dict[str, tuple[str, str]] = {}
            for t in self.targets:
                if t.name == "distribution2":
                    continue  # 3.x is the reference for this one; 2.8 would only add minutes

                def setup(t=t) -> None:
                    url, authorization, how = stack.enter_context(t.basic_login())
                    self.details(t)["login_how"] = how
                    self.details(t)["login_check"] = measure.verify_login(
                        url, authorization, want_token=isinstance(t, RegistryApp))
                    how_of[t.name] = (url, authorization)

                self.step(key, t, setup)
            live = [t for t in self.targets if t.name in how_of]
            for conns in LOGIN_CONNS:
                runs: dict[str, list[dict]] = {t.name: [] for t in live}
                for _ in range(self.p.reps):
                    for t in live:
                        url, authorization = how_of[t.name]
                        w = self.step(key, t, lambda url=url, authorization=authorization, conns=conns:
                                      measure.wrk_run(url, None, self.p, connections=conns,
                                                      authorization=authorization, timeout_s=LOGIN_TIMEOUT_S,
                                                      allow_errors=True))
                        if w:
                            runs[t.name].append(w)
                            log(f"{t.name} login, {conns} conns: " + wrk_summary(w))
                for t in live:
                    if not runs[t.name] or key in self.failed[t.name]:
                        continue
                    self.r(t)[f"login_{conns}_rps"] = median([w["ok_rps"] for w in runs[t.name]])
                    p99s = [w["p99_ms"] for w in runs[t.name] if w["p99_ms"] is not None]
                    if p99s:
                        self.r(t)[f"login_{conns}_p99"] = median(p99s)
                    self.r(t)[f"login_{conns}_errors"] = float(sum(w["errors"] for w in runs[t.name]))
                    self.r(t)[f"login_{conns}_timeouts"] = float(sum(w["timeouts"] for w in runs[t.name]))
                    self.details(t)[f"login_{conns}_wrk"] = runs[t.name]

    def small(self) -> None:
        log("6. small images")
        runs: dict[str, list[dict]] = {t.name: [] for t in self.targets}
        for i in range(self.p.reps):
            for t in self.targets:
                res = self.step("small_images", t, lambda t=t, i=i: measure.small_images(
                    t, self.p, self.images[t.name][i], tag_prefix=f"run{i}"))
                if res:
                    runs[t.name].append(res)
                    log(f"{t.name} small images: {res['seconds']:.2f}s, {res['images_per_s']:.1f} images/s")
        for t in self.targets:
            if runs[t.name] and "small_images" not in self.failed[t.name]:
                self.r(t)["small_seconds"] = median([r["seconds"] for r in runs[t.name]])
                self.r(t)["small_rate"] = median([r["images_per_s"] for r in runs[t.name]])
                self.details(t)["small_images"] = [f"{r['seconds']:.2f}s" for r in runs[t.name]]

    def run_all(self) -> None:
        if "blob_get" in self.phases:
            self.blob_get()
        if "mono_push" in self.phases:
            self.push(chunked=False)
        if "chunked_push" in self.phases:
            self.push(chunked=True)
        if "manifests" in self.phases:
            self.manifests()
        if "login" in self.phases:
            self.login()
        if "small" in self.phases:
            self.small()
        self.load.phase = "teardown"


def wrk_summary(w: dict) -> str:
    p99 = "-" if w["p99_ms"] is None else f"{w['p99_ms']:.1f} ms"
    text = f"{w['requests']} answers, {w.get('ok_rps', w['rps']):.0f} 2xx/s, p99 {p99}"
    if w.get("non2xx"):
        text += f", non-2xx: {w['non2xx']}"
    if w["socket_errors"]:
        text += f", socket errors: {w['socket_errors']}"
    if w.get("unanswered") is not None:
        text += f", {w['sent']} sent ({w['unanswered']} unanswered at the end)"
    return text


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def value_of(results: dict, server: str, key: str, which: str | None):
    v = results.get(server, {}).get(key)
    if isinstance(v, dict):
        return v.get(which or "median")
    return v


def best_distribution(results: dict, key: str, which: str | None, higher: bool) -> tuple[float | None, str]:
    vals = [(v, d) for d in DISTS if isinstance(v := value_of(results, d, key, which), float)]
    if not vals:
        return None, ""
    return (max if higher else min)(vals)


def short(name: str) -> str:
    return {"distribution2": "dist 2.8", "distribution3": "dist 3.x"}.get(name, name)


def print_table(results: dict, args: argparse.Namespace) -> list[str]:
    rng = results.get("blob_range", {})
    fields = {"size": args.size_mib, "chunk": args.chunk_mib, "conns": args.connections,
              "images": args.images, "clients": args.clients,
              "range_mib": f"{rng.get('bytes', 0) / MiB:.0f}"}
    lines = []
    hdr = (f"{'measurement':<46} {'unit':<8} {'dist 2.8':>10} {'dist 3.x':>10} {'registry_app':>12} "
           f"{'vs 2.8':>7} {'vs 3.x':>7} {'target':>7}  result")
    lines += [hdr, "-" * len(hdr)]
    for key, label, unit, higher, target in ROWS:
        label = label.format(**fields)
        variants = ["best", "median"] if key in BLOB_KEYS else [None]
        for which in variants:
            name = f"{label}, {which}" if which else label
            a = value_of(results, "registry_app", key, which)
            cells, ratios = [], []
            for d in DISTS:
                v = value_of(results, d, key, which)
                cells.append(fmt(v))
                r = a / v if (isinstance(a, float) and isinstance(v, float) and v) else None
                ratios.append("-" if r is None else f"{r:.2f}x" + ("" if higher else "*"))
            tgt, verdict = "", ""
            # PASS/MISS is judged on the median (or the single figure) against the best
            # distribution in this run, never on a best run.
            if target is not None and which in (None, "median"):
                tgt = f">={target:g}x"
                best, _ = best_distribution(results, key, which, higher)
                ok = isinstance(a, float) and best and a / best >= target
                verdict = "-" if not (isinstance(a, float) and best) else ("PASS" if ok else "MISS")
            if all(c == "-" for c in cells) and a is None:
                continue
            lines.append(f"{name:<46} {unit:<8} {cells[0]:>10} {cells[1]:>10} {fmt(a):>12} "
                         f"{ratios[0]:>7} {ratios[1]:>7} {tgt:>7}  {verdict}")
    lines.append("(vs = registry_app / that distribution; * = lower is better; targets: registry_app's median"
                 " against the best distribution's)")
    login = login_verdict(results)
    if login:
        lines.append(login)
    return lines


def login_verdict(results: dict) -> str:
    app = results.get("registry_app", {})
    one, many = app.get(f"login_{LOGIN_CONNS[0]}_rps"), app.get(f"login_{LOGIN_CONNS[-1]}_rps")
    if not (isinstance(one, float) and isinstance(many, float)):
        return ""
    errors = sum(app.get(f"login_{c}_errors", 0.0) for c in LOGIN_CONNS)
    ok = many >= one and errors == 0
    return (f"login target (registry_app /v2/auth: {LOGIN_CONNS[-1]} conns >= 1 conn, no timeouts/errors): "
            f"{many:,.0f} vs {one:,.0f} req/s ({many / one:.2f}x), {errors:.0f} timeouts+errors  "
            f"{'PASS' if ok else 'MISS'}")


def limits_lines(results: dict, args: argparse.Namespace) -> list[str]:
    lim = results.get("limits") or {}
    info = results["machine"]
    if not lim:
        return []
    out = ["machine limits, measured in this run (median of the runs; best in brackets):"]

    def row(label: str, key: str) -> None:
        if key in lim:
            out.append(f"  {label:<66} {fmt(lim[key]['median']):>7} MB/s  [{fmt(lim[key]['best'])}]")

    row(f"SHA-256 on one core, hashlib/OpenSSL (SHA-NI: {info['sha_ni']})", "sha256")
    where = lim.get("disk_fsync", {}).get("where", "")
    row(f"disk: write {args.size_mib} MiB in 4 MiB writes + fsync ({where})", "disk_fsync")
    row(f"loopback TCP: {args.size_mib} MiB sendfile() to a null server", "loopback")
    nginx = lim.get("nginx_label", "nginx")
    row(f"{nginx} sendfile, whole blob GET (curl, same filesystem)", "nginx_blob_get")
    row(f"{nginx} sendfile, Range GET of the same blob", "nginx_blob_range")

    floor_keys = [k for k in ("sha256", "disk_fsync", "loopback") if k in lim]
    push_floor = min((lim[k]["median"] for k in floor_keys), default=None)
    checks = [
        ("blob GET whole / nginx sendfile", "blob_get", lim.get("nginx_blob_get", {}).get("median"), 0.85),
        ("blob GET Range / nginx sendfile Range", "blob_range",
         lim.get("nginx_blob_range", {}).get("median"), 0.85),
        ("monolithic push / min(SHA-256, disk+fsync, loopback)", "mono_push", push_floor, 0.8),
        ("chunked push / min(SHA-256, disk+fsync, loopback)", "chunked_push", push_floor, 0.8),
    ]
    hdr = (f"  {'share of the limit (medians)':<54} {'limit':>7} {'dist 2.8':>9} {'dist 3.x':>9} "
           f"{'registry_app':>12} {'target':>7}  result")
    out += ["", hdr, "  " + "-" * (len(hdr) - 2)]
    for label, key, limit, target in checks:
        if not limit:
            continue
        cells = []
        for name in (*DISTS, "registry_app"):
            v = value_of(results, name, key, "median")
            cells.append(f"{v / limit:.2f}x" if isinstance(v, float) else "-")
        a = value_of(results, "registry_app", key, "median")
        verdict = "-" if not isinstance(a, float) else ("PASS" if a / limit >= target else "MISS")
        out.append(f"  {label:<54} {fmt(limit):>7} {cells[0]:>9} {cells[1]:>9} {cells[2]:>12} "
                   f">={target:g}x  {verdict}")
    if push_floor and floor_keys:
        which = min(floor_keys, key=lambda k: lim[k]["median"])
        out.append(f"  (the push limit here is {which}: {fmt(push_floor)} MB/s)")
    return out


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    for tool in ("curl", "wrk"):
        if not shutil.which(tool):
            print(f"{tool} is required (apt-get install {tool})", file=sys.stderr)
            return 2

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    if args.nice is not None:
        set_priority(args.nice)

    size = args.size_mib * MiB
    p = Params(size=size, reps=args.reps, chunk=args.chunk_mib * MiB, wrk_seconds=args.wrk_seconds,
               wrk_connections=args.connections, wrk_threads=min(2, os.cpu_count() or 2),
               images=args.images, clients=args.clients)
    info = machine_info()
    workdir = Path(tempfile.mkdtemp(prefix="quay-bench-", dir=args.workdir))
    scratch_parent = args.scratch if Path(args.scratch).is_dir() else args.workdir
    scratch = Path(tempfile.mkdtemp(prefix="quay-bench-src-", dir=scratch_parent))
    results: dict = {"machine": info, "params": {**vars(args)}}
    errors: list[str] = []
    started = time.monotonic()
    targets: list[Target] = []
    load = ForeignLoadMonitor().start()
    limits = Limits(results, errors)
    try:
        busy = background_busy(2.0)
        waited = 0
        while busy > 0.15 and waited < args.wait_idle:  # bounded by --wait-idle seconds
            log(f"machine busy before start: {busy:.0%} of all cores used by other processes; waiting")
            time.sleep(8)
            waited += 10
            busy = background_busy(2.0)
        results["busy_before_start"] = busy
        log(f"machine: {info['nproc']} cores, {info['cpu']}, SHA-NI {info['sha_ni']}, "
            f"kernel {info['kernel']}, load average {info['load_average']}")
        log(f"server data under {workdir}, upload sources under {scratch}")
        base_blob = scratch / "base.bin"
        log(f"writing {args.size_mib} MiB of random data")
        measure.write_random_file(base_blob, size)

        if "limits" in args.phases:
            load.phase = "limits"
            limits.measure_host(args, p, base_blob, workdir)
            if "blob_get" in args.phases:
                limits.start_nginx(args, base_blob, workdir)

        if not args.skip_ceilings:
            load.phase = "client ceilings"
            sink = Sink(free_port(), str(base_blob))
            try:
                ceil = measure.client_ceilings(sink.url, base_blob, size, p.chunk,
                                               measure.generate_images("sink", min(args.images, 80)))
            finally:
                sink.stop()
            results["client_ceilings"] = ceil
            log("client ceilings against a null sink: " + ", ".join(f"{k} {v:,.0f}" for k, v in ceil.items()))

        src = None
        if args.registry_app_src and "registry_app" in args.servers:
            app_bin = find_binary(args.registry_app, "registry-app")
            here = imported_source(str(Path(app_bin).parent / "python"))
            wanted = Path(args.registry_app_src) / "registry_app"
            if not here or Path(here).resolve() != wanted.resolve():
                src = Path(args.registry_app_src)
                log(f"registry-app's Python imports {here or 'nothing'}; "
                    f"running {wanted} (first on PYTHONPATH)")
        for name in args.servers:
            tdir = workdir / name
            try:
                if name == "distribution2":
                    binary = find_binary(args.docker_registry, "docker-registry")
                    target: Target = Distribution(tdir, binary, 2)
                elif name == "distribution3":
                    if not Path(args.distribution3).exists():
                        raise BenchError(f"{args.distribution3} not found: run scripts/build-go-tools distribution "
                                         "(builds distribution 3.x into the cache) or pass --distribution3")
                    target = Distribution(tdir, args.distribution3, 3)
                else:
                    binary = find_binary(args.registry_app, "registry-app")
                    target = RegistryApp(tdir, binary, args.workers, src)
                targets.append(target)
                target.start()
            except Exception as exc:
                msg = f"{name} did not start: {exc}"
                if not isinstance(exc, BenchError):
                    msg += "\n" + traceback.format_exc()
                log("ERROR " + msg)
                errors.append(msg)
        live = [t for t in targets if t.proc is not None and t.proc.alive()]
        images = {t.name: [measure.generate_images(f"{t.name}-{i}-{time.time_ns()}", args.images)
                           for i in range(args.reps)] if "small" in args.phases else [] for t in live}
        Runner(live, p, base_blob, scratch, images, results, errors, load, limits, args.phases).run_all()
    except KeyboardInterrupt:
        errors.append("interrupted")
    finally:
        limits.stop()
        for t in targets:
            try:
                t.stop()
            except Exception as exc:
                log(f"stopping {t.name}: {exc!r}")
            r = results.setdefault(t.name, {})
            r["label"] = t.label
            if t.proc is None:  # never started: no memory figures
                r["label"] += " (did not start)"
                continue
            r["peak_rss"] = t.peak_rss_mib()
            r["peak_pss"] = t.peak_pss_mib()
            r["notes"] = t.notes
            r.setdefault("details", {})["rss_by_phase_mib"] = t.phase_peaks_mib()
            r["details"]["peak_processes"] = t.peak_procs()
            log(f"{t.name}: peak RSS {r['peak_rss']:.0f} MiB (PSS {r['peak_pss']:.0f} MiB), "
                f"{r['details']['peak_processes']} process(es)")
        stop_all()
        load.stop()
        results["background_cpu"] = {k: load.mean(k) for k in load.by_phase}
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            log(f"kept {workdir} and {scratch}")

    results["errors"] = errors
    results["elapsed_s"] = time.monotonic() - started
    report(results, args)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2, default=str) + "\n")
        log(f"results written to {args.json_out}")
    return 1 if errors else 0


def report(results: dict, args: argparse.Namespace) -> None:
    info = results["machine"]
    out = [""]
    out.append(f"quay.registry benchmark ({'quick' if args.quick else 'full'}), "
               f"{time.strftime('%Y-%m-%d %H:%M')}, {results['elapsed_s']:.0f} s")
    out.append(f"machine: {info['nproc']} cores, {info['cpu']}, SHA-NI: {info['sha_ni']}, "
               f"kernel {info['kernel']}, Python {info['python']}, "
               f"load average at start {info['load_average']}")
    if args.nice is not None:
        out.append(f"priority: benchmark, clients and servers ran at nice {args.nice} "
                   "(process and autogroup)")
    for name in SERVERS:
        if name in results:
            out.append(f"{short(name)}: {results[name].get('label', '?')}")
    bg = results.get("background_cpu") or {}
    bg_txt = ", ".join(f"{k} {v:.0%}" for k, v in bg.items() if v is not None)
    out.append(f"background CPU (other processes, share of all cores): before start "
               f"{results.get('busy_before_start', 0):.0%}; during: {bg_txt}")
    if any(v is not None and v > 0.10 for v in bg.values()):
        out.append("  WARNING: other processes used >10% of the CPUs during a measurement: those figures"
                   " are disturbed (every server alike, since runs are interleaved).")
    ceil = results.get("client_ceilings")
    if ceil:
        out.append("client ceilings (same clients against a null sink): " +
                   ", ".join(f"{k} {v:,.0f}" for k, v in ceil.items()))
    rng = results.get("blob_range")
    if rng:
        out.append(f"Range GET: bytes={rng['first']}-{rng['last']} ({rng['bytes'] / MB:,.0f} MB, "
                   "an odd offset through the last byte)")
    if any(f"login_{LOGIN_CONNS[0]}_rps" in results.get(n, {}) for n in SERVERS):
        out.append("login: registry_app GET /v2/auth?service=..&scope=repository:bench/web:pull with"
                   " Basic credentials, answered with a token; dist 3.x GET /v2/ with Basic credentials"
                   " checked against htpasswd (its token auth is an external service, not distribution)")
    out.append("")
    out += print_table(results, args)
    lim = limits_lines(results, args)
    if lim:
        out += ["", *lim]
    out.append("")
    for name in SERVERS:
        r = results.get(name)
        if not r:
            continue
        d = r.get("details", {})
        out.append(f"{name} details:")
        for key in BLOB_KEYS:
            if key in d:
                out.append(f"  {key}: " + "; ".join(d[key]))
        for key in ("range_check", "manifest_bearer_check", "manifest_anon_how", "manifest_anon_check",
                    "login_how", "login_check"):
            if key in d:
                out.append(f"  {key}: {d[key]}")
        wrk_keys = ["manifest_bearer_wrk", "manifest_anon_wrk", *[f"login_{c}_wrk" for c in LOGIN_CONNS]]
        for key in wrk_keys:
            for i, w in enumerate(d.get(key, [])):
                out.append(f"  {key} run {i + 1}: {wrk_summary(w)}")
        if "small_images" in d:
            out.append("  small_images runs: " + ", ".join(d["small_images"]))
        if "peak_processes" in d:
            out.append(f"  processes in the server's tree (peak): {d['peak_processes']}")
        if "rss_by_phase_mib" in d:
            out.append("  peak RSS by phase (MiB): " +
                       ", ".join(f"{k} {v:.0f}" for k, v in d["rss_by_phase_mib"].items()))
        for note in r.get("notes", []):
            out.append(f"  NOTE: {note}")
        for key, err in r.get("errors", {}).items():
            out.append(f"  ERROR in {key}: {err}")
    lim = results.get("limits", {})
    for key in ("disk_fsync", "nginx_blob_get", "nginx_blob_range"):
        if lim.get(key, {}).get("detail"):
            out.append(f"limit {key}: " + "; ".join(lim[key]["detail"]))
    if results["errors"]:
        out.append("")
        out.append(f"{len(results['errors'])} error(s): measurements above marked '-' did not complete.")
        for e in results["errors"]:
            out.append("  " + e.splitlines()[0][:300])
    print("\n".join(out), flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
