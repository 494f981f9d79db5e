"""Registry clients written in Go that scripts/build-go-tools builds: oras and regctl.

Each runs with a HOME (and DOCKER_CONFIG) of its own, so no credential of the machine's user is
read or written, and passwords go through stdin, never argv. The binaries are found as
CLAIR_BIN/OCI_CONFORMANCE_BIN are: ``ORAS_BIN``/``REGCTL_BIN`` (exported by .ci/run and
scripts/test), else the cache's ``go/bin/NAME``; a missing one skips the test, or fails it under CI.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.engines import ClientError, unavailable

ENV_VAR = {"oras": "ORAS_BIN", "regctl": "REGCTL_BIN"}


def ci_cache() -> Path:
    return Path(os.environ.get("QUAY_CI_CACHE", "/var/cache/quay-registry-ci"))


def go_tool(name: str) -> str:
    """The path of ``name`` (oras, regctl), or skip (fail in CI)."""
    explicit = os.environ.get(ENV_VAR[name])
    candidate = Path(explicit) if explicit else ci_cache() / "go" / "bin" / name
    if not (candidate.is_file() and os.access(candidate, os.X_OK)):
        unavailable(f"{name} not built: run scripts/build-go-tools (or set {ENV_VAR[name]})")
    return str(candidate)


@dataclass
class GoClient:
    """One client binary with a private home directory."""

    binary: str
    home: Path

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "DOCKER_CONFIG": str(self.home / ".docker"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
        }
        cmd: Sequence[str] = [self.binary, *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=timeout)
        if proc.returncode != 0:
            raise ClientError(cmd, proc.returncode, proc.stdout, proc.stderr)
        return proc.stdout
