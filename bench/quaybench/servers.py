"""The two servers under test, each behind the same small interface."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import bcrypt

from .auth import DistributionTokenIssuer, RegistryAppTokens, basic_header
from .procs import ManagedProcess, TreeMemorySampler, run_checked
from .util import BenchError, free_port, log, request, wait_until

BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password-0123456789"  # throwaway account in a throwaway data dir
LOGIN_REPO = "bench/web"  # the scope the login measurement asks for (a pull of the manifest image)


class Target:
    """One registry under test. Subclasses start it and hand out bearer tokens."""

    name = "?"
    label = "?"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: ManagedProcess | None = None
        self.samplers: list[TreeMemorySampler] = []
        self.notes: list[str] = []

    # Memory -------------------------------------------------------------------------------
    def _watch(self, proc: ManagedProcess) -> None:
        self.proc = proc
        sampler = TreeMemorySampler(proc.pid)
        if self.samplers:
            sampler.phase = self.samplers[-1].phase
        self.samplers.append(sampler.start())

    def set_phase(self, phase: str) -> None:
        for s in self.samplers:
            s.phase = phase

    def peak_rss_mib(self) -> float:
        return max((s.peak_rss_kib for s in self.samplers), default=0) / 1024

    def peak_pss_mib(self) -> float:
        return max((s.peak_pss_kib for s in self.samplers), default=0) / 1024

    def peak_procs(self) -> int:
        return max((s.peak_procs for s in self.samplers), default=0)

    def phase_peaks_mib(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in self.samplers:
            for k, v in s.phase_peaks.items():
                out[k] = max(out.get(k, 0.0), v / 1024)
        return out

    def check_alive(self) -> None:
        if self.proc is None or not self.proc.alive():
            tail = self.proc.log_tail() if self.proc else ""
            raise BenchError(f"{self.name} is not running. Last log lines:\n{tail}")

    def _halt(self) -> None:
        """Stop the current process (and its sampler) but keep the recorded peaks."""
        if self.samplers:
            self.samplers[-1].sample()
            self.samplers[-1].stop()
        if self.proc is not None:
            self.proc.stop()

    def _stop_proc(self) -> None:
        for s in self.samplers:
            s.sample()  # one last look before it goes away
            s.stop()
        if self.proc is not None:
            self.proc.stop()

    def stop(self) -> None:
        self._stop_proc()

    # Interface ----------------------------------------------------------------------------
    def start(self) -> None:
        raise NotImplementedError

    def token(self, repos: list[str]) -> str:
        raise NotImplementedError

    @contextlib.contextmanager
    def anonymous(self, repo: str) -> Iterator[tuple[str | None, str]]:
        """Yields (token or None, how anonymous access was arranged) for a pull-only benchmark."""
        raise NotImplementedError
        yield  # pragma: no cover

    @contextlib.contextmanager
    def basic_login(self) -> Iterator[tuple[str, str, str]]:
        """Yields (URL, Authorization header, what it is) for the login measurement."""
        raise NotImplementedError
        yield  # pragma: no cover


class Distribution(Target):
    """distribution's registry: Debian's docker-registry 2.8.x, or 3.x built by scripts/build-go-tools.

    Both take the same config.yml and `serve CONFIG`; they differ in the key id their token
    verifier expects (libtrust in 2.8, the JWK thumbprint in 3.x), and 3.x exports OpenTelemetry
    traces to localhost:4318 unless told not to (OTEL_TRACES_EXPORTER=none, as its docs say for
    a registry without a collector; every request is still traced in-process, as it ships).
    """

    def __init__(self, workdir: Path, binary: str, major: int) -> None:
        super().__init__(workdir)
        self.binary = binary
        self.major = major
        self.name = f"distribution{major}"
        self.root = workdir / "storage"
        self.root.mkdir(exist_ok=True)
        self.issuer = DistributionTokenIssuer(workdir, kid_format="jwk" if major >= 3 else "libtrust")
        res = run_checked([binary, "--version"], timeout=10)
        version = (res.stdout + res.stderr).decode().strip()
        # "docker-registry github.com/docker/distribution 2.8.2+ds1" -> "docker-registry 2.8.2+ds1"
        # "registry github.com/distribution/distribution/v3 v3.1.2" -> "registry v3.1.2"
        words = version.split()
        if res.returncode != 0 or len(words) < 3:
            raise BenchError(f"{binary} --version: exit {res.returncode}, {version[:200]!r}")
        self.version = words[-1].lstrip("v")
        if not self.version.startswith(f"{major}."):
            raise BenchError(f"{binary} is distribution {self.version}, expected {major}.x")
        self.label = f"{Path(binary).name} {words[-1]}"
        self.env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"} if major >= 3 else None

    def _config(self, auth: str) -> Path:
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.root}",
            "  delete:",
            "    enabled: true",
            "  cache:",
            "    blobdescriptor: inmemory",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "health:",
            "  storagedriver:",
            "    enabled: false",
        ]
        if auth == "token":
            lines += [
                "auth:",
                "  token:",
                # Never called: the benchmark issues the tokens itself.
                f"    realm: http://127.0.0.1:{self.port}/token-issued-by-the-benchmark",
                f"    service: {self.issuer.service}",
                f"    issuer: {self.issuer.issuer}",
                f"    rootcertbundle: {self.issuer.cert_path}",
            ]
        elif auth == "htpasswd":
            lines += [
                "auth:",
                "  htpasswd:",
                "    realm: quay-bench",
                f"    path: {self._htpasswd()}",
            ]
        path = self.workdir / f"config-{auth}.yml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _htpasswd(self) -> Path:
        """bcrypt at cost 10, the cost distribution uses when it provisions an htpasswd file itself."""
        path = self.workdir / "htpasswd"
        if not path.exists():
            hashed = bcrypt.hashpw(BENCH_PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
            path.write_text(f"{BENCH_USER}:{hashed}\n")
        return path

    def _launch(self, auth: str) -> None:
        cfg = self._config(auth)
        proc = ManagedProcess(f"{self.name}-{auth}", [self.binary, "serve", str(cfg)],
                              self.workdir / f"{self.name}-{auth}.log", env=self.env)
        self._watch(proc)

        def ready() -> bool:
            if not proc.alive():
                raise BenchError(f"{self.label} exited:\n{proc.log_tail()}")
            return request("GET", f"{self.base_url}/v2/", timeout=2).status in (200, 401)

        wait_until(ready, 30, what=f"{self.label} /v2/")
        resp = request("GET", f"{self.base_url}/v2/")
        want = 200 if auth == "open" else 401
        if resp.status != want:
            raise BenchError(f"{self.label} ({auth}) GET /v2/: {resp.status}, expected {want}")
        if auth == "token":
            ok = request("GET", f"{self.base_url}/v2/",
                         headers={"Authorization": f"Bearer {self.token([])}"})
            if ok.status != 200:
                raise BenchError(f"{self.label} rejects the self-issued token: {ok.status} {ok.body!r}\n"
                                 f"{proc.log_tail()}")

    def start(self) -> None:
        self._launch("token")
        log(f"{self.name} ({self.label}) with token auth on {self.base_url}")

    def token(self, repos: list[str]) -> str:
        return self.issuer.token(repos)

    @contextlib.contextmanager
    def _relaunched(self, auth: str) -> Iterator[None]:
        self._halt()
        self._launch(auth)
        try:
            yield
        finally:
            self._halt()
            self._launch("token")

    @contextlib.contextmanager
    def anonymous(self, repo: str) -> Iterator[tuple[str | None, str]]:
        # distribution has no per-repository visibility: the anonymous case is the same storage
        # served by a second configuration without `auth:`.
        with self._relaunched("open"):
            yield None, "same storage, restarted without auth"

    @contextlib.contextmanager
    def basic_login(self) -> Iterator[tuple[str, str, str]]:
        # distribution's token auth needs an external token service, which is not distribution:
        # the nearest thing it does itself is checking Basic credentials (htpasswd) on a request.
        with self._relaunched("htpasswd"):
            yield (f"{self.base_url}/v2/", basic_header(BENCH_USER, BENCH_PASSWORD),
                   "GET /v2/ with Basic credentials, restarted with `auth: htpasswd` (bcrypt cost 10)")


class RegistryApp(Target):
    name = "registry_app"

    def __init__(self, workdir: Path, binary: str, workers: int, src: Path | None = None) -> None:
        """`src`: a registry_app source tree to run instead of the one the command's Python imports
        (put first on PYTHONPATH, as scripts/test does for a clone's sources)."""
        super().__init__(workdir)
        self.binary = binary
        self.workers = workers
        self.data_dir = workdir / "data"
        self.tokens: RegistryAppTokens | None = None
        self.env: dict[str, str] | None = None
        if src is not None:
            path = os.environ.get("PYTHONPATH")
            self.env = {**os.environ, "PYTHONPATH": f"{src}:{path}" if path else str(src)}
        self.label = f"registry-app serve --workers {workers}, {_source_version(binary, self.env)}"

    def _cli(self, *args: str, stdin: bytes | None = None, timeout: float = 120) -> tuple[int, str]:
        res = run_checked([self.binary, *args], timeout=timeout, input_bytes=stdin, env=self.env)
        return res.returncode, (res.stdout + res.stderr).decode(errors="replace")

    def start(self) -> None:
        self.data_dir.mkdir(exist_ok=True)
        rc, out = self._cli("migrate", "--data-dir", str(self.data_dir))
        if rc != 0:
            log(f"registry-app migrate exited {rc} (serve may migrate by itself): {out.strip()[-300:]}")
        rc, out = self._cli("user", "create", BENCH_USER, "--password-stdin", "--superuser",
                            "--data-dir", str(self.data_dir), stdin=(BENCH_PASSWORD + "\n").encode())
        if rc != 0:
            raise BenchError(f"registry-app user create failed ({rc}): {out.strip()[-800:]}")
        proc = ManagedProcess(
            "registry_app",
            [self.binary, "serve", "--bind", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir),
             "--workers", str(self.workers)],
            self.workdir / "registry-app.log",
            env=self.env,
        )
        self._watch(proc)

        def ready() -> bool:
            if not proc.alive():
                raise BenchError(f"registry-app serve exited:\n{proc.log_tail()}")
            return request("GET", f"{self.base_url}/health/instance", timeout=2).status == 200

        wait_until(ready, 60, what="registry-app /health/instance")
        self.tokens = RegistryAppTokens(self.base_url, BENCH_USER, BENCH_PASSWORD)
        log(f"registry_app ({self.label}) on {self.base_url}, token realm {self.tokens.realm}")

    def token(self, repos: list[str]) -> str:
        assert self.tokens is not None
        return self.tokens.token(repos)

    @contextlib.contextmanager
    def anonymous(self, repo: str) -> Iterator[tuple[str | None, str]]:
        rc, out = self._cli("repo", "visibility", repo, "public", "--data-dir", str(self.data_dir))
        if rc == 0:
            yield None, f"`registry-app repo visibility {repo} public`"
            return
        why = out.strip().splitlines()[-1] if out.strip() else f"exit {rc}"
        note = f"FALLBACK: `repo visibility` unavailable ({why[:120]}); used a pull token instead"
        self.notes.append(note)
        yield self.token([repo]), note

    @contextlib.contextmanager
    def basic_login(self) -> Iterator[tuple[str, str, str]]:
        # What `docker login` + pull do: Basic credentials to the token endpoint, a JWT back.
        assert self.tokens is not None
        url = self.tokens.auth_url([LOGIN_REPO], ("pull",))
        yield url, self.tokens.basic, f"GET {url[len(self.base_url):]} with Basic credentials -> token"


def imported_source(python: str, env: dict[str, str] | None = None) -> str:
    """The directory of the registry_app package `python` imports ("" if it cannot)."""
    code = "import registry_app, os; print(os.path.dirname(registry_app.__file__))"
    res = run_checked([python, "-c", code], timeout=30, env=env)
    return res.stdout.decode().strip() if res.returncode == 0 else ""


def _source_version(binary: str, env: dict[str, str] | None = None) -> str:
    """Which registry_app source the command runs: the commit, and whether the tree has edits."""
    src = imported_source(str(Path(binary).parent / "python"), env)
    if not src:
        return "source unknown"
    head = run_checked(["git", "-C", src, "rev-parse", "--short", "HEAD"], timeout=10)
    if head.returncode != 0:
        return f"installed from {src}"
    dirty = run_checked(["git", "-C", src, "status", "--porcelain", "--", "."], timeout=10).stdout.strip()
    top = run_checked(["git", "-C", src, "rev-parse", "--show-toplevel"], timeout=10).stdout.decode().strip()
    return (f"commit {head.stdout.decode().strip()}" + (" + uncommitted edits" if dirty else "")
            + (f" of {top}" if top else ""))


def find_binary(explicit: str | None, name: str) -> str:
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise BenchError(f"{name} not found (pass its path explicitly)")
    return found
