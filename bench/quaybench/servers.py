"""The two servers under test, each behind the same small interface."""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from .auth import DistributionTokenIssuer, RegistryAppTokens
from .procs import ManagedProcess, TreeMemorySampler, run_checked
from .util import BenchError, free_port, log, request, wait_until

BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password-0123456789"  # throwaway account in a throwaway data dir


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


class Distribution(Target):
    name = "distribution"

    def __init__(self, workdir: Path, binary: str) -> None:
        super().__init__(workdir)
        self.binary = binary
        self.root = workdir / "storage"
        self.root.mkdir(exist_ok=True)
        self.issuer = DistributionTokenIssuer(workdir)
        version = run_checked([binary, "--version"], timeout=10).stdout.decode().strip()
        # "docker-registry github.com/docker/distribution 2.8.2+ds1" -> "distribution 2.8.2+ds1"
        words = version.split()
        self.label = f"docker-registry {words[-1]}" if words else "docker-registry"

    def _config(self, with_auth: bool) -> Path:
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
        if with_auth:
            lines += [
                "auth:",
                "  token:",
                # Never called: the benchmark issues the tokens itself.
                f"    realm: http://127.0.0.1:{self.port}/token-issued-by-the-benchmark",
                f"    service: {self.issuer.service}",
                f"    issuer: {self.issuer.issuer}",
                f"    rootcertbundle: {self.issuer.cert_path}",
            ]
        path = self.workdir / ("config-token.yml" if with_auth else "config-open.yml")
        path.write_text("\n".join(lines) + "\n")
        return path

    def _launch(self, with_auth: bool) -> None:
        cfg = self._config(with_auth)
        mode = "token" if with_auth else "open"
        proc = ManagedProcess(f"distribution-{mode}", [self.binary, "serve", str(cfg)],
                              self.workdir / f"distribution-{mode}.log")
        self._watch(proc)

        def ready() -> bool:
            if not proc.alive():
                raise BenchError(f"docker-registry exited:\n{proc.log_tail()}")
            return request("GET", f"{self.base_url}/v2/", timeout=2).status in (200, 401)

        wait_until(ready, 30, what="docker-registry /v2/")
        resp = request("GET", f"{self.base_url}/v2/")
        want = 401 if with_auth else 200
        if resp.status != want:
            raise BenchError(f"docker-registry ({mode}) GET /v2/: {resp.status}, expected {want}")
        if with_auth:
            ok = request("GET", f"{self.base_url}/v2/",
                         headers={"Authorization": f"Bearer {self.token([])}"})
            if ok.status != 200:
                raise BenchError(f"docker-registry rejects the self-issued token: {ok.status} {ok.body!r}\n"
                                 f"{proc.log_tail()}")

    def start(self) -> None:
        self._launch(with_auth=True)
        log(f"distribution ({self.label}) with token auth on {self.base_url}")

    def token(self, repos: list[str]) -> str:
        return self.issuer.token(repos)

    @contextlib.contextmanager
    def anonymous(self, repo: str) -> Iterator[tuple[str | None, str]]:
        # distribution has no per-repository visibility: the anonymous case is the same storage
        # served by a second configuration without `auth:`.
        self._halt()
        self._launch(with_auth=False)
        try:
            yield None, "same storage, restarted without auth"
        finally:
            self._halt()
            self._launch(with_auth=True)


class RegistryApp(Target):
    name = "registry_app"

    def __init__(self, workdir: Path, binary: str, workers: int) -> None:
        super().__init__(workdir)
        self.binary = binary
        self.workers = workers
        self.data_dir = workdir / "data"
        self.tokens: RegistryAppTokens | None = None
        self.label = f"registry-app serve --workers {workers}, {_source_version(binary)}"

    def _cli(self, *args: str, stdin: bytes | None = None, timeout: float = 120) -> tuple[int, str]:
        res = run_checked([self.binary, *args], timeout=timeout, input_bytes=stdin)
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


def _source_version(binary: str) -> str:
    """Which registry_app source the command runs: the commit, and whether the tree has edits."""
    res = run_checked([str(Path(binary).parent / "python"), "-c",
                       "import registry_app, os; print(os.path.dirname(registry_app.__file__))"], timeout=30)
    src = res.stdout.decode().strip()
    if res.returncode != 0 or not src:
        return "source unknown"
    head = run_checked(["git", "-C", src, "rev-parse", "--short", "HEAD"], timeout=10)
    if head.returncode != 0:
        return f"installed from {src}"
    dirty = run_checked(["git", "-C", src, "status", "--porcelain", "--", "."], timeout=10).stdout.strip()
    return f"commit {head.stdout.decode().strip()}" + (" + uncommitted edits" if dirty else "")


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
