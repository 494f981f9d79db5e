"""Domain errors. Each carries the OCI distribution error code and HTTP status it maps to; the
HTTP layer turns them into the spec's JSON error body in one place."""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    """``message`` and ``detail`` go to the client; for a server-side failure (5xx) they must name
    no path, SQL, driver or exception text. What the operator needs goes to ``log_detail``, which
    the HTTP layer logs (with a reference it also gives the client) and never sends."""

    code = "UNKNOWN"
    status = 500

    def __init__(
        self,
        message: str,
        detail: Any = None,
        headers: dict[str, str] | None = None,
        *,
        log_detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = headers or {}
        self.log_detail = log_detail


def _err(name: str, code: str, status: int) -> type[RegistryError]:
    return type(name, (RegistryError,), {"code": code, "status": status})


BlobUnknown = _err("BlobUnknown", "BLOB_UNKNOWN", 404)
BlobUploadInvalid = _err("BlobUploadInvalid", "BLOB_UPLOAD_INVALID", 400)
BlobUploadUnknown = _err("BlobUploadUnknown", "BLOB_UPLOAD_UNKNOWN", 404)
DigestInvalid = _err("DigestInvalid", "DIGEST_INVALID", 400)
ManifestBlobUnknown = _err("ManifestBlobUnknown", "MANIFEST_BLOB_UNKNOWN", 400)
ManifestInvalid = _err("ManifestInvalid", "MANIFEST_INVALID", 400)
ManifestUnknown = _err("ManifestUnknown", "MANIFEST_UNKNOWN", 404)
NameInvalid = _err("NameInvalid", "NAME_INVALID", 400)
NameUnknown = _err("NameUnknown", "NAME_UNKNOWN", 404)
SizeInvalid = _err("SizeInvalid", "SIZE_INVALID", 400)
Unauthorized = _err("Unauthorized", "UNAUTHORIZED", 401)
Denied = _err("Denied", "DENIED", 403)
Unsupported = _err("Unsupported", "UNSUPPORTED", 415)
TooManyRequests = _err("TooManyRequests", "TOOMANYREQUESTS", 429)
RangeInvalid = _err("RangeInvalid", "BLOB_UPLOAD_INVALID", 416)
ManifestTooLarge = _err("ManifestTooLarge", "SIZE_INVALID", 413)
StorageFull = _err("StorageFull", "UNKNOWN", 507)
StorageUnavailable = _err("StorageUnavailable", "UNKNOWN", 503)
DatabaseUnavailable = _err("DatabaseUnavailable", "UNKNOWN", 503)
NotFound = _err("NotFound", "NOT_FOUND", 404)
# Too many open uploads for one account (see services/uploads.py): the spec's TOOMANYREQUESTS.
TooManyUploads = _err("TooManyUploads", "TOOMANYREQUESTS", 429)
PaginationInvalid = _err("PaginationInvalid", "PAGINATION_NUMBER_INVALID", 400)
# An immutable tag (Quay 3.17) was to be overwritten, moved or deleted: Quay's TAG_IMMUTABLE, 409,
# with Quay's API message ("Cannot overwrite immutable tag 'v1'"), which names the tag.
TagImmutableError = _err("TagImmutableError", "TAG_IMMUTABLE", 409)


def tag_immutable(tag: str, operation: str) -> RegistryError:
    return TagImmutableError(f"Cannot {operation} immutable tag '{tag}'", {"message": f"tag '{tag}' is immutable"})
