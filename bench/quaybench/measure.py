"""The measurements. Each returns plain numbers; run.py puts them side by side."""

from __future__ import annotations

import hashlib
import http.client
import json
import mmap
import os
import re
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .client import RegistryClient, _with_digest
from .images import ACCEPT_MANIFESTS, Image, make_image, manifest_for_blob
from .util import MB, BenchError, MiB, median, request

CURL_TIMEOUT_S = 900
HEADER_BYTES = 64


@dataclass
class Params:
    size: int
    reps: int
    chunk: int
    wrk_seconds: int
    wrk_connections: int
    wrk_threads: int
    images: int
    clients: int
    layers_per_web_image: int = 3


@dataclass
class Samples:
    values: list[float] = field(default_factory=list)
    detail: list[str] = field(default_factory=list)

    @property
    def best(self) -> float:
        return max(self.values) if self.values else float("nan")

    @property
    def median(self) -> float:
        return median(self.values)


# -- data files --------------------------------------------------------------------------------
def write_random_file(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        left = size
        while left > 0:  # bounded: size / 16 MiB iterations
            n = min(left, 16 * MiB)
            fh.write(os.urandom(n))
            left -= n


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        for off in range(0, len(mm), 64 * MiB):
            h.update(view[off:off + 64 * MiB])
        view.release()
    return "sha256:" + h.hexdigest()


def make_variant(base: Path, dest: Path, label: str) -> str:
    """A copy of `base` with a unique first 64 bytes: new content, new digest, no dedup."""
    shutil.copyfile(base, dest)
    header = label.encode()[:HEADER_BYTES].ljust(HEADER_BYTES, b"\0")
    with open(dest, "r+b") as fh:
        fh.write(header)
    return sha256_file(dest)


def sha256_rate(data: bytes) -> float:
    """Single-core SHA-256 rate (hashlib/OpenSSL) in MB/s: a push cannot go faster than this."""
    t0 = time.perf_counter()
    hashlib.sha256(data).digest()
    return len(data) / MB / (time.perf_counter() - t0)


def sync_disks() -> None:
    """Flush dirty pages so one run's writeback does not land in the next run's timing."""
    os.sync()


# -- curl --------------------------------------------------------------------------------------
def _auth_args(token: str | None) -> list[str]:
    return ["-H", f"Authorization: Bearer {token}"] if token else []


def blob_range(size: int) -> tuple[int, int]:
    """The byte range (first, last) the Range GET asks for: the last three quarters of the blob,
    from an odd offset (as a resumed download starts anywhere), through the last byte."""
    return size // 4 + 1, size - 1


def curl_get(url: str, token: str | None, expect_size: int,
             byte_range: tuple[int, int] | None = None) -> tuple[float, float]:
    """Download to /dev/null (whole, or one byte range: 206 and exactly that many bytes).

    Returns (seconds by curl, client CPU seconds).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    rng = ["-r", f"{byte_range[0]}-{byte_range[1]}"] if byte_range else []
    want = ("206", byte_range[1] - byte_range[0] + 1) if byte_range else ("200", expect_size)
    res = subprocess.run(
        ["curl", "-sS", "-L", "-o", "/dev/null", "--max-time", str(CURL_TIMEOUT_S),
         "-w", "%{http_code} %{size_download} %{time_total}", *rng, *_auth_args(token), url],
        capture_output=True, timeout=CURL_TIMEOUT_S + 30, check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = res.stdout.decode().split()
    if res.returncode != 0 or len(out) != 3 or out[0] != want[0] or int(out[1]) != want[1]:
        raise BenchError(f"curl GET {url}: rc={res.returncode} out={out} err={res.stderr.decode()[:300]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return float(out[2]), cpu


def curl_put_file(url: str, token: str | None, path: Path, want: int = 201) -> tuple[float, float]:
    """PUT the whole file as the body (curl --data-binary @file). Returns (seconds, client CPU)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "--max-time", str(CURL_TIMEOUT_S),
         "-w", "%{http_code} %{size_upload} %{time_total}", "-X", "PUT",
         "-H", "Content-Type: application/octet-stream", "-H", "Expect:",
         *_auth_args(token), "--data-binary", f"@{path}", url],
        capture_output=True, timeout=CURL_TIMEOUT_S + 30, check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = res.stdout.decode().split()
    if res.returncode != 0 or len(out) != 3 or out[0] != str(want):
        raise BenchError(f"curl PUT {url}: rc={res.returncode} out={out} err={res.stderr.decode()[:300]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return float(out[2]), cpu


def monolithic_push(base_url: str, repo: str, token: str | None, path: Path,
                    digest: str) -> tuple[float, float]:
    """POST (http.client) then one PUT ?digest= with the whole file (curl). Wall seconds, client CPU."""
    cli = RegistryClient(base_url, token)
    try:
        t0 = time.perf_counter()
        upload = cli.start_upload(repo)
        _, cpu = curl_put_file(base_url + _with_digest(upload, digest), token, path)
        elapsed = time.perf_counter() - t0
    finally:
        cli.close()
    return elapsed, cpu


def verify_blob(base_url: str, repo: str, token: str | None, digest: str, size: int) -> None:
    hdrs = {"Authorization": f"Bearer {token}"} if token else {}
    resp = request("HEAD", f"{base_url}/v2/{repo}/blobs/{digest}", headers=hdrs)
    length = resp.header("Content-Length")
    if resp.status != 200 or (length and int(length) != size):
        raise BenchError(f"HEAD {repo}@{digest} after push: {resp.status}, Content-Length {length}")


# -- client ceilings (against the null sink) ---------------------------------------------------
def client_ceilings(sink_url: str, blob: Path, size: int, chunk: int,
                    images: list[Image]) -> dict[str, float]:
    out: dict[str, float] = {}
    secs = min(curl_get(f"{sink_url}/blob", None, size)[0] for _ in range(2))
    out["curl GET MB/s"] = size / MB / secs
    secs = min(curl_put_file(f"{sink_url}/v2/sink/blobs/uploads/x?digest=sha256:0", None, blob)[0]
               for _ in range(2))
    out["curl PUT --data-binary MB/s"] = size / MB / secs
    cli = RegistryClient(sink_url, None)
    try:
        secs = min(cli.push_chunked_file("sink/x", str(blob), "sha256:0", chunk)["seconds"] for _ in range(2))
    finally:
        cli.close()
    out["chunked client MB/s"] = size / MB / secs
    if images:
        secs, errors = _push_images_parallel(sink_url, [None] * 8, ["sink/x"] * 8, images)
        if errors:
            raise BenchError(f"small-image client against the sink: {errors[:3]}")
        out["small-image client images/s"] = len(images) / secs
    return out


# -- 1-3: big blobs ----------------------------------------------------------------------------
def range_digest(path: Path, byte_range: tuple[int, int]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        h.update(view[byte_range[0]:byte_range[1] + 1])
        view.release()
    return h.hexdigest()


def verify_range(url: str, token: str | None, byte_range: tuple[int, int], want_sha256: str) -> str:
    """One untimed Range GET, streamed through SHA-256: the bytes must be exactly that slice."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=300)
    hdrs = {"Range": f"bytes={byte_range[0]}-{byte_range[1]}", **({"Authorization": f"Bearer {token}"}
                                                                  if token else {})}
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=hdrs)
        resp = conn.getresponse()
        h, n = hashlib.sha256(), 0
        while chunk := resp.read(4 * MiB):  # bounded by the response length
            h.update(chunk)
            n += len(chunk)
        crange = resp.getheader("Content-Range", "")
    finally:
        conn.close()
    want_len = byte_range[1] - byte_range[0] + 1
    same = h.hexdigest() == want_sha256
    if resp.status != 206 or n != want_len or not same:
        raise BenchError(f"Range GET {url}: HTTP {resp.status}, {n} bytes (want 206, {want_len}), "
                         f"Content-Range {crange!r}, content {'matches' if same else 'differs'}")
    return f"206, Content-Range {crange}, {n} bytes identical to the slice"


def blob_get_setup(target, base_blob: Path, scratch: Path, p: Params) -> tuple[str, str, str]:
    """Push a unique big blob plus a manifest that references it.

    Returns (blob URL, repo, what the untimed Range check found).
    """
    repo = "bench/blob"
    token = target.token([repo])
    path = scratch / f"get-{target.name}.bin"
    digest = make_variant(base_blob, path, f"quay-bench GET {target.name} {time.time_ns()}")
    rng = blob_range(p.size)
    try:
        want_range = range_digest(path, rng)
        monolithic_push(target.base_url, repo, token, path, digest)
    finally:
        path.unlink(missing_ok=True)
    image, cfg = manifest_for_blob(digest, p.size, f"get-{target.name}")
    cli = RegistryClient(target.base_url, token)
    try:
        cli.push_blob(repo, cfg.digest, cfg.data)
        cli.put_manifest(repo, "big", image.manifest, image.media_type)
    finally:
        cli.close()
    verify_blob(target.base_url, repo, token, digest, p.size)
    url = f"{target.base_url}/v2/{repo}/blobs/{digest}"
    return url, repo, verify_range(url, token, rng, want_range)


def blob_get_once(url: str, token: str | None, p: Params, ranged: bool = False) -> tuple[float, str]:
    """One timed GET of the whole blob, or of `blob_range` of it. (MB/s of body, detail)."""
    rng = blob_range(p.size) if ranged else None
    n = rng[1] - rng[0] + 1 if rng else p.size
    sync_disks()
    secs, cpu = curl_get(url, token, p.size, rng)
    return n / MB / secs, f"{secs:.2f}s, curl CPU {cpu:.2f}s"


def big_push_once(target, base_blob: Path, scratch: Path, p: Params, chunked: bool,
                  i: int) -> tuple[float, str]:
    kind = "chunked" if chunked else "monolithic"
    repo = f"bench/{kind}"
    path = scratch / f"{kind}-{target.name}-{i}.bin"
    digest = make_variant(base_blob, path, f"quay-bench {kind} {target.name} {i} {time.time_ns()}")
    try:
        token = target.token([repo])
        sync_disks()
        if chunked:
            cli = RegistryClient(target.base_url, token)
            cpu0 = time.process_time()
            try:
                res = cli.push_chunked_file(repo, str(path), digest, p.chunk)
            finally:
                cli.close()
            secs, cpu = res["seconds"], time.process_time() - cpu0
            extra = f", {res['chunks']} PATCHes"
        else:
            secs, cpu = monolithic_push(target.base_url, repo, token, path, digest)
            extra = ""
    finally:
        path.unlink(missing_ok=True)
    verify_blob(target.base_url, repo, token, digest, p.size)
    return p.size / MB / secs, f"{secs:.2f}s{extra}, client CPU {cpu:.2f}s"


# -- 4: manifest GET with wrk ------------------------------------------------------------------
_LAT_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise BenchError(f"cannot parse wrk latency {text!r}")
    return float(m.group(1)) * _LAT_UNITS[m.group(2)]


def push_web_image(target, p: Params) -> Image:
    repo = "bench/web"
    image = make_image(f"web-{target.name}-{time.time_ns()}", n_layers=p.layers_per_web_image)
    cli = RegistryClient(target.base_url, target.token([repo]))
    try:
        cli.push_image(repo, "latest", image)
    finally:
        cli.close()
    return image


def verify_manifest(url: str, token: str | None, image: Image) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        hdr, body = Path(tmp) / "h", Path(tmp) / "b"
        res = subprocess.run(
            ["curl", "-sS", "-D", str(hdr), "-o", str(body), "-w", "%{http_code}", "--max-time", "30",
             "-H", f"Accept: {ACCEPT_MANIFESTS}", *_auth_args(token), url],
            capture_output=True, timeout=60, check=False,
        )
        code = res.stdout.decode().strip()
        data = body.read_bytes() if body.exists() else b""
        headers = hdr.read_text(errors="replace") if hdr.exists() else ""
    if code != "200" or data != image.manifest:
        same = "matches" if data == image.manifest else "differs"
        raise BenchError(f"curl GET {url}: HTTP {code}, body {same} from the pushed manifest"
                         f" ({data[:200]!r})")
    ctype = re.search(r"(?im)^content-type:\s*(\S+)", headers)
    return f"curl: 200, {len(data)} bytes, identical to the pushed manifest, " \
           f"Content-Type {ctype.group(1) if ctype else '?'}"


_COUNT_SENT_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) sent = 0 end
function request() sent = sent + 1; return wrk.format() end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("sent") end
  io.write(string.format("SENT %d\\n", total))
end
"""


def wrk_run(url: str, token: str | None, p: Params, connections: int | None = None,
            authorization: str | None = None, timeout_s: int = 10, allow_errors: bool = False) -> dict:
    """One wrk run. Any non-2xx answer invalidates it, unless `allow_errors`: then non-2xx answers
    and socket errors (wrk counts a request unanswered after `timeout_s` as a timeout) are only
    counted, `ok_rps` is the rate of 2xx answers, and a small Lua script also counts the requests
    sent, so that requests still unanswered when the run ends show (wrk's timeout check runs
    every 2 s and misses requests stuck in a short run)."""
    conns = connections or p.wrk_connections
    hdrs = ["-H", f"Authorization: {authorization}"] if authorization else _auth_args(token)
    with tempfile.TemporaryDirectory() as tmp:
        script = []
        if allow_errors:
            lua = Path(tmp) / "count-sent.lua"
            lua.write_text(_COUNT_SENT_LUA)
            script = ["-s", str(lua)]
        argv = ["wrk", f"-t{min(p.wrk_threads, conns)}", f"-c{conns}", f"-d{p.wrk_seconds}s", "--latency",
                "--timeout", f"{timeout_s}s", *script, "-H", f"Accept: {ACCEPT_MANIFESTS}", *hdrs, url]
        res = subprocess.run(argv, capture_output=True, timeout=p.wrk_seconds + 60, check=False)
    text = res.stdout.decode(errors="replace")
    if res.returncode != 0:
        raise BenchError(f"wrk failed ({res.returncode}): {res.stderr.decode()[:300]} {text[-300:]}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    total = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock_err = re.search(r"Socket errors:(.*)", text)
    if not (rps and p99 and total):
        raise BenchError(f"cannot parse wrk output:\n{text}")
    out = {"rps": float(rps.group(1)), "p99_ms": _ms(p99.group(1)), "requests": int(total.group(1)),
           "non2xx": int(non2xx.group(1)) if non2xx else 0,
           "socket_errors": sock_err.group(1).strip() if sock_err else ""}
    # "connect 0, read 0, write 0, timeout 12"
    found = re.finditer(r"(connect|read|write|timeout) (\d+)", out["socket_errors"])
    counts = {m.group(1): int(m.group(2)) for m in found}
    out["timeouts"] = counts.get("timeout", 0)
    out["errors"] = out["non2xx"] + sum(counts.values())
    out["ok_rps"] = out["rps"] * (1 - out["non2xx"] / out["requests"]) if out["requests"] else 0.0
    if allow_errors:
        sent = re.search(r"^SENT (\d+)", text, re.M)
        # wrk calls request() once more on its first thread to check the script: not sent.
        out["sent"] = int(sent.group(1)) - 1 if sent else None
        # Each connection has at most one request in flight: that many unanswered ones at the end
        # are normal; a server that answers nothing leaves every connection waiting.
        out["unanswered"] = out["sent"] - out["requests"] if sent else None
        if out["requests"] == 0 and out["unanswered"] and p.wrk_seconds > timeout_s:
            # Nothing answered in a run longer than the timeout: every request sent timed out,
            # whether or not wrk's check (every 2 s) happened to count it.
            out["timeouts"] = max(out["timeouts"], out["unanswered"])
            out["errors"] = out["non2xx"] + sum(v for k, v in counts.items() if k != "timeout") \
                + out["timeouts"]
        if out["requests"] == 0 or out["p99_ms"] == 0:
            # No latency recorded: nothing answered, or only after the timeout (wrk keeps no
            # latency for those).
            out["p99_ms"] = None
        return out
    if out["non2xx"]:
        raise BenchError(f"wrk saw {out['non2xx']} non-2xx responses of {out['requests']}: numbers not valid")
    return out


# -- login with Basic credentials -------------------------------------------------------------
def verify_login(url: str, authorization: str, want_token: bool) -> str:
    """One untimed login: 200, and a token in the body where the server issues one."""
    resp = request("GET", url, headers={"Authorization": authorization})
    if resp.status != 200:
        raise BenchError(f"GET {url} with Basic credentials: HTTP {resp.status} {resp.body[:200]!r}")
    if not want_token:
        return f"200, {len(resp.body)} bytes"
    try:
        doc = json.loads(resp.body)
    except ValueError as exc:
        raise BenchError(f"GET {url}: not JSON: {resp.body[:200]!r}") from exc
    tok = doc.get("token") or doc.get("access_token")
    if not tok:
        raise BenchError(f"GET {url}: no token in {doc}")
    return f"200, a token of {len(tok)} characters"


# -- many small images ----------------------------------------------------------------------
def _push_images_parallel(base_url: str, tokens: list[str | None], repos: list[str],
                          images: list[Image], tag_prefix: str = "img") -> tuple[float, list[str]]:
    n = len(tokens)
    clients = [RegistryClient(base_url, tokens[i], timeout=120) for i in range(n)]
    errors: list[str] = []
    barrier = threading.Barrier(n + 1)

    def work(i: int) -> None:
        barrier.wait(timeout=60)
        for k in range(i, len(images), n):  # bounded: len(images) / n images per client
            try:
                clients[i].push_image(repos[i], f"{tag_prefix}-{k:04d}", images[k])
            except Exception as exc:
                errors.append(f"image {k}: {exc}")
                return

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait(timeout=60)
    t0 = time.perf_counter()
    for t in threads:
        t.join(timeout=1800)
    elapsed = time.perf_counter() - t0
    for c in clients:
        c.close()
    if any(t.is_alive() for t in threads):
        errors.append("a client thread did not finish within 30 minutes")
    return elapsed, errors


def small_images(target, p: Params, images: list[Image], tag_prefix: str = "img") -> dict:
    repos = [f"bench/small-{i}" for i in range(p.clients)]
    tokens: list[str | None] = [target.token([r]) for r in repos]
    sync_disks()
    secs, errors = _push_images_parallel(target.base_url, tokens, repos, images, tag_prefix)
    if errors:
        raise BenchError(f"{len(errors)} client(s) failed, first: {errors[0]}")
    # Every manifest must be there afterwards (untimed).
    missing = 0
    for k in range(len(images)):
        i = k % p.clients
        resp = request("HEAD", f"{target.base_url}/v2/{repos[i]}/manifests/{tag_prefix}-{k:04d}",
                       headers={"Authorization": f"Bearer {tokens[i]}", "Accept": ACCEPT_MANIFESTS})
        if resp.status != 200:
            missing += 1
    if missing:
        raise BenchError(f"{missing} of {len(images)} pushed manifests are not retrievable")
    return {"seconds": secs, "images_per_s": len(images) / secs}


def generate_images(label: str, count: int) -> list[Image]:
    return [make_image(f"{label}-{k}", n_layers=1, layer_size=2048) for k in range(count)]


