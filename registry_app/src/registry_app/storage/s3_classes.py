"""Quay's ``S3Storage`` and ``RadosGWStorage``: their parameters, registered by class name, turned
into the one S3 driver's settings (``storage/s3.py``). Parameter names and defaults are Quay's
(storage/cloud.py); the departures are in docs/architecture.md, "The S3 drivers"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from registry_app.storage.base import Param
from registry_app.storage.drivers import register
from registry_app.storage.s3 import S3_MIN_PART, GiB, MiB, S3BlobStorage, S3Settings


def endpoint_from_host(host: str, port: int | None, is_secure: bool) -> str:
    """Quay's ``_build_endpoint_url``: a host with or without scheme, the port appended unless
    the host already ends with one."""
    url = host if host.startswith(("http://", "https://")) else ("https://" if is_secure else "http://") + host
    if port and not url.rsplit(":", 1)[-1].strip(" /").isdigit():
        url = f"{url}:{port}"
    return url


# Parameters both classes take beyond Quay's (registry_app extensions).
_EXTENSIONS = (
    Param(
        "proxy_downloads",
        bool,
        default=False,
        doc="serve blob GETs through the registry instead of redirecting to a presigned URL "
        "(for clients that cannot reach the object store); registry_app extension",
    ),
    Param(
        "presigned_url_expiry_seconds",
        int,
        default=60,
        doc="lifetime of the presigned GET URL a blob GET redirects to (Quay: 60); registry_app extension",
    ),
)


def _chunk_sizes(min_mb: float | None, max_bytes: int) -> tuple[int, int]:
    """(minimum part, largest copied part) in bytes. S3 refuses parts under 5 MiB (but the last),
    and a segment split evenly into copied parts of at most M bytes has parts of at least M/2, so
    the largest copied part is at least twice the minimum (and at most S3's 5 GiB)."""
    min_part = max(S3_MIN_PART, int((min_mb if min_mb is not None else 5) * MiB))
    return min_part, min(max(max_bytes, 2 * min_part), 5 * GiB)


@register("S3Storage")
class S3Storage(S3BlobStorage):
    """Quay's ``S3Storage``: AWS S3 or any S3-compatible endpoint (``endpoint_url``, or ``host``
    and ``port``)."""

    PARAMS = (
        Param("storage_path", str, required=True, doc="the key prefix in the bucket, e.g. /datastorage/registry"),
        Param("s3_bucket", str, required=True, doc="the bucket"),
        Param("s3_access_key", str, doc="access key id (default: boto3's credential chain)"),
        Param("s3_secret_key", str, doc="secret access key"),
        Param("s3_region", str, doc="the bucket's region (signing; AWS's endpoint when no host is given)"),
        Param("host", str, doc="S3 endpoint host name (Quay: boto2 style, no scheme)"),
        Param("port", int, doc="S3 endpoint port, with host"),
        Param("is_secure", bool, default=True, doc="https (default) or http for host; registry_app extension"),
        Param("endpoint_url", str, doc="full endpoint URL with scheme (boto3 style), instead of host/port"),
        Param("maximum_chunk_size_gb", float, default=5, doc="largest part copied when assembling a blob"),
        Param("minimum_chunk_size_mb", float, default=5, doc="part size of uploads (at least 5)"),
        Param("signature_version", str, default="s3v4", doc="boto3 signature version"),
        Param("aws_session_token", str, doc="session token of temporary credentials"),
        *_EXTENSIONS,
    )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        p = params
        endpoint = p["endpoint_url"] or (p["host"] and endpoint_from_host(p["host"], p["port"], p["is_secure"]))
        min_part, max_copy = _chunk_sizes(p["minimum_chunk_size_mb"], int(p["maximum_chunk_size_gb"] * GiB))
        settings = S3Settings(
            bucket=p["s3_bucket"],
            storage_path=p["storage_path"],
            endpoint_url=endpoint or None,
            region=p["s3_region"],
            access_key=p["s3_access_key"],
            signature_version=p["signature_version"],
            min_part=min_part,
            max_copy_part=max_copy,
            server_side_assembly=True,
            proxy_downloads=p["proxy_downloads"],
            presign_expiry_s=p["presigned_url_expiry_seconds"],
        )
        return cls(settings, p["s3_secret_key"], p["aws_session_token"])


@register("RadosGWStorage")
class RadosGWStorage(S3BlobStorage):
    """Quay's ``RadosGWStorage``: Ceph's S3 gateway (or any S3 server) by ``hostname``/``port``."""

    PARAMS = (
        Param("hostname", str, required=True, doc="the gateway's host name (or a URL with scheme)"),
        Param("is_secure", bool, required=True, doc="https (true) or http (false)"),
        Param("storage_path", str, required=True, doc="the key prefix in the bucket"),
        Param("access_key", str, required=True, doc="access key id"),
        Param("secret_key", str, required=True, doc="secret access key"),
        Param("bucket_name", str, required=True, doc="the bucket"),
        Param("port", int, doc="the gateway's port"),
        Param("region_name", str, doc="signing region"),
        Param("signature_version", str, doc="boto3 signature version (default s3v4)"),
        Param("minimum_chunk_size_mb", float, default=5, doc="part size of uploads (at least 5)"),
        Param("maximum_chunk_size_mb", float, default=100, doc="largest part copied when assembling a blob"),
        Param("server_side_assembly", bool, default=True, doc="assemble blobs with UploadPartCopy (else read back)"),
        *_EXTENSIONS,
    )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        p = params
        min_part, max_copy = _chunk_sizes(p["minimum_chunk_size_mb"], int(p["maximum_chunk_size_mb"] * MiB))
        settings = S3Settings(
            bucket=p["bucket_name"],
            storage_path=p["storage_path"],
            endpoint_url=endpoint_from_host(p["hostname"], p["port"], p["is_secure"]),
            region=p["region_name"],
            access_key=p["access_key"],
            signature_version=p["signature_version"],
            min_part=min_part,
            max_copy_part=max_copy,
            server_side_assembly=p["server_side_assembly"],
            proxy_downloads=p["proxy_downloads"],
            presign_expiry_s=p["presigned_url_expiry_seconds"],
        )
        return cls(settings, p["secret_key"])
