"""A small OCI distribution client over httpx, for tests that need exact requests."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from dataclasses import dataclass

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Image:
    config: bytes
    layers: list[bytes]

    @staticmethod
    def random(n_layers: int = 1, size: int = 1024) -> Image:
        cfg = json.dumps({"architecture": "amd64", "os": "linux", "nonce": os.urandom(8).hex()}).encode()
        return Image(cfg, [os.urandom(size) for _ in range(n_layers)])

    def manifest(self, **extra: object) -> bytes:
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(self.config), "size": len(self.config)},
            "layers": [{"mediaType": LAYER, "digest": sha256(b), "size": len(b)} for b in self.layers],
        }
        doc.update(extra)
        return json.dumps(doc).encode()


class Client:
    def __init__(self, base_url: str, auth: tuple[str, str] | None = None, verify: bool | str = False) -> None:
        self.http = httpx.Client(base_url=base_url, auth=auth, timeout=120.0, verify=verify)

    def close(self) -> None:
        self.http.close()

    def push_blob(self, repo: str, data: bytes, digest: str | None = None) -> httpx.Response:
        digest = digest or sha256(data)
        r = self.http.post(f"/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, r.text
        return self.http.put(r.headers["location"], params={"digest": digest}, content=data,
                             headers={"content-type": "application/octet-stream"})

    def push_blob_chunked(self, repo: str, data: bytes, chunk: int) -> httpx.Response:
        r = self.http.post(f"/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, r.text
        loc = r.headers["location"]
        for off in range(0, len(data), chunk):
            part = data[off:off + chunk]
            r = self.http.patch(loc, content=part, headers={
                "content-type": "application/octet-stream", "content-range": f"{off}-{off + len(part) - 1}"})
            assert r.status_code == 202, r.text
            loc = r.headers["location"]
        return self.http.put(loc, params={"digest": sha256(data)})

    def push_image(self, repo: str, image: Image, tag: str) -> httpx.Response:
        for blob in [image.config, *image.layers]:
            r = self.push_blob(repo, blob)
            assert r.status_code == 201, r.text
        return self.put_manifest(repo, tag, image.manifest())

    def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str = OCI_MANIFEST) -> httpx.Response:
        return self.http.put(f"/v2/{repo}/manifests/{ref}", content=body, headers={"content-type": media_type})


def raw_request(host: str, port: int, method: str, path: str, auth: tuple[str, str] | None = None,
                body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """A request with the path sent byte for byte (httpx would normalise '..' and %2e)."""
    import base64

    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"content-length": str(len(body))}
    if auth:
        headers["authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    conn.putrequest(method, path, skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def error_code(resp: httpx.Response | bytes) -> str:
    body = resp if isinstance(resp, bytes) else resp.content
    return str(json.loads(body)["errors"][0]["code"])
