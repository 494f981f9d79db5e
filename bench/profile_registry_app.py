#!/usr/bin/env python3
"""Profile registry_app with py-spy while it serves one of the benchmark's workloads.

    pip install py-spy   (any venv; pass its path with --py-spy)
    .venv/bin/python bench/profile_registry_app.py --workload mono --size-mib 512

Prints the functions where the server's processes spent their samples (self time, then
inclusive time) and keeps the raw collapsed stacks (usable with flamegraph.pl / speedscope).
Workloads: mono, chunked, get (blob GET), manifest (wrk, bearer token), manifest-anon (wrk, no
credentials, public repository), small (small images).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quaybench import measure
from quaybench.measure import Params
from quaybench.procs import stop_all
from quaybench.servers import RegistryApp, find_binary
from quaybench.util import MiB, log


def summarize(raw: Path, top: int) -> list[str]:
    self_t: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        self_t[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    out = [f"{total} samples"]
    out.append("self time:")
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in self_t.most_common(top)]
    out.append("inclusive time:")
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)
            if not f.startswith("process ") and not f.startswith("thread ")]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", default="mono",
                    choices=["mono", "chunked", "get", "manifest", "manifest-anon", "small"])
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration for --workload manifest")
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--py-spy", default=shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"))
    ap.add_argument("--registry-app")
    ap.add_argument("--out", default="/tmp/registry_app-profile.txt", help="raw collapsed stacks")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    if not Path(args.py_spy).exists():
        print(f"py-spy not found at {args.py_spy} (pip install py-spy)", file=sys.stderr)
        return 2

    size = args.size_mib * MiB
    p = Params(size=size, reps=1, chunk=16 * MiB, wrk_seconds=args.seconds, wrk_connections=32,
               wrk_threads=2, images=args.images, clients=8)
    work = Path(tempfile.mkdtemp(prefix="quay-profile-", dir="/var/tmp"))
    scratch = Path(tempfile.mkdtemp(prefix="quay-profile-src-", dir="/dev/shm"))
    target = RegistryApp(work / "registry_app", find_binary(args.registry_app, "registry-app"), args.workers)
    spy = None
    stack = contextlib.ExitStack()
    try:
        base = scratch / "base.bin"
        measure.write_random_file(base, size)
        target.start()
        assert target.proc is not None
        # Set up outside the profile: the blob for GET, the image for manifest GET.
        if args.workload == "get":
            url, repo, _ = measure.blob_get_setup(target, base, scratch, p)
        if args.workload.startswith("manifest"):
            image = measure.push_web_image(target, p)
            url = f"{target.base_url}/v2/bench/web/manifests/latest"
            token = target.token(["bench/web"])
            if args.workload == "manifest-anon":
                token, how = stack.enter_context(target.anonymous("bench/web"))
                log(f"anonymous access: {how}")
            measure.verify_manifest(url, token, image)
        images = measure.generate_images(f"profile-{time.time_ns()}", args.images)
        spy = subprocess.Popen([args.py_spy, "record", "--pid", str(target.proc.pid), "--subprocesses",
                                "--rate", str(args.rate), "--format", "raw", "--output", args.out,
                                "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(2)  # let py-spy attach to every process
        t0 = time.perf_counter()
        if args.workload in ("mono", "chunked"):
            mbs, detail = measure.big_push_once(target, base, scratch, p, args.workload == "chunked", 0)
            result = f"{mbs:.1f} MB/s ({detail})"
        elif args.workload == "get":
            mbs, detail = measure.blob_get_once(url, target.token([repo]), p)
            result = f"{mbs:.1f} MB/s ({detail})"
        elif args.workload.startswith("manifest"):
            w = measure.wrk_run(url, token, p)
            result = f"{w['rps']:.0f} req/s, p99 {w['p99_ms']:.1f} ms"
        else:
            res = measure.small_images(target, p, images)
            result = f"{res['seconds']:.2f}s, {res['images_per_s']:.1f} images/s"
        elapsed = time.perf_counter() - t0
        spy.send_signal(signal.SIGINT)
        _, err = spy.communicate(timeout=60)
        log(f"workload {args.workload}: {result} in {elapsed:.1f}s (under py-spy, so slower than unprofiled)")
        if not Path(args.out).exists():
            print(f"py-spy wrote nothing: {err.decode()[-500:]}", file=sys.stderr)
            return 1
        print("\n".join(summarize(Path(args.out), args.top)))
        print(f"raw stacks: {args.out}")
        return 0
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
            spy.wait(timeout=10)
        stack.close()
        target.stop()
        stop_all()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
