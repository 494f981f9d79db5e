"""Start the real ``registry-app serve`` as a subprocess on a free loopback port.

With ``netns`` and ``address`` the server runs inside that network namespace (``ip netns exec``),
bound to ``address``: a test host made by the test run (see ``tests.support.engines.netns_host``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def registry_app_bin() -> str:
    exe = Path(sys.executable).with_name("registry-app")
    return str(exe) if exe.exists() else (shutil.which("registry-app") or "registry-app")


@dataclass
class RegistryServer:
    """One running server. ``url`` is http(s)://ADDRESS:PORT; ``host`` is ADDRESS:PORT (127.0.0.1 by default).

    ``with server.start():`` stops it on the way out.
    """

    data_dir: Path
    config_dir: Path | None = None
    port: int = field(default_factory=free_port)
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    scheme: str = "http"
    ca_file: Path | None = None
    netns: str | None = None  # run inside this network namespace (``ip netns exec``)
    address: str = "127.0.0.1"  # --bind address, and the address in ``host``/``url``
    serve_args: tuple[str, ...] = ()  # more ``serve`` options, e.g. ("--no-workers",)
    metrics_port: int = 0  # serve --metrics-port: 0 (off) unless a test scrapes, so that servers never share 9091

    @property
    def host(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def cli(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run ``registry-app ARGS --data-dir/--config-dir`` for this server's data."""
        cmd = [registry_app_bin(), *args, "--data-dir", str(self.data_dir)]
        if self.config_dir:
            cmd += ["--config-dir", str(self.config_dir)]
        return subprocess.run(cmd, input=input, capture_output=True, check=check, timeout=120)

    def create_user(self, name: str, password: str, superuser: bool = False) -> None:
        args = ["user", "create", name, "--password-stdin", "--email", f"{name}@example.test"]
        if superuser:
            args.append("--superuser")
        self.cli(*args, input=password.encode())

    def start(self, timeout: float = 60.0) -> RegistryServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        cmd = [
            registry_app_bin(),
            "serve",
            "--bind",
            f"{self.address}:{self.port}",
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(self.workers),
            "--metrics-port",
            str(self.metrics_port),
            *self.serve_args,
        ]
        if self.netns:
            cmd = [shutil.which("ip") or "ip", "netns", "exec", self.netns, *cmd]  # ip execs the server
        if self.config_dir:
            cmd += ["--config-dir", str(self.config_dir)]
        env = {**os.environ, **self.extra_env}
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        verify: str | bool = str(self.ca_file) if self.ca_file else False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"registry-app exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health/instance", timeout=1.0, verify=verify).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"registry-app did not become healthy in {timeout}s:\n{self.log()}")

    def v2_token(
        self, auth: tuple[str, str] | None, scope: str | None = None, account: str | None = None
    ) -> httpx.Response:
        """What docker sends: ``GET /v2/auth?service=HOST[&scope=...][&account=...]`` with Basic
        credentials (docker and skopeo add ``account=`` the username they were given, ``$app`` or
        ``$oauthtoken`` included). Over HTTPS the server's CA is trusted."""
        params = {"service": self.host}
        if scope:
            params["scope"] = scope
        if account:
            params["account"] = account
        verify: str | bool = str(self.ca_file) if self.ca_file else True
        return httpx.get(f"{self.url}/v2/auth", params=params, auth=auth, verify=verify, timeout=60)

    def __enter__(self) -> RegistryServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group (server and its workers), as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class WorkerProcess:
    """``registry-app worker NAME...`` for a server's data, as a subprocess with its own log file.
    ``stop()`` sends SIGTERM (a graceful stop) and returns the exit code."""

    server: RegistryServer
    names: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    metrics_port: int = 0  # worker --metrics-port (0: off)

    def start(self) -> WorkerProcess:
        self.log_path = self.server.data_dir.parent / f"worker-{self.server.port}.log"
        cmd = [registry_app_bin(), "worker", *self.names, "--data-dir", str(self.server.data_dir)]
        if self.metrics_port:
            cmd += ["--metrics-port", str(self.metrics_port)]
        if self.server.config_dir:
            cmd += ["--config-dir", str(self.server.config_dir)]
        log = open(self.log_path, "ab")
        env = {**os.environ, **self.server.extra_env}
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode
