"""The OCI distribution-spec conformance suite against the real server, on SQLite and on PostgreSQL
with the filesystem storage, and on SQLite with S3Storage on a real S3 server (SeaweedFS; blob
GETs redirected to presigned URLs, see BACKEND_OPTIONS).

The suite is the upstream Go program (github.com/opencontainers/distribution-spec/conformance),
built by ``scripts/build-go-tools`` into the CI cache. Every API and data option it has is turned
on except ``sparse`` (an image missing a layer blob and an index missing a child manifest, never
pushed: registries may refuse such manifests).
A check the suite reports as Skip (the registry answered that an enabled feature is unsupported,
or a step it needs failed) counts here as a failure, like FAIL and Error.

Auth: the suite logs in as ``admin``. On a 401 it reads ``WWW-Authenticate``: for Basic it sends
the password; for ``Bearer realm=...,service=...,scope=...`` it GETs the realm with
``service`` and the one ``scope`` from the challenge, with basic auth, and uses ``token`` (or
``access_token``) from the JSON answer. Tokens are cached per host, repository and kind of request
(pull = GET/HEAD, push = POST/PATCH/PUT, DELETE on its own), so the challenge's scope must grant
what that kind of request needs (for a cross-repository mount, the scope of the POST).

Where the binary is looked up: ``$OCI_CONFORMANCE_BIN``, else
``${QUAY_CI_CACHE:-/var/cache/quay-registry-ci}/go/bin/conformance``. Missing: skipped on a
developer machine, failed when CI is set.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ADMIN, missing_dependency
from tests.support.server import RegistryServer

REPO1 = "conformance/repo-a"
REPO2 = "conformance/repo-b"

# Every toggle the suite has (conformance/config.go), set explicitly so a change of the suite's
# defaults cannot quietly turn a check off. The 1.1 defaults leave four of these off
# (upload cancel, both digest headers, tag parameters); they are on here.
SUITE_OPTIONS: dict[str, str] = {
    "OCI_VERSION": "1.1",
    "OCI_CACHE_AUTH": "true",
    "OCI_LOG": "warn",
    "OCI_API_PING": "true",
    "OCI_API_PULL": "true",
    "OCI_API_PUSH": "true",
    "OCI_API_BLOBS_ATOMIC": "true",
    "OCI_API_BLOBS_DELETE": "true",
    "OCI_API_BLOBS_DIGEST_HEADER": "true",
    "OCI_API_BLOBS_MOUNT_ANONYMOUS": "true",  # automatic cross-mount: POST ?mount= without from=
    "OCI_API_BLOBS_UPLOAD_CANCEL": "true",
    "OCI_API_MANIFESTS_ATOMIC": "true",
    "OCI_API_MANIFESTS_DELETE": "true",
    "OCI_API_MANIFESTS_DIGEST_HEADER": "true",
    "OCI_API_MANIFESTS_TAG_PARAM": "true",  # PUT by digest with ?tag=
    "OCI_API_TAGS_ATOMIC": "true",
    "OCI_API_TAGS_DELETE": "true",
    "OCI_API_TAGS_LIST": "true",
    "OCI_API_REFERRER": "true",
    "OCI_DATA_IMAGE": "true",
    "OCI_DATA_INDEX": "true",
    "OCI_DATA_INDEX_LIST": "true",
    "OCI_DATA_SPARSE": "false",
    "OCI_DATA_ARTIFACT": "true",
    "OCI_DATA_SUBJECT": "true",
    "OCI_DATA_SUBJECT_MISSING": "true",
    "OCI_DATA_ARTIFACT_LIST": "true",
    "OCI_DATA_SUBJECT_LIST": "true",
    "OCI_DATA_DATA_FIELD": "true",
    "OCI_DATA_NONDISTRIBUTABLE": "true",
    "OCI_DATA_CUSTOM_FIELDS": "true",
    "OCI_DATA_NO_LAYERS": "true",
    "OCI_DATA_EMPTY_BLOB": "true",
    "OCI_DATA_SHA512": "true",
}

def conformance_binary() -> Path | None:
    explicit = os.environ.get("OCI_CONFORMANCE_BIN")
    if explicit:
        return Path(explicit) if os.access(explicit, os.X_OK) else None
    cache = Path(os.environ.get("QUAY_CI_CACHE", "/var/cache/quay-registry-ci"))
    candidate = cache / "go" / "bin" / "conformance"
    return candidate if os.access(candidate, os.X_OK) else None


# With S3Storage a blob GET is a 307 to a presigned URL and the bytes come from the object store,
# which cannot send Docker-Content-Digest (a SHOULD; the 307 carries it, and with proxy_downloads
# the registry's own 200 does: both asserted in tests/e2e/test_s3_storage.py). Everything else on.
BACKEND_OPTIONS: dict[str, dict[str, str]] = {"s3": {"OCI_API_BLOBS_DIGEST_HEADER": "false"}}


def suite_env(server: RegistryServer, results_dir: Path, backend: str = "sqlite") -> dict[str, str]:
    # Start from a clean slate: no OCI_* from the caller's environment may change what is tested.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCI_")}
    tls = "disabled" if server.scheme == "http" else "enabled"
    env.update(SUITE_OPTIONS)
    env.update(BACKEND_OPTIONS.get(backend, {}))
    env.update({
        "OCI_REGISTRY": server.host,
        "OCI_TLS": tls,
        "OCI_REPO1": REPO1,
        "OCI_REPO2": REPO2,
        "OCI_USERNAME": ADMIN[0],
        "OCI_PASSWORD": ADMIN[1],
        "OCI_RESULTS_DIR": str(results_dir),
    })
    if server.ca_file:
        env["SSL_CERT_FILE"] = str(server.ca_file)
    return env


@dataclass
class Case:
    """One leaf test from junit.xml. ``errors`` is why it failed; ``output`` the requests it sent."""

    name: str
    status: str  # passed, skipped, failure, error
    errors: str
    output: str

    def describe(self, output_chars: int = 3000) -> str:
        text = f"--- {self.status.upper()}: {self.name}\n"
        if self.errors.strip():
            text += "  errors: " + self.errors.strip().replace("\n", "\n          ") + "\n"
        out = self.output.strip()
        if out:
            if len(out) > output_chars:
                out = "[...]\n" + out[-output_chars:]
            text += "  requests (tail):\n    " + out.replace("\n", "\n    ") + "\n"
        return text


@dataclass
class SuiteResult:
    counts: dict[str, int]  # tests, failures, errors, skipped, disabled (every node, not only leaves)
    cases: list[Case]
    stdout: str

    def tree_problems(self, limit: int = 300) -> str:
        """The suite's own result tree, keeping only nodes that did not pass (with their errors)."""
        lines = self.stdout.split("\nConfiguration:\n", 1)[0].splitlines()
        keep: list[str] = []
        keeping = False
        for line in lines[1:]:
            stripped = line.strip()
            if stripped.startswith("OCI Conformance Test"):
                keeping = not stripped.endswith((": Pass", ": Disabled"))
            if keeping:
                keep.append(line)
        if len(keep) > limit:
            keep = [*keep[:limit], f"[... {len(keep) - limit} more lines in conformance.stdout]"]
        return "\n".join(keep)

    def status_tables(self) -> str:
        """The suite's per-API and per-data-type verdicts (the end of its stdout)."""
        idx = self.stdout.find("OCI Conformance Result:")
        return self.stdout[idx:].strip() if idx >= 0 else ""


def parse_junit(path: Path, stdout: str) -> SuiteResult:
    root = ET.parse(path).getroot()  # noqa: S314 - a file the suite just wrote
    suite = root.find("testsuite")
    attrs = suite.attrib if suite is not None else root.attrib
    counts = {k: int(attrs.get(k, "0") or 0) for k in ("tests", "failures", "errors", "skipped", "disabled")}
    cases = []
    for tc in root.iter("testcase"):
        status = tc.get("status") or "passed"
        if tc.find("failure") is not None:
            status = "failure"
        elif tc.find("error") is not None:
            status = "error"
        cases.append(Case(
            name=tc.get("name", "?"),
            status=status,
            errors=tc.findtext("system-out") or "",
            output=tc.findtext("system-err") or "",
        ))
    return SuiteResult(counts=counts, cases=cases, stdout=stdout)


def run_suite(binary: Path, server: RegistryServer, workdir: Path, backend: str = "sqlite") -> SuiteResult:
    results_dir = workdir / "results"
    proc = subprocess.run(
        [str(binary)], cwd=workdir, env=suite_env(server, results_dir, backend), capture_output=True, text=True,
        timeout=1800,
    )
    (workdir / "conformance.stdout").write_text(proc.stdout)
    (workdir / "conformance.stderr").write_text(proc.stderr)
    junit = results_dir / "junit.xml"
    if not junit.exists():
        pytest.fail(
            f"conformance suite wrote no junit.xml (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
            f"server log:\n{server.log()[-4000:]}",
            pytrace=False,
        )
    return parse_junit(junit, proc.stdout)


SERVERS = {"sqlite": "registry", "postgres": "pg_registry", "s3": "s3_registry"}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "s3"])
def test_oci_conformance(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    binary = conformance_binary()
    if binary is None:
        missing_dependency(
            "OCI conformance suite not built: run scripts/build-go-tools (or set OCI_CONFORMANCE_BIN)"
        )
    server: RegistryServer = request.getfixturevalue(SERVERS[backend])
    workdir = tmp_path / "conformance"
    workdir.mkdir()
    result = run_suite(binary, server, workdir, backend)

    c = result.counts
    assert c["tests"] > 0 and result.cases, f"the conformance suite ran no test:\n{result.stdout[-3000:]}"
    summary = (
        f"OCI conformance on {backend}: {c['tests']} checks, {c['failures']} FAIL, {c['errors']} Error, "
        f"{c['skipped']} Skip, {c['disabled']} Disabled (full report: {workdir / 'results' / 'report.html'})"
    )
    print(summary)
    # With every option on, a Skip means the registry answered that an enabled feature is
    # unsupported (or a step it depends on failed): a gap, like a failure.
    if c["failures"] or c["errors"] or c["skipped"]:
        # Everything in the captured output; a short list of distinct failing checks in the message.
        print(f"\n{result.status_tables()}\n\nChecks that did not pass:\n{result.tree_problems()}\n")
        bad = [case for case in result.cases if case.status != "passed"]
        distinct: dict[tuple[str, str], Case] = {}
        for case in bad:
            distinct.setdefault((case.name, case.status), case)
        first = list(distinct.values())[:25]
        print("Requests of the first failing checks:\n" + "".join(k.describe() for k in first))
        print(f"server log (tail):\n{server.log()[-3000:]}")
        lines = [
            f"  {case.status}: {case.name} (x{sum(1 for b in bad if (b.name, b.status) == key)}): "
            + (case.errors.strip().splitlines() or ["(no message)"])[0][:240]
            for key, case in distinct.items()
        ]
        pytest.fail(summary + "\n" + "\n".join(lines), pytrace=False)
