#!/usr/bin/env python3
"""Benchmark registry_app against distribution's docker-registry, side by side, in one run.

    /work/venv/bin/python bench/run.py            # full: 512 MiB blobs, 10 s wrk, 200 images
    /work/venv/bin/python bench/run.py --quick    # smoke: 64 MiB blobs, 3 s wrk, 40 images

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
from quaybench.measure import Params, Samples
from quaybench.procs import ForeignLoadMonitor, background_busy, set_priority, stop_all
from quaybench.servers import Distribution, RegistryApp, Target, find_binary
from quaybench.sink import Sink
from quaybench.util import BenchError, MiB, free_port, log, median

# key, label, unit, higher is better, target ratio (registry_app / distribution) or None
ROWS = [
    ("blob_get", "blob GET {size} MiB", "MB/s", True, 1.0),
    ("mono_push", "monolithic push {size} MiB", "MB/s", True, 2.0),
    ("chunked_push", "chunked push {size} MiB ({chunk} MiB PATCHes)", "MB/s", True, 1.5),
    ("manifest_anon_rps", "manifest GET anonymous, {conns} conns, median", "req/s", True, 5.0),
    ("manifest_anon_p99", "  p99 latency", "ms", False, None),
    ("manifest_bearer_rps", "manifest GET bearer, {conns} conns, median", "req/s", True, 5.0),
    ("manifest_bearer_p99", "  p99 latency", "ms", False, None),
    ("small_seconds", "{images} small images, {clients} clients, median", "s", False, None),
    ("small_rate", "  throughput", "images/s", True, None),
    ("peak_rss", "peak RSS (sum over process tree)", "MiB", False, None),
    ("peak_pss", "  peak PSS (shared pages split)", "MiB", False, None),
]


PHASES = ("blob_get", "mono_push", "chunked_push", "manifests", "small")


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
            "kernel": platform.release(), "python": platform.python_version()}


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 64 MiB, 3 s wrk, 40 images")
    ap.add_argument("--servers", default="distribution,registry_app",
                    help="comma-separated subset of distribution,registry_app (default both)")
    ap.add_argument("--size-mib", type=int, help="blob size for measurements 1-3 (default 512, quick 64)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each blob measurement (default 3)")
    ap.add_argument("--chunk-mib", type=int, default=16, help="PATCH size for the chunked push (default 16)")
    ap.add_argument("--wrk-seconds", type=int, help="wrk duration (default 10, quick 3)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--images", type=int, help="small images to push (default 200, quick 40)")
    ap.add_argument("--clients", type=int, default=8, help="parallel small-image clients (default 8)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                    help="registry-app serve --workers (default: nproc)")
    ap.add_argument("--registry-app", help="path of the registry-app command (default: beside python)")
    ap.add_argument("--docker-registry", help="path of docker-registry (default: from PATH)")
    ap.add_argument("--workdir", default="/var/tmp", help="parent of the temporary server data dir")
    ap.add_argument("--scratch", default="/dev/shm",
                    help="where upload source files are made (tmpfs keeps the client off the disk)")
    ap.add_argument("--json-out", help="also write the results as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    ap.add_argument("--wait-idle", type=int, default=0,
                    help="wait up to N seconds for other processes to leave the CPUs before starting")
    ap.add_argument("--nice", type=int,
                    help="run the benchmark and both servers at this nice value (e.g. -10 on a machine"
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
    return args


class Runner:
    """Runs every measurement on every live target, interleaved run by run.

    Interleaving (distribution run 1, registry_app run 1, distribution run 2, ...) means that a
    burst of background load on this shared 2-core machine hits both servers, not one.
    """

    def __init__(self, targets: list[Target], p: Params, base_blob: Path, scratch: Path,
                 images: dict[str, list], results: dict, errors: list[str], load: ForeignLoadMonitor,
                 phases: tuple[str, ...] = PHASES) -> None:
        self.phases = phases
        self.targets = targets
        self.p = p
        self.base_blob = base_blob
        self.scratch = scratch
        self.images = images
        self.results = results
        self.errors = errors
        self.load = load
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

    def blob_get(self) -> None:
        log("1. blob GET")
        where = {t.name: self.step("blob_get", t, lambda t=t: measure.blob_get_setup(
            t, self.base_blob, self.scratch, self.p)) for t in self.targets}
        samples = {t.name: Samples() for t in self.targets}
        for i in range(self.p.reps):
            for t in self.targets:
                if where[t.name] is None:
                    continue
                url, repo = where[t.name]
                res = self.step("blob_get", t, lambda t=t, url=url, repo=repo: measure.blob_get_once(
                    t, url, repo, self.p))
                if res:
                    samples[t.name].values.append(res[0])
                    samples[t.name].detail.append(f"run {i + 1}: {res[1]}")
        self._record("blob_get", samples)

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

    def small(self) -> None:
        log("5. small images")
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
        if "small" in self.phases:
            self.small()
        self.load.phase = "teardown"


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def value_of(results: dict, server: str, key: str, which: str):
    v = results.get(server, {}).get(key)
    if isinstance(v, dict):
        return v.get(which)
    return v


def print_table(results: dict, args: argparse.Namespace) -> list[str]:
    fields = {"size": args.size_mib, "chunk": args.chunk_mib, "conns": args.connections,
              "images": args.images, "clients": args.clients}
    lines = []
    hdr = (f"{'measurement':<46} {'unit':<9} {'distribution':>14} {'registry_app':>14} "
           f"{'ratio':>7} {'target':>7}  result")
    lines += [hdr, "-" * len(hdr)]
    for key, label, unit, higher, target in ROWS:
        label = label.format(**fields)
        variants = ["best", "median"] if key in ("blob_get", "mono_push", "chunked_push") else [None]
        for which in variants:
            name = f"{label}, {which}" if which else label
            d = value_of(results, "distribution", key, which)
            a = value_of(results, "registry_app", key, which)
            ratio = a / d if (isinstance(a, float) and isinstance(d, float) and d) else None
            tgt, verdict = "", ""
            # PASS/MISS is judged on the median (or the single figure), never on the best run.
            if target is not None and which in (None, "median"):
                tgt = f">={target:g}x"
                verdict = "-" if ratio is None else ("PASS" if ratio >= target else "MISS")
            rtxt = f"{ratio:.2f}x" if ratio is not None else "-"
            if ratio is not None and not higher:
                rtxt += "*"
            lines.append(f"{name:<46} {unit:<9} {fmt(d):>14} {fmt(a):>14} {rtxt:>7} {tgt:>7}  {verdict}")
    lines.append("(ratio = registry_app / distribution; * = lower is better; targets judged on the median)")
    return lines


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(servers) - {"distribution", "registry_app"}
    if unknown:
        print(f"unknown server(s): {sorted(unknown)}", file=sys.stderr)
        return 2
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
            f"kernel {info['kernel']}")
        log(f"server data under {workdir}, upload sources under {scratch}")
        base_blob = scratch / "base.bin"
        log(f"writing {args.size_mib} MiB of random data")
        measure.write_random_file(base_blob, size)
        sha = measure.sha256_ceiling()
        results["sha256_mb_s"] = sha
        log(f"SHA-256 single core (hashlib/OpenSSL): {sha:.0f} MB/s")

        if not args.skip_ceilings:
            sink = Sink(free_port(), str(base_blob))
            try:
                ceil = measure.client_ceilings(sink.url, base_blob, size, p.chunk,
                                               measure.generate_images("sink", min(args.images, 80)))
            finally:
                sink.stop()
            results["client_ceilings"] = ceil
            log("client ceilings against a null sink: " + ", ".join(f"{k} {v:,.0f}" for k, v in ceil.items()))

        for name in servers:
            tdir = workdir / name
            try:
                if name == "distribution":
                    target: Target = Distribution(tdir, find_binary(args.docker_registry, "docker-registry"))
                else:
                    target = RegistryApp(tdir, find_binary(args.registry_app, "registry-app"), args.workers)
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
        Runner(live, p, base_blob, scratch, images, results, errors, load, args.phases).run_all()
    except KeyboardInterrupt:
        errors.append("interrupted")
    finally:
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
    report(results, args, p)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2, default=str) + "\n")
        log(f"results written to {args.json_out}")
    return 1 if errors else 0


def report(results: dict, args: argparse.Namespace, p: Params) -> None:
    info = results["machine"]
    out = [""]
    out.append(f"quay.registry benchmark ({'quick' if args.quick else 'full'}), "
               f"{time.strftime('%Y-%m-%d %H:%M')}, {results['elapsed_s']:.0f} s")
    out.append(f"machine: {info['nproc']} cores, {info['cpu']}, SHA-NI: {info['sha_ni']}, "
               f"kernel {info['kernel']}, Python {info['python']}")
    if args.nice is not None:
        out.append(f"priority: benchmark, clients and both servers ran at nice {args.nice} "
                   "(process and autogroup)")
    for name in ("distribution", "registry_app"):
        if name in results:
            out.append(f"{name}: {results[name].get('label', '?')}")
    sha = results.get("sha256_mb_s")
    if sha:
        out.append(f"hashing ceiling: SHA-256 runs at {sha:.0f} MB/s on one core here "
                   f"(SHA-NI: {info['sha_ni']}). Every push")
        out.append("  must hash every byte on the server, so no single push can exceed ~that rate in either")
        out.append("  server; a push ratio above 1x means distribution runs below its own ceiling.")
    bg = results.get("background_cpu") or {}
    bg_txt = ", ".join(f"{k} {v:.0%}" for k, v in bg.items() if v is not None)
    out.append(f"background CPU (other processes, share of all cores): before start "
               f"{results.get('busy_before_start', 0):.0%}; during: {bg_txt}")
    if any(v is not None and v > 0.10 for v in bg.values()):
        out.append("  WARNING: other processes used >10% of the CPUs during a measurement: those figures"
                   " are disturbed (both servers alike, since runs are interleaved).")
    ceil = results.get("client_ceilings")
    if ceil:
        out.append("client ceilings (same clients against a null sink): " +
                   ", ".join(f"{k} {v:,.0f}" for k, v in ceil.items()))
    out.append("")
    out += print_table(results, args)
    out.append("")
    for name in ("distribution", "registry_app"):
        r = results.get(name)
        if not r:
            continue
        d = r.get("details", {})
        out.append(f"{name} details:")
        for key in ("blob_get", "mono_push", "chunked_push"):
            if key in d:
                out.append(f"  {key}: " + "; ".join(d[key]))
        for key in ("manifest_bearer_check", "manifest_anon_how", "manifest_anon_check"):
            if key in d:
                out.append(f"  {key}: {d[key]}")
        for key in ("manifest_bearer_wrk", "manifest_anon_wrk"):
            for i, w in enumerate(d.get(key, [])):
                out.append(f"  {key} run {i + 1}: {w['requests']} requests, {w['rps']:.0f} req/s, "
                           f"p99 {w['p99_ms']:.2f} ms"
                           + (f", socket errors: {w['socket_errors']}" if w["socket_errors"] else ""))
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
    if results["errors"]:
        out.append("")
        out.append(f"{len(results['errors'])} error(s): measurements above marked '-' did not complete.")
    print("\n".join(out), flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
