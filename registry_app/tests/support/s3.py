"""A real S3 server for the tests: SeaweedFS (``weed server -s3``) on free loopback ports.

The binary is built from the Go module proxy by ``scripts/build-go-tools`` (``WEED_BIN``, else
``$QUAY_CI_CACHE/go/bin/weed``). The server runs master, volume server, filer and S3 gateway in
one process, in a temporary directory, bound to 127.0.0.1, with telemetry off (no traffic leaves
the machine). Authentication is real: an identity file (``-s3.config``, mode 0600, never on the
command line) holds one identity with a generated access key and secret key, so a wrong key or a
bad signature is refused as S3 refuses it.

``SeaweedServer.start()`` returns once the S3 gateway answers an authenticated ListBuckets;
``bucket(name)`` creates a bucket; ``empty(bucket, prefix)`` deletes what a test left under a
prefix; ``stop()`` ends the process group.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.server import free_port

REGION = "us-east-1"


class S3Unavailable(RuntimeError):
    """No SeaweedFS binary, or it did not start."""


def ci_cache() -> Path:
    return Path(os.environ.get("QUAY_CI_CACHE", "/var/cache/quay-registry-ci"))


def weed_binary() -> Path | None:
    """``WEED_BIN``, else the one scripts/build-go-tools caches; None if absent."""
    env = os.environ.get("WEED_BIN")
    candidates = [Path(env)] if env else [ci_cache() / "go" / "bin" / "weed"]
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    return None


@dataclass
class SeaweedServer:
    """One SeaweedFS with an S3 gateway at ``endpoint`` (http://127.0.0.1:PORT)."""

    workdir: Path
    access_key: str = field(default_factory=lambda: "AK" + secrets.token_hex(9).upper())
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    s3_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _shared_bucket: str | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "weed.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 120.0) -> SeaweedServer:
        binary = weed_binary()
        if binary is None:
            raise S3Unavailable("SeaweedFS not built: run scripts/build-go-tools weed (or set WEED_BIN)")
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = self.workdir / "s3.json"
        fd = os.open(identities, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(
                {
                    "identities": [
                        {
                            "name": "registry",
                            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        }
                    ]
                },
                fh,
            )
        names = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc")
        ports = {name: free_port() for name in names}
        cmd = [
            str(binary),
            "server",
            f"-dir={data}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={ports['master.grpc']}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=256",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={ports['volume.grpc']}",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={ports['filer.grpc']}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={free_port()}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            f"-s3.config={identities}",
        ]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            cmd, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        client = self.client(connect_timeout=1, read_timeout=5)
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise S3Unavailable(f"weed server exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                client.list_buckets()
                return self
            except Exception as exc:  # not up yet (connection refused, 503 while the filer starts)
                last = exc
                time.sleep(0.3)
        self.stop()
        raise S3Unavailable(f"SeaweedFS S3 did not answer in {timeout}s ({last}):\n{self.log()[-4000:]}")

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this server, signed with its keys (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, **config),
        )

    def bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh random name unless given) and return its name."""
        name = name or f"b-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def shared_bucket(self) -> str:
        """One bucket for the session's tests that each use a prefix of their own (made on first use)."""
        if self._shared_bucket is None:
            self._shared_bucket = self.bucket()
        return self._shared_bucket

    def empty(self, bucket: str, prefix: str = "") -> None:
        """Delete every object and multipart upload under ``prefix`` in ``bucket``."""
        client = self.client()
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
            for up in page.get("Uploads", ()):
                client.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", ())]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        client = self.client()
        return [
            item["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", ())
        ]

    def multipart_uploads(self, bucket: str, prefix: str = "") -> list[str]:
        client = self.client()
        return [
            up["Key"]
            for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
            for up in page.get("Uploads", ())
        ]

    def s3_storage_params(self, bucket: str, storage_path: str, **extra: Any) -> dict[str, Any]:
        """Quay's S3Storage parameters for a bucket of this server."""
        return {
            "s3_bucket": bucket,
            "storage_path": storage_path,
            "s3_access_key": self.access_key,
            "s3_secret_key": self.secret_key,
            "endpoint_url": self.endpoint,
            "s3_region": REGION,
            **extra,
        }

    def radosgw_params(self, bucket: str, storage_path: str, **extra: Any) -> dict[str, Any]:
        """Quay's RadosGWStorage parameters for a bucket of this server."""
        return {
            "hostname": self.host,
            "port": self.s3_port,
            "is_secure": False,
            "bucket_name": bucket,
            "storage_path": storage_path,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            **extra,
        }

    def internals(self) -> tuple[str, ...]:
        """What no client-facing message may contain: endpoint, port and keys."""
        return (self.endpoint, f"{self.host}:{self.s3_port}", str(self.s3_port), self.access_key, self.secret_key)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:  # its graceful stop can take 15 s; the data is thrown away anyway
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def __enter__(self) -> SeaweedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
