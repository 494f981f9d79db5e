"""A minimal OCI distribution client on one persistent http.client connection per instance."""

from __future__ import annotations

import http.client
import mmap
import time
from urllib.parse import quote, urlsplit

from .images import Image
from .util import BenchError

_RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
              http.client.CannotSendRequest, http.client.ResponseNotReady)


def _path_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _with_digest(path: str, digest: str) -> str:
    sep = "&" if "?" in path else "?"
    return f"{path}{sep}digest={quote(digest, safe=':')}"


class RegistryClient:
    def __init__(self, base_url: str, token: str | None, timeout: float = 300.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self.requests = 0

    def close(self) -> None:
        self.conn.close()

    def _do(self, method: str, path: str, body=None, headers: dict[str, str] | None = None,
            retry: bool = True) -> tuple[int, http.client.HTTPMessage, bytes]:
        hdrs = dict(self.auth)
        if headers:
            hdrs.update(headers)
        if body is None and method in ("POST", "PUT", "PATCH"):
            hdrs.setdefault("Content-Length", "0")
        try:
            self.conn.request(method, path, body=body, headers=hdrs)
            resp = self.conn.getresponse()
            data = resp.read()
        except _RETRYABLE:
            # A keep-alive connection the server closed while idle: reconnect once.
            self.conn.close()
            if not retry:
                raise
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            return self._do(method, path, body, headers, retry=False)
        self.requests += 1
        return resp.status, resp.headers, data

    @staticmethod
    def _expect(what: str, status: int, wanted: tuple[int, ...], body: bytes) -> None:
        if status not in wanted:
            raise BenchError(f"{what}: HTTP {status} (wanted {wanted}): {body[:300]!r}")

    # -- blobs -----------------------------------------------------------------------------
    def start_upload(self, repo: str) -> str:
        status, headers, body = self._do("POST", f"/v2/{repo}/blobs/uploads/")
        self._expect(f"POST upload {repo}", status, (202,), body)
        loc = headers.get("Location")
        if not loc:
            raise BenchError(f"POST upload {repo}: no Location header")
        return _path_of(loc)

    def blob_exists(self, repo: str, digest: str) -> bool:
        status, _, body = self._do("HEAD", f"/v2/{repo}/blobs/{digest}")
        if status not in (200, 404):
            raise BenchError(f"HEAD blob {repo}@{digest}: HTTP {status} {body[:200]!r}")
        return status == 200

    def push_blob(self, repo: str, digest: str, data: bytes) -> None:
        """Monolithic upload, POST then one PUT ?digest= with the whole body."""
        path = self.start_upload(repo)
        status, _, body = self._do("PUT", _with_digest(path, digest), body=data,
                                   headers={"Content-Type": "application/octet-stream",
                                            "Content-Length": str(len(data))})
        self._expect(f"PUT blob {repo}@{digest}", status, (201,), body)

    def push_chunked_file(self, repo: str, path_on_disk: str, digest: str, chunk: int) -> dict:
        """POST, PATCH chunk by chunk (Content-Range), PUT ?digest=. Returns timing details.

        The file is mmapped (it lives on tmpfs) and sent as memoryview slices: no copies in
        Python, so the client spends its time in sendall().
        """
        with open(path_on_disk, "rb") as fh:
            size = fh.seek(0, 2)
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(mm)
        try:
            t0 = time.perf_counter()
            upload = self.start_upload(repo)
            offset = 0
            n = 0
            while offset < size:  # bounded: size / chunk iterations
                end = min(offset + chunk, size)
                status, headers, body = self._do(
                    "PATCH", upload, body=view[offset:end],
                    headers={"Content-Type": "application/octet-stream",
                             "Content-Range": f"{offset}-{end - 1}",
                             "Content-Length": str(end - offset)},
                    retry=False,
                )
                self._expect(f"PATCH {repo} {offset}-{end - 1}", status, (202,), body)
                loc = headers.get("Location")
                if loc:
                    upload = _path_of(loc)
                offset = end
                n += 1
            status, _, body = self._do("PUT", _with_digest(upload, digest), retry=False)
            self._expect(f"PUT (close chunked) {repo}@{digest}", status, (201,), body)
            elapsed = time.perf_counter() - t0
        finally:
            view.release()
            mm.close()
        return {"seconds": elapsed, "chunks": n, "bytes": size}

    # -- manifests -------------------------------------------------------------------------
    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        status, headers, body = self._do("PUT", f"/v2/{repo}/manifests/{ref}", body=data,
                                         headers={"Content-Type": media_type,
                                                  "Content-Length": str(len(data))})
        self._expect(f"PUT manifest {repo}:{ref}", status, (201,), body)
        return headers.get("Docker-Content-Digest", "")

    def push_image(self, repo: str, tag: str, image: Image, check_existing: bool = True) -> None:
        """What docker/skopeo do: HEAD each blob, upload the missing ones, PUT the manifest."""
        for blob in [*image.layers, image.config]:
            if check_existing and self.blob_exists(repo, blob.digest):
                continue
            self.push_blob(repo, blob.digest, blob.data)
        self.put_manifest(repo, tag, image.manifest, image.media_type)
