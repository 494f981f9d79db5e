"""Real clients against the real server: skopeo, podman, buildah and docker (through a real dockerd).

Every test runs over plain HTTP and over HTTPS. HTTPS uses a test CA that the clients trust the way a
user would set it up (certs.d/HOST:PORT/ca.crt); no HTTPS test passes ``--tls-verify=false`` or
relies on an insecure-registry setting. Over HTTP, skopeo/podman/buildah need ``--tls-verify=false``
(that is how they speak HTTP) and dockerd treats 127.0.0.0/8 as insecure by default.

dockerd also skips certificate checks for every 127.0.0.0/8 registry, so its HTTPS tests run the
server on a test host: a network namespace made for the session (``netns_host``: one per xdist
worker, joined to the host by a veth pair), the server bound to 10.254.N.2:PORT inside it, with
SERVER_HOSTNAME and the certificate's IP SAN set to match. dockerd reaches it through the veth and
verifies the chain, which ``test_untrusted_ca_is_rejected`` proves.

The check in every test: the manifest digest the pushing client reports equals the one the registry
serves (Docker-Content-Digest and sha256 of the body, fetched independently with httpx) and the one
the pulling client ends up with.
"""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.bundle import start_https_registry
from tests.support.engines import (
    ContainersClients,
    Dockerd,
    NetnsHost,
    netns_host,
    trust_ca,
)
from tests.support.images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    OciImage,
    build_image,
    layout_blobs,
    read_layout,
)
from tests.support.server import RegistryServer
from tests.support.tls import CertificateAuthority

pytestmark = pytest.mark.clients

USER, PASSWORD = ADMIN
NAMESPACE = USER  # pushes go to the admin user's own namespace
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


# --------------------------------------------------------------------------------------------
# Targets: one server as the clients see it
# --------------------------------------------------------------------------------------------


@dataclass
class Target:
    server: RegistryServer
    host: str  # what clients put in references: 127.0.0.1:PORT or 10.254.N.2:PORT
    tls: bool
    ca_file: Path | None = None
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def ref(self, repo: str, tag_or_digest: str = "latest") -> str:
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"{self.host}/{repo}{sep}{tag_or_digest}"

    def tls_verify(self, flag: str = "--tls-verify") -> list[str]:
        """Nothing over HTTPS (default verification with certs.d), ``FLAG=false`` over plain HTTP."""
        return [] if self.tls else [f"{flag}=false"]

    # -- independent view of the registry over HTTP (httpx, Bearer token from the challenge) --

    def _client(self) -> httpx.Client:
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else False
        return httpx.Client(verify=verify, timeout=30, follow_redirects=False)

    def _token(self, client: httpx.Client, repo: str) -> dict[str, str]:
        if repo in self._tokens:
            return {"Authorization": self._tokens[repo]}
        ping = client.get(f"{self.scheme}://{self.host}/v2/")
        challenge = ping.headers.get("www-authenticate", "")
        assert ping.status_code == 401, f"GET /v2/ without credentials: {ping.status_code} {ping.text[:500]}"
        if challenge.lower().startswith("basic"):
            header = "Basic " + __import__("base64").b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        else:
            params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
            assert "realm" in params, f"GET /v2/ 401 without a Bearer realm: WWW-Authenticate: {challenge!r}"
            query = {"scope": f"repository:{repo}:pull"}
            if "service" in params:
                query["service"] = params["service"]
            resp = client.get(params["realm"], params=query, auth=(USER, PASSWORD))
            assert resp.status_code == 200, f"GET {resp.request.url}: {resp.status_code} {resp.text[:500]}"
            body = resp.json()
            header = "Bearer " + (body.get("token") or body["access_token"])
        self._tokens[repo] = header
        return {"Authorization": header}

    def manifest(self, repo: str, reference: str, accept: str = ACCEPT) -> tuple[str, str, bytes]:
        """(Docker-Content-Digest, Content-Type, body) of GET /v2/REPO/manifests/REF; checks the digest."""
        with self._client() as client:
            url = f"{self.scheme}://{self.host}/v2/{repo}/manifests/{reference}"
            headers = {"Accept": accept, **self._token(client, repo)}
            resp = client.get(url, headers=headers)
            assert resp.status_code == 200, f"GET {url}: {resp.status_code} {resp.headers} {resp.text[:500]}"
            digest = resp.headers.get("docker-content-digest", "")
            body_digest = "sha256:" + hashlib.sha256(resp.content).hexdigest()
            assert digest == body_digest, (
                f"GET {url}: Docker-Content-Digest {digest!r} is not the sha256 of the body ({body_digest})"
            )
            head = client.head(url, headers=headers)
            assert head.status_code == 200, f"HEAD {url}: {head.status_code} {head.headers}"
            head_digest = head.headers.get("docker-content-digest")
            assert head_digest == digest, f"HEAD {url}: Docker-Content-Digest {head_digest!r}, GET: {digest}"
            return digest, resp.headers.get("content-type", "").split(";")[0].strip(), resp.content

    def digest(self, repo: str, reference: str) -> str:
        return self.manifest(repo, reference)[0]


@dataclass(frozen=True)
class Site:
    """A running server and the address clients use for it (shared by the tests of this module)."""

    server: RegistryServer
    host: str
    tls: bool

    def target(self) -> Target:
        return Target(server=self.server, host=self.host, tls=self.tls, ca_file=self.server.ca_file)


# One server per kind for the whole module (starting one costs seconds): tests keep apart by using
# their own repositories, their own auth files / DOCKER_CONFIG and their own client storage.


@pytest.fixture(scope="module")
def http_site(shared_registry: RegistryServer) -> Site:
    """The embedded default (SQLite + filesystem, plain HTTP), one per module (``shared_registry``)."""
    return Site(shared_registry, shared_registry.host, tls=False)


@pytest.fixture(scope="module")
def https_site(tmp_path_factory: pytest.TempPathFactory, test_ca: CertificateAuthority) -> Iterator[Site]:
    """HTTPS at 127.0.0.1:PORT, ``test_ca`` installed in certs.d for that host."""
    with (
        start_https_registry(tmp_path_factory.mktemp("https-registry"), test_ca) as server,
        trust_ca([server.host], test_ca.cert_path),
    ):
        yield Site(server, server.host, tls=True)


def start_netns_registry(base: Path, ca: CertificateAuthority, test_host: NetnsHost) -> RegistryServer:
    """HTTPS inside the test host's namespace at 10.254.N.2:PORT (SERVER_HOSTNAME and IP SAN too)."""
    return start_https_registry(base, ca, hostname=test_host.address, netns=test_host.name, address=test_host.address)


@pytest.fixture(scope="module")
def https_netns_site(
    tmp_path_factory: pytest.TempPathFactory, test_ca: CertificateAuthority, test_host: NetnsHost
) -> Iterator[Site]:
    """HTTPS on the test host at 10.254.N.2:PORT, ``test_ca`` in certs.d for it: dockerd verifies this one."""
    server = start_netns_registry(tmp_path_factory.mktemp("https-netns-registry"), test_ca, test_host)
    try:
        with trust_ca([server.host], test_ca.cert_path):
            yield Site(server, server.host, tls=True)
    finally:
        server.stop()


@pytest.fixture(params=["http", "https"])
def target(request: pytest.FixtureRequest) -> Target:
    """The server at 127.0.0.1:PORT, over HTTP or over HTTPS with ``test_ca`` installed in certs.d."""
    site: Site = request.getfixturevalue(f"{request.param}_site")
    return site.target()


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    daemon = Dockerd(tmp_path_factory.mktemp("dockerd", numbered=True))
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def test_host() -> Iterator[NetnsHost]:
    """This session's network namespace (``quaytest-<worker>``) with 10.254.N.2 inside; removed at the end."""
    with netns_host() as host:
        yield host


@pytest.fixture(params=["http", "https"])
def docker_target(request: pytest.FixtureRequest, dockerd: Dockerd) -> Target:
    """Like ``target``, but over HTTPS the server is on the test host (10.254.N.2:PORT): dockerd verifies TLS."""
    site: Site = request.getfixturevalue("http_site" if request.param == "http" else "https_netns_site")
    return site.target()


@pytest.fixture
def docker_config(tmp_path: Path) -> Path:
    """A DOCKER_CONFIG directory private to this test (docker login writes here)."""
    path = tmp_path / "docker-config"
    path.mkdir()
    return path


@pytest.fixture
def image(tmp_path: Path, request: pytest.FixtureRequest) -> OciImage:
    """A single-platform (linux/amd64) OCI image with content unique to this test."""
    return build_image(tmp_path / "src-layout", "v1", seed=request.node.nodeid)


@pytest.fixture
def multiarch(tmp_path: Path, request: pytest.FixtureRequest) -> OciImage:
    """An OCI index over linux/amd64 and linux/arm64/v8 images, unique to this test."""
    return build_image(
        tmp_path / "src-layout",
        "multi",
        platforms=["linux/amd64", "linux/arm64"],
        seed=request.node.nodeid + "#multi",
    )


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def read_digestfile(path: Path) -> str:
    text = path.read_text().strip()
    assert SHA256.fullmatch(text), f"{path}: not a digest: {text!r}"
    return text


def containers_login(cc: ContainersClients, target: Target, tool: str = "skopeo") -> None:
    run = getattr(cc, tool)
    run("login", "--username", USER, "--password-stdin", *target.tls_verify(), target.host, input=PASSWORD)
    auths = json.loads(cc.authfile.read_text()).get("auths", {})
    assert target.host in auths, f"{tool} login did not store credentials for {target.host} in {cc.authfile}"


def skopeo_pull(
    cc: ContainersClients, target: Target, repo: str, reference: str, out: Path, tag: str, *flags: str
) -> tuple[str, bytes]:
    """``skopeo copy [FLAGS] docker://HOST/REPO:REFERENCE oci:OUT:TAG``; the pulled (digest, manifest)."""
    src = f"docker://{target.ref(repo, reference)}"
    cc.skopeo("copy", *flags, *target.tls_verify("--src-tls-verify"), src, f"oci:{out}:{tag}")
    return read_layout(out, tag)


def docker_login(dockerd: Dockerd, config: Path, target: Target) -> None:
    dockerd.docker("login", "--username", USER, "--password-stdin", target.host, config_dir=config, input=PASSWORD)


def raw_digest(cc: ContainersClients, target: Target, repo: str, reference: str) -> str:
    """sha256 of the manifest bytes skopeo fetches (``skopeo inspect --raw``)."""
    out = cc.skopeo("inspect", "--raw", *target.tls_verify(), f"docker://{target.ref(repo, reference)}")
    return "sha256:" + hashlib.sha256(out.stdout.encode()).hexdigest()


def docker_push(dockerd: Dockerd, config: Path, ref: str) -> str:
    out = dockerd.docker("push", ref, config_dir=config).stdout
    found = re.search(r"digest: (sha256:[0-9a-f]{64}) size: \d+", out)
    assert found, f"docker push {ref}: no digest in output:\n{out}"
    return found.group(1)


def docker_pull(dockerd: Dockerd, config: Path, ref: str) -> str:
    out = dockerd.docker("pull", ref, config_dir=config).stdout
    found = re.search(r"Digest: (sha256:[0-9a-f]{64})", out)
    assert found, f"docker pull {ref}: no digest in output:\n{out}"
    return found.group(1)


def docker_repo_digests(dockerd: Dockerd, config: Path, ref: str) -> list[str]:
    out = dockerd.docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref, config_dir=config).stdout
    return list(json.loads(out) or [])


def load_into_docker(cc: ContainersClients, dockerd: Dockerd, img: OciImage, ref: str) -> None:
    cc.skopeo("copy", "--dest-daemon-host", dockerd.host, img.ref, f"docker-daemon:{ref}")


def load_into_podman(cc: ContainersClients, img: OciImage, ref: str) -> None:
    image_id = cc.podman("pull", "--quiet", img.ref).stdout.strip().splitlines()[-1]
    cc.podman("tag", image_id, ref)


def podman_digest(cc: ContainersClients, ref: str) -> tuple[str, list[str]]:
    out = cc.podman("image", "inspect", "--format", "{{json .Digest}} {{json .RepoDigests}}", ref).stdout
    digest, repo_digests = out.strip().split(" ", 1)
    return json.loads(digest), list(json.loads(repo_digests) or [])


# --------------------------------------------------------------------------------------------
# skopeo
# --------------------------------------------------------------------------------------------


def test_skopeo_copy_roundtrip(target: Target, cc: ContainersClients, image: OciImage, tmp_path: Path) -> None:
    """An OCI image goes in unchanged (same digest, OCI media type) and comes back byte-identical."""
    repo = f"{NAMESPACE}/skopeo-single"
    containers_login(cc, target)
    digestfile = tmp_path / "pushed.digest"
    cc.skopeo(
        "copy",
        *target.tls_verify("--dest-tls-verify"),
        "--digestfile",
        str(digestfile),
        image.ref,
        f"docker://{target.ref(repo, 'v1')}",
    )
    assert read_digestfile(digestfile) == image.digest, "skopeo rewrote an OCI manifest it had no reason to"

    digest, content_type, body = target.manifest(repo, "v1")
    assert (digest, content_type) == (image.digest, OCI_MANIFEST)
    assert body == image.manifest
    assert raw_digest(cc, target, repo, "v1") == image.digest
    assert target.digest(repo, image.digest) == image.digest  # by digest, too

    for reference in ("v1", image.digest):
        out = tmp_path / f"pulled-{reference[:9].replace(':', '-')}"
        pulled, data = skopeo_pull(cc, target, repo, reference, out, "copy")
        assert pulled == image.digest
        assert data == image.manifest
        assert layout_blobs(out) == image.blob_digests

    # Docker schema 2 as well: skopeo converts, the registry must keep what it was given.
    digestfile2 = tmp_path / "v2s2.digest"
    cc.skopeo(
        "copy",
        "--format",
        "v2s2",
        *target.tls_verify("--dest-tls-verify"),
        "--digestfile",
        str(digestfile2),
        image.ref,
        f"docker://{target.ref(repo, 'v2s2')}",
    )
    v2s2 = read_digestfile(digestfile2)
    assert v2s2 != image.digest
    digest, content_type, _ = target.manifest(repo, "v2s2")
    assert (digest, content_type) == (v2s2, DOCKER_MANIFEST)
    assert raw_digest(cc, target, repo, "v2s2") == v2s2


def test_skopeo_copy_all_multiarch(target: Target, cc: ContainersClients, multiarch: OciImage, tmp_path: Path) -> None:
    """``copy --all`` of an OCI index: the index and both platform manifests keep their digests."""
    repo = f"{NAMESPACE}/skopeo-multi"
    containers_login(cc, target)
    digestfile = tmp_path / "pushed.digest"
    cc.skopeo(
        "copy",
        "--all",
        *target.tls_verify("--dest-tls-verify"),
        "--digestfile",
        str(digestfile),
        multiarch.ref,
        f"docker://{target.ref(repo, 'multi')}",
    )
    assert read_digestfile(digestfile) == multiarch.digest

    digest, content_type, body = target.manifest(repo, "multi")
    assert (digest, content_type) == (multiarch.digest, OCI_INDEX)
    assert body == multiarch.manifest
    assert raw_digest(cc, target, repo, "multi") == multiarch.digest
    for platform, child in multiarch.platform_digests.items():
        child_digest, child_type, _ = target.manifest(repo, child)
        assert (child_digest, child_type) == (child, OCI_MANIFEST), platform
        assert raw_digest(cc, target, repo, child) == child

    # Platform selection through the index, as a client on that platform would resolve it.
    arm = cc.skopeo(
        "inspect",
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        *target.tls_verify(),
        f"docker://{target.ref(repo, 'multi')}",
    ).stdout
    info = json.loads(arm)
    assert (info["Architecture"], info["Digest"]) == ("arm64", multiarch.digest)  # Digest: the index's
    assert (
        info["Layers"][-1]
        != json.loads(
            cc.skopeo(
                "inspect",
                "--override-arch",
                "amd64",
                *target.tls_verify(),
                f"docker://{target.ref(repo, 'multi')}",
            ).stdout
        )["Layers"][-1]
    ), "arm64 and amd64 resolved to the same image"

    out = tmp_path / "pulled"
    pulled, data = skopeo_pull(cc, target, repo, "multi", out, "multi", "--all")
    assert pulled == multiarch.digest
    assert data == multiarch.manifest
    assert layout_blobs(out) == layout_blobs(multiarch.layout)


def test_push_requires_login(target: Target, cc: ContainersClients, image: OciImage) -> None:
    """No credentials, or a wrong password: the push is refused and nothing is stored."""
    repo = f"{NAMESPACE}/needs-login"
    anonymous = cc.skopeo(
        "copy",
        *target.tls_verify("--dest-tls-verify"),
        image.ref,
        f"docker://{target.ref(repo, 'v1')}",
        check=False,
    )
    assert anonymous.returncode != 0, "anonymous push was accepted"
    assert re.search(r"unauthori[sz]ed|authentication required|denied", anonymous.stderr, re.I), anonymous.stderr

    bad = cc.skopeo(
        "login",
        "--username",
        USER,
        "--password-stdin",
        *target.tls_verify(),
        target.host,
        input="not-the-password",
        check=False,
    )
    assert bad.returncode != 0, f"login with a wrong password succeeded: {bad.stdout}"

    containers_login(cc, target)
    with pytest.raises(AssertionError, match=r": 404 "):
        target.manifest(repo, "v1")


def test_untrusted_ca_is_rejected(
    cc: ContainersClients,
    dockerd: Dockerd,
    docker_config: Path,
    test_host: NetnsHost,
    tmp_path: Path,
    test_ca: CertificateAuthority,
) -> None:
    """Without the CA in certs.d, skopeo and dockerd refuse the server: the HTTPS tests verify for real."""
    server = start_netns_registry(tmp_path / "https", test_ca, test_host)
    try:
        host = server.host  # 10.254.N.2:PORT, not 127.0.0.0/8: dockerd does not treat it as insecure
        res = cc.skopeo("inspect", "--raw", f"docker://{host}/{NAMESPACE}/nothing:latest", check=False)
        assert res.returncode != 0
        assert "x509" in res.stderr or "certificate" in res.stderr, res.stderr
        res = dockerd.docker(
            "login",
            "--username",
            USER,
            "--password-stdin",
            host,
            config_dir=docker_config,
            input=PASSWORD,
            check=False,
        )
        assert res.returncode != 0, f"dockerd accepted an unknown CA for {host}: {res.stdout}"
        assert "x509" in res.stderr or "certificate" in res.stderr, res.stderr
        with trust_ca([host], test_ca.cert_path):
            dockerd.docker(
                "login",
                "--username",
                USER,
                "--password-stdin",
                host,
                config_dir=docker_config,
                input=PASSWORD,
            )
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------
# podman, buildah
# --------------------------------------------------------------------------------------------


def test_podman_push_pull(target: Target, cc: ContainersClients, image: OciImage, tmp_path: Path) -> None:
    repo = f"{NAMESPACE}/podman"
    ref = target.ref(repo, "v1")
    load_into_podman(cc, image, ref)
    containers_login(cc, target, "podman")
    digestfile = tmp_path / "pushed.digest"
    cc.podman("push", *target.tls_verify(), "--digestfile", str(digestfile), ref)
    pushed = read_digestfile(digestfile)
    assert target.digest(repo, "v1") == pushed
    assert raw_digest(cc, target, repo, "v1") == pushed

    cc.podman("rmi", "--all", "--force")  # an empty store: the pull must fetch everything
    cc.podman("pull", *target.tls_verify(), ref)
    digest, repo_digests = podman_digest(cc, ref)
    assert digest == pushed
    assert f"{target.host}/{repo}@{pushed}" in repo_digests

    by_digest = target.ref(repo, pushed)
    cc.podman("rmi", "--all", "--force")
    cc.podman("pull", *target.tls_verify(), by_digest)
    assert podman_digest(cc, by_digest)[0] == pushed


def test_buildah_build_and_push(target: Target, cc: ContainersClients, tmp_path: Path) -> None:
    """An image built by buildah (from scratch, a file copied in, a commit), pushed and pulled back."""
    repo = f"{NAMESPACE}/buildah"
    ref = target.ref(repo, "built")
    payload = tmp_path / "hello.txt"
    payload.write_text(f"built by buildah for {target.host} at {time.time()}\n")
    ctr = cc.buildah("from", "scratch").stdout.strip()
    cc.buildah("copy", ctr, str(payload), "/hello.txt")
    cc.buildah("config", "--cmd", "/hello.txt", "--label", "test=buildah", ctr)
    cc.buildah("commit", "--format", "oci", ctr, ref)
    cc.buildah("rm", ctr)
    containers_login(cc, target, "buildah")
    digestfile = tmp_path / "pushed.digest"
    cc.buildah("push", *target.tls_verify(), "--digestfile", str(digestfile), ref)
    pushed = read_digestfile(digestfile)
    digest, content_type, _ = target.manifest(repo, "built")
    assert (digest, content_type) == (pushed, OCI_MANIFEST)

    cc.buildah("rmi", "--all", "--force")
    cc.buildah("pull", *target.tls_verify(), ref)
    digest, repo_digests = podman_digest(cc, ref)  # buildah and podman share the storage
    assert digest == pushed
    assert f"{target.host}/{repo}@{pushed}" in repo_digests
    out = tmp_path / "pulled"
    assert skopeo_pull(cc, target, repo, "built", out, "built")[0] == pushed


# --------------------------------------------------------------------------------------------
# docker (real dockerd)
# --------------------------------------------------------------------------------------------


def test_docker_push_pull(
    docker_target: Target, dockerd: Dockerd, docker_config: Path, cc: ContainersClients, image: OciImage
) -> None:
    target = docker_target
    repo = f"{NAMESPACE}/docker"
    ref = target.ref(repo, "v1")
    load_into_docker(cc, dockerd, image, ref)
    docker_login(dockerd, docker_config, target)
    pushed = docker_push(dockerd, docker_config, ref)
    digest, content_type, _ = target.manifest(repo, "v1")
    assert (digest, content_type) == (pushed, DOCKER_MANIFEST)

    # A second push of the same image finds every layer there and yields the same manifest.
    assert docker_push(dockerd, docker_config, ref) == pushed

    dockerd.docker("rmi", ref, config_dir=docker_config)
    assert docker_pull(dockerd, docker_config, ref) == pushed
    assert f"{target.host}/{repo}@{pushed}" in docker_repo_digests(dockerd, docker_config, ref)
    dockerd.docker("rmi", ref, config_dir=docker_config)
    by_digest = target.ref(repo, pushed)
    assert docker_pull(dockerd, docker_config, by_digest) == pushed
    dockerd.docker("rmi", by_digest, config_dir=docker_config)


def test_docker_login_wrong_password(docker_target: Target, dockerd: Dockerd, docker_config: Path) -> None:
    res = dockerd.docker(
        "login",
        "--username",
        USER,
        "--password-stdin",
        docker_target.host,
        config_dir=docker_config,
        input="wrong",
        check=False,
    )
    assert res.returncode != 0, res.stdout
    assert re.search(r"unauthori[sz]ed|incorrect|denied|401", res.stderr, re.I), res.stderr


# --------------------------------------------------------------------------------------------
# one client pushes, another pulls
# --------------------------------------------------------------------------------------------


def test_cross_client(
    docker_target: Target,
    dockerd: Dockerd,
    docker_config: Path,
    cc: ContainersClients,
    image: OciImage,
    multiarch: OciImage,
) -> None:
    target = docker_target
    docker_login(dockerd, docker_config, target)
    containers_login(cc, target, "podman")

    # docker push -> podman pull
    ref = target.ref(f"{NAMESPACE}/from-docker", "v1")
    load_into_docker(cc, dockerd, image, ref)
    pushed = docker_push(dockerd, docker_config, ref)
    dockerd.docker("rmi", ref, config_dir=docker_config)
    cc.podman("pull", *target.tls_verify(), ref)
    assert podman_digest(cc, ref)[0] == pushed

    # podman push -> docker pull
    ref2 = target.ref(f"{NAMESPACE}/from-podman", "v1")
    cc.podman("tag", ref, ref2)
    digestfile = cc.base / "podman.digest"
    cc.podman("push", *target.tls_verify(), "--format", "v2s2", "--digestfile", str(digestfile), ref2)
    pushed2 = read_digestfile(digestfile)
    assert target.manifest(f"{NAMESPACE}/from-podman", "v1")[:2] == (pushed2, DOCKER_MANIFEST)
    assert docker_pull(dockerd, docker_config, ref2) == pushed2
    assert f"{target.host}/{NAMESPACE}/from-podman@{pushed2}" in docker_repo_digests(dockerd, docker_config, ref2)

    # skopeo --all (OCI index) -> docker pull and podman pull resolve linux/amd64 through the index
    repo3 = f"{NAMESPACE}/from-skopeo"
    ref3 = target.ref(repo3, "multi")
    cc.skopeo("copy", "--all", *target.tls_verify("--dest-tls-verify"), multiarch.ref, f"docker://{ref3}")
    assert target.digest(repo3, "multi") == multiarch.digest
    assert docker_pull(dockerd, docker_config, ref3) == multiarch.digest
    assert f"{target.host}/{repo3}@{multiarch.digest}" in docker_repo_digests(dockerd, docker_config, ref3)
    arch = dockerd.docker("image", "inspect", "--format", "{{.Architecture}}", ref3, config_dir=docker_config)
    assert arch.stdout.strip() == "amd64"
    cc.podman("pull", *target.tls_verify(), "--arch", "arm64", "--variant", "v8", ref3)
    info = json.loads(cc.podman("image", "inspect", ref3).stdout)[0]
    assert (info["Architecture"], info["Digest"]) == ("arm64", multiarch.digest)  # Digest: the index pulled
    arm64 = multiarch.platform_digests["linux/arm64/v8"]
    assert f"{target.host}/{repo3}@{arm64}" in info["RepoDigests"], info["RepoDigests"]
