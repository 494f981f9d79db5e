"""/v2: the OCI distribution API and the Docker token endpoint (/v2/auth)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
import time
from collections.abc import AsyncGenerator, Iterator
from typing import Any
from urllib.parse import quote

from registry_app.db.store import RepoRow
from registry_app.http import incidents
from registry_app.http.base import Blocking, ClientDisconnected, Request, Response, json_response
from registry_app.services import manifests as mf
from registry_app.services.auth import ANONYMOUS, AuthService, Identity, Scope
from registry_app.services.errors import (
    BlobUploadInvalid,
    ManifestTooLarge,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    NotFound,
    PaginationInvalid,
    RangeInvalid,
    RegistryError,
    SizeInvalid,
    Unauthorized,
)
from registry_app.services.names import check_digest, is_digest
from registry_app.services.registry import Access, AppendSession, RegistryService, storage_error
from registry_app.settings.server import ServerSettings
from registry_app.storage.base import LocalFile, Redirect, StorageError

API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")
# Upload pipeline (see _receive_into): writes go out in batches of at least WRITE_BATCH bytes;
# the receive loop waits once more than HASH_QUEUE / WRITE_QUEUE bytes wait for a lane.
WRITE_BATCH = 4 * 1024 * 1024
WRITE_QUEUE = 16 * 1024 * 1024
HASH_QUEUE = 16 * 1024 * 1024
ROUTE = re.compile(
    r"^/v2/(?P<name>.+?)/(?:"
    r"(?P<uploads>blobs/uploads/(?P<uuid>[^/]*))|"
    r"blobs/(?P<blob>[^/]+)|"
    r"manifests/(?P<ref>[^/]+)|"
    r"(?P<tags>tags/list)|"
    r"referrers/(?P<subject>[^/]+)"
    r")$"
)
# Largest page of /v2/_catalog and tags/list (distribution's default catalog maxentries).
MAX_PAGE_SIZE = 1000
CATALOG_SCOPE = "registry:catalog:*"
CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")


def _h(name: str, value: str | int) -> tuple[bytes, bytes]:
    return name.lower().encode("latin-1"), str(value).encode("latin-1")


class V2:
    def __init__(
        self,
        registry: RegistryService,
        auth: AuthService,
        blocking: Blocking,
        server: ServerSettings,
        audit: Any = None,
    ) -> None:
        self.audit = audit
        self.registry = registry
        self.auth = auth
        self.blocking = blocking
        self.hostname = server.hostname
        self.embedded = server.embedded
        self.scheme = server.scheme
        self.max_manifest = registry.max_manifest
        # Password checks that miss the cache wait here, at most one per CPU in the thread pool
        # (argon2 inside is bounded the same way): a burst of logins cannot take all its threads.
        self._password_gate = asyncio.Semaphore(auth.hash_slots)

    # -- authentication ------------------------------------------------------------------------
    def service(self, req: Request) -> str:
        """The service this request is challenged with, and tokens for which it accepts:
        SERVER_HOSTNAME, or on the embedded default the Host the client used."""
        host = req.headers.get("host") if self.embedded else None
        return host or self.hostname

    def realm(self, req: Request) -> tuple[str, str]:
        service = self.service(req)
        host = service if self.embedded else self.hostname
        return f"{self.scheme}://{host}/v2/auth", service

    def challenge(self, req: Request, exc: RegistryError) -> list[tuple[bytes, bytes]]:
        realm, service = self.realm(req)
        value = f'Bearer realm="{realm}",service="{service}"'
        scope = exc.headers.pop("x-scope", None)
        if scope:
            value += f',scope="{scope}"'
            if req.headers.get("authorization", "").lower().startswith("bearer "):
                value += ',error="insufficient_scope"'
        return [_h("WWW-Authenticate", value)]

    def identify_cached(self, req: Request, generation: int | None = None) -> Identity | None:
        """The caller if that takes no I/O (anonymous; a token or Basic credentials whose account's
        state is known), else None. ``generation``: Store.generation() if just read."""
        header = req.headers.get("authorization")
        if not header:
            return ANONYMOUS
        kind, _, cred = header.partition(" ")
        kind = kind.lower()
        if kind == "bearer":
            return self.auth.cached_token_identity(cred.strip(), self.service(req), generation)
        if kind == "basic":
            username, password = _basic(cred)
            return self.auth.cached_password_identity(username, password, req.client_ip)
        raise Unauthorized(f"unsupported authorization scheme {kind!r}")

    async def identify(self, req: Request) -> Identity:
        header = req.headers.get("authorization")
        if not header:
            return ANONYMOUS
        kind, _, cred = header.partition(" ")
        kind = kind.lower()
        if kind == "bearer":
            token, service = cred.strip(), self.service(req)
            ident = self.auth.cached_token_identity(token, service)
            if ident is None:  # the account's state has to be read
                ident = await self.blocking(self.auth.verify_token, token, service)
            return ident
        if kind == "basic":
            username, password = _basic(cred)
            return await self.password_identity(req, username, password)
        raise Unauthorized(f"unsupported authorization scheme {kind!r}")

    async def password_identity(self, req: Request, username: str, password: str) -> Identity:
        """Basic credentials: from memory when nothing changed, else re-checked in the thread pool,
        and only when that fails too verified in full (argon2), through the password gate."""
        address = req.client_ip
        ident = self.auth.cached_password_identity(username, password, address)
        if ident is None:
            ident = await self.blocking(self.auth.recheck_password, username, password, address)
        if ident is None:
            async with self._password_gate:
                ident = await self.blocking(self.auth.verify_password, username, password, address)
        return ident

    async def token(self, req: Request) -> Response:
        """GET /v2/auth?service=...&scope=...: a JWT granting what the caller may do."""
        header = req.headers.get("authorization", "")
        ident = ANONYMOUS
        if header.lower().startswith("basic "):
            username, password = _basic(header[6:])
            try:
                ident = await self.password_identity(req, username, password)
            except RegistryError:
                self._record("login_failure", req, metadata={"type": "v2auth", "username": username})
                raise
            if ident.kind == "robot":  # the robot's parent namespace is looked up in the database
                await self.blocking(self._record_login, req, ident)
            else:
                self._record_login(req, ident)
        elif header:
            raise Unauthorized("the token endpoint takes Basic credentials")
        # Clients send account= with the name they logged in with: for $app / $oauthtoken that is
        # not the account's own name. Quay ignores the parameter; we only refuse a contradiction.
        account = req.q("account")
        sent = _basic(header[6:])[0] if header.lower().startswith("basic ") else None
        if account and ident.username and account not in (ident.username, sent):
            raise Unauthorized("account does not match the credentials")
        grants = []
        for text in req.query.get("scope", []):
            for one in text.split(" "):
                scope = Scope.parse(one)
                if scope is None:
                    continue
                if scope.type == "repository":
                    granted = await self.blocking(self._grant, ident, scope)
                    grants.append(Scope("repository", scope.name, granted))
                elif scope.type == "registry" and scope.name == "catalog":
                    grants.append(Scope("registry", "catalog", ("*",) if self.auth.may_list_catalog(ident) else ()))
        token, lifetime = self.auth.issue_token(ident, grants, req.q("service"))
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return json_response(200, {"token": token, "access_token": token, "expires_in": lifetime, "issued_at": issued})

    # -- audit log ------------------------------------------------------------------------------
    def _record(
        self,
        kind: str,
        req: Request,
        *,
        ident: Identity | None = None,
        acc: Access | None = None,
        repo: RepoRow | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """One audit entry. ``record`` only appends to a buffer (no I/O), so this is safe on the
        event loop and on the pull path. Metadata never holds a credential."""
        if self.audit is None:
            return
        repo = repo if repo is not None else acc.repo if acc is not None else None
        ident = ident if ident is not None else acc.ident if acc is not None else None
        meta = dict(metadata or {})
        if repo is not None:
            meta = {"namespace": repo.namespace, "repo": repo.name, **meta}
        self.audit.record(
            kind,
            account_id=repo.namespace_id if repo is not None else None,
            performer_id=ident.user_id if ident is not None else None,
            repository_id=repo.id if repo is not None else None,
            ip=req.client_ip,
            metadata=meta,
        )

    def _record_login(self, req: Request, ident: Identity) -> None:
        """login_success for /v2/auth; the account is the user's own namespace (a robot's parent)."""
        if self.audit is None or ident.anonymous:
            return
        kind = "robot" if ident.kind == "robot" else ident.via if ident.via in ("oauth", "app") else "user"
        account_id = ident.user_id
        if ident.kind == "robot" and ident.username:
            parent = self.auth.identities.get(ident.username.split("+", 1)[0])
            account_id = parent.id if parent is not None else None
        self.audit.record(
            "login_success",
            account_id=account_id,
            performer_id=ident.user_id,
            ip=req.client_ip,
            metadata={"type": "v2auth", "kind": kind, "username": ident.username},
        )

    def _grant(self, ident: Identity, scope: Scope) -> tuple[str, ...]:
        from registry_app.services.names import split_repository

        try:
            namespace, repo_name = split_repository(scope.name)
        except NameInvalid:
            return ()
        repo = self.registry.store.get_repo(namespace, repo_name)
        ns_exists = repo is not None or self.registry.store.namespace_exists(namespace)
        return self.auth.allowed_actions(ident, namespace, repo, ns_exists, scope.actions)

    # -- routing -------------------------------------------------------------------------------
    async def handle(self, req: Request) -> Response:
        path = req.path
        if path == "/v2/" or path == "/v2":
            ident = await self.identify(req)
            if ident.anonymous and not self.auth.anonymous_push:
                raise Unauthorized("authentication required")
            return json_response(200, {})
        if path == "/v2/auth":
            return await self.token(req)
        if path == "/v2/_catalog":
            return await self.catalog(req)
        m = ROUTE.match(path)
        if m is None:
            raise NotFound(f"no such endpoint: {req.method} {path}")
        name = m.group("name")
        if "%" in name:
            raise NameInvalid(
                f"invalid repository name {name!r}: percent-encoded characters are not allowed", {"name": name}
            )
        method = req.method
        if m.group("ref") is not None:
            ref = m.group("ref")
            if method in ("GET", "HEAD"):
                return await self.get_manifest(req, name, ref)
            if method == "PUT":
                return await self.put_manifest(req, name, ref)
            if method == "DELETE":
                return await self.delete_manifest(req, name, ref)
        elif m.group("blob") is not None:
            digest = m.group("blob")
            if method in ("GET", "HEAD"):
                return await self.get_blob(req, name, digest)
            if method == "DELETE":
                acc = await self.access(req, name, "delete")
                await self.blocking(self.registry.delete_blob, acc, digest)
                return Response(202, headers=[_h("Docker-Content-Digest", digest)])
        elif m.group("uploads") is not None:
            upload_id = m.group("uuid")
            if method == "POST" and not upload_id:
                return await self.start_upload(req, name)
            if upload_id:
                if method == "GET":
                    return await self.upload_status(req, name, upload_id)
                if method == "PATCH":
                    return await self.patch_upload(req, name, upload_id)
                if method == "PUT":
                    return await self.put_upload(req, name, upload_id)
                if method == "DELETE":
                    acc = await self.access(req, name, "push")
                    await self.blocking(self.registry.cancel_upload, acc, upload_id)
                    return Response(204)
        elif m.group("tags") is not None and method in ("GET", "HEAD"):
            return await self.tags(req, name)
        elif m.group("subject") is not None and method in ("GET", "HEAD"):
            return await self.referrers(req, name, m.group("subject"))
        else:
            raise NotFound(f"no such endpoint: {req.method} {path}")
        raise MethodNotAllowed()

    async def access(self, req: Request, name: str, action: str, create: bool = False) -> Access:
        ident = await self.identify(req)
        return await self.blocking(self.registry.access, ident, name, action, create)

    # -- manifests -----------------------------------------------------------------------------
    async def get_manifest(self, req: Request, name: str, ref: str) -> Response:
        # The hot path: one change-counter read serves the token check and the manifest cache.
        generation = self.registry.store.generation()
        ident = self.identify_cached(req, generation)
        if ident is None:
            ident = await self.identify(req)
            generation = None  # time passed: read it again
        resolved = self.registry.resolve_manifest_cached(name, ref, generation)
        if resolved is None:
            resolved = await self.blocking(self.registry.resolve_manifest, name, ref)
        namespace, repo_name, repo, manifest = resolved
        self.registry.check_access(ident, name, namespace, repo_name, repo, "pull")
        if manifest is None:
            raise ManifestUnknown("manifest unknown to registry", {"name": name, "reference": ref})
        accept = _accept_list(req.headers.get("accept"))
        if not mf.accepts(accept, manifest.media_type):
            raise ManifestUnknown(
                f"the manifest is {manifest.media_type}, which is not in the request's Accept header",
                {"mediaType": manifest.media_type, "accept": accept},
            )
        headers = [
            (b"content-type", manifest.media_type.encode()),
            (b"docker-content-digest", manifest.digest.encode()),
            (b"etag", f'"{manifest.digest}"'.encode()),
        ]
        if req.method == "GET":  # clients send HEAD then GET: counting HEAD would double every pull
            pulled = (
                {"manifest_digest": manifest.digest}
                if is_digest(ref)
                else {"tag": ref, "manifest_digest": manifest.digest}
            )
            self._record("pull_repo", req, ident=ident, repo=repo, metadata=pulled)
        return Response(200, manifest.content, headers)

    async def put_manifest(self, req: Request, name: str, ref: str) -> Response:
        acc = await self.access(req, name, "push", create=True)
        length = req.content_length()
        if length is not None and length > self.max_manifest:
            raise ManifestTooLarge(f"manifest is {length} bytes; the limit is {self.max_manifest}")
        try:
            body = await req.body(self.max_manifest)
        except OverflowError:
            raise ManifestTooLarge(f"manifest is larger than the limit of {self.max_manifest} bytes") from None
        extra_tags = req.query.get("tag", []) if is_digest(ref) else []
        digest, subject = await self.blocking(
            self.registry.put_manifest, acc, ref, body, req.headers.get("content-type"), extra_tags
        )
        tags = extra_tags if is_digest(ref) else [ref]
        pushed: dict[str, Any] = {"manifest_digest": digest}
        if len(tags) == 1:
            pushed["tag"] = tags[0]
        elif tags:
            pushed["tags"] = tags
        self._record("push_repo", req, acc=acc, metadata=pushed)
        headers = [_h("Location", f"/v2/{name}/manifests/{digest}"), _h("Docker-Content-Digest", digest)]
        headers += [_h("OCI-Tag", tag) for tag in extra_tags]
        if subject:
            headers.append(_h("OCI-Subject", subject))
        return Response(201, b"", headers)

    async def delete_manifest(self, req: Request, name: str, ref: str) -> Response:
        acc = await self.access(req, name, "delete")
        await self.blocking(self.registry.delete_manifest, acc, ref)
        deleted = {"manifest_digest": ref} if is_digest(ref) else {"tag": ref}
        self._record("delete_tag", req, acc=acc, metadata=deleted)
        return Response(202)

    async def tags(self, req: Request, name: str) -> Response:
        acc = await self.access(req, name, "pull")
        n = _int_param(req.q("n"), "n")
        last = req.q("last")
        tags, more = await self.blocking(self.registry.list_tags, acc, n, last)
        headers = []
        if more and tags:
            headers.append(_h("Link", f'</v2/{name}/tags/list?n={n}&last={quote(tags[-1])}>; rel="next"'))
        return json_response(200, {"name": name, "tags": tags}, headers)

    async def referrers(self, req: Request, name: str, subject: str) -> Response:
        artifact_type = req.q("artifactType")
        try:
            acc = await self.access(req, name, "pull")
        except NameUnknown:
            # The spec: a registry that supports referrers answers with an empty index, never 404,
            # when nothing refers to the digest (here: the repository has no content yet).
            check_digest(subject)
            acc = None
        body = await self.blocking(self.registry.referrers, acc, subject, artifact_type)
        headers = [(b"content-type", mf.OCI_INDEX.encode())]
        if artifact_type:
            headers.append(_h("OCI-Filters-Applied", "artifactType"))
        return Response(200, body, headers)

    async def catalog(self, req: Request) -> Response:
        """Challenged as distribution does with token auth (scope registry:catalog:*): clients such
        as oras and regctl send credentials only after a 401."""
        ident = await self.identify(req)
        if not self.auth.may_list_catalog(ident):
            raise Unauthorized("authentication required to list repositories", headers={"x-scope": CATALOG_SCOPE})
        n = _int_param(req.q("n"), "n")
        repos, more = await self.blocking(self.registry.catalog, ident, n, req.q("last"))
        headers = []
        if more and repos:
            headers.append(_h("Link", f'</v2/_catalog?n={n}&last={quote(repos[-1])}>; rel="next"'))
        return json_response(200, {"repositories": repos}, headers)

    # -- blobs ---------------------------------------------------------------------------------
    async def get_blob(self, req: Request, name: str, digest: str) -> Response:
        acc = await self.access(req, name, "pull")
        size, location = await self.blocking(self.registry.blob, acc, digest)
        base = [
            (b"content-type", b"application/octet-stream"),
            _h("Docker-Content-Digest", digest),
            (b"accept-ranges", b"bytes"),
            _h("ETag", f'"{digest}"'),
        ]
        if isinstance(location, Redirect):
            # HEAD is answered here, as Quay does: a presigned URL is signed for GET only.
            if req.method == "HEAD":
                return Response(200, b"", [*base, _h("Content-Length", size)])
            return Response(307, headers=[_h("Location", location.url), _h("Docker-Content-Digest", digest)])
        rng = _parse_range(req.headers.get("range"), size)
        if rng is None and isinstance(location, LocalFile):
            return Response(200, headers=[*base, _h("Content-Length", size)], path=location.path)
        status, (start, end) = (200, (0, size - 1)) if rng is None else (206, rng)
        length = end - start + 1
        headers = [*base, _h("Content-Length", length)]
        if rng is not None:
            headers.append(_h("Content-Range", f"bytes {start}-{end}/{size}"))
        if req.method == "HEAD" or length <= 0:
            return Response(status, b"", headers)
        # pathsend takes whole files only: a range, or a blob the storage streams (Streamed), is
        # sent in the storage's reads (512 KiB), each read in the pool once the server took the
        # previous one (see send_stream). The first read happens before the head is sent, so a
        # blob that cannot be read still gets an error response; after that a storage failure can
        # only cut the response short.
        chunks = self.registry.read_blob_range(digest, start, length)
        try:
            first = await self.blocking(next, chunks, None)
        except StorageError as exc:
            raise storage_error(exc) from None
        return Response(status, headers=headers, stream=self._read_in_pool(chunks, first))

    async def _read_in_pool(self, chunks: Iterator[bytes], first: bytes | None) -> AsyncGenerator[bytes, None]:
        """``first``, then a blocking iterator read one item at a time in the pool; closed (its
        file too) at the end."""
        chunk = first
        try:
            while chunk is not None:
                yield chunk
                try:
                    chunk = await self.blocking(next, chunks, None)
                except StorageError as exc:  # the head is sent: the client sees a short body
                    incidents.log_incident("a range response was cut short by the storage", exc.detail)
                    return
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                with contextlib.suppress(ValueError):  # still running in a pool thread after a cancel
                    close()

    def _upload_headers(self, name: str, upload_id: str, size: int) -> list[tuple[bytes, bytes]]:
        return [
            _h("Location", f"/v2/{name}/blobs/uploads/{upload_id}"),
            _h("Range", f"0-{max(size - 1, 0)}"),
            _h("Docker-Upload-UUID", upload_id),
        ]

    async def start_upload(self, req: Request, name: str) -> Response:
        acc = await self.access(req, name, "push", create=True)
        mount = req.q("mount")
        if mount is not None:
            source = req.q("from")
            if await self.blocking(self.registry.mount, acc, mount, source):
                return Response(
                    201, headers=[_h("Location", f"/v2/{name}/blobs/{mount}"), _h("Docker-Content-Digest", mount)]
                )
        digest = req.q("digest")
        algorithm = check_digest(digest) if digest else "sha256"
        upload_id = await self.blocking(self.registry.start_upload, acc, algorithm)
        if digest is not None:  # monolithic: POST ?digest= with the whole blob as body
            session = await self.blocking(self.registry.open_append, acc, upload_id, None)
            await self._receive_into(req, session)
            await self.blocking(self.registry.complete_upload, acc, upload_id, digest)
            return Response(
                201, headers=[_h("Location", f"/v2/{name}/blobs/{digest}"), _h("Docker-Content-Digest", digest)]
            )
        return Response(202, headers=self._upload_headers(name, upload_id, 0))

    async def upload_status(self, req: Request, name: str, upload_id: str) -> Response:
        acc = await self.access(req, name, "push")
        size = await self.blocking(self.registry.upload_size, acc, upload_id)
        return Response(204, headers=self._upload_headers(name, upload_id, size))

    async def patch_upload(self, req: Request, name: str, upload_id: str) -> Response:
        acc = await self.access(req, name, "push")
        content_range = _content_range(req.headers.get("content-range"), req.content_length())
        session = await self.blocking(self.registry.open_append, acc, upload_id, content_range)
        size = await self._receive_into(req, session)
        return Response(202, headers=self._upload_headers(name, upload_id, size))

    async def put_upload(self, req: Request, name: str, upload_id: str) -> Response:
        acc = await self.access(req, name, "push")
        digest = req.q("digest")
        if not digest:
            raise BlobUploadInvalid("the final PUT of an upload needs ?digest=")
        content_range = _content_range(req.headers.get("content-range"), req.content_length())
        if req.content_length() != 0 or content_range is not None:  # the last chunk comes with the PUT
            session = await self.blocking(self.registry.open_append, acc, upload_id, content_range)
            await self._receive_into(req, session)
        await self.blocking(self.registry.complete_upload, acc, upload_id, digest)
        return Response(
            201, headers=[_h("Location", f"/v2/{name}/blobs/{digest}"), _h("Docker-Content-Digest", digest)]
        )

    async def _receive_into(self, req: Request, session: AppendSession) -> int:
        """Stream the request body into the upload. The upload's hashing thread (HashPipe) and a
        write lane run beside the event loop (OpenSSL and writev release the GIL), so receiving,
        hashing and writing overlap on separate cores. Buffers are never joined or copied between
        the ASGI receive and writev. Returns once the bytes are durable and the size recorded;
        hashing may still be catching up. A disconnect or short body drops the partial bytes."""
        expected = req.content_length()
        received = 0
        writing = _Lane(self.blocking, session.write_chunks, WRITE_BATCH, WRITE_QUEUE)
        ok = False
        try:
            while True:
                msg = await req.receive()
                if msg["type"] == "http.disconnect":
                    raise ClientDisconnected()
                chunk = msg.get("body", b"")
                if chunk:
                    received += len(chunk)
                    if session.feed_hash(chunk) > HASH_QUEUE:  # hashing is behind: wait for it
                        await self.blocking(session.wait_hash, HASH_QUEUE // 2)
                    await writing.feed(chunk)
                if not msg.get("more_body", False):
                    break
            if expected is not None and received != expected:
                raise SizeInvalid(f"received {received} bytes but Content-Length said {expected}; nothing was stored")
            await writing.drain()
            size = await self.blocking(self.registry.finish_append, session)
            ok = True
            return size
        finally:
            if not ok:
                await writing.settle()
                await self.blocking(self.registry.abort_append, session)


class _Lane:
    """Feeds buffers, in order, to ``fn(list_of_buffers)`` in a worker thread, one call at a time.

    Buffers that arrive while a call runs become the next call's batch, so a fast producer makes
    big batches and a slow one small ones. ``feed`` waits for the running call only when more than
    ``max_queued`` bytes are waiting (backpressure on the receive loop); otherwise a new call starts
    once ``min_batch`` bytes are waiting and the previous call is done.
    """

    __slots__ = ("batch", "blocking", "fn", "max_queued", "min_batch", "pending", "queued")

    def __init__(self, blocking: Blocking, fn: Any, min_batch: int, max_queued: int) -> None:
        self.blocking = blocking
        self.fn = fn
        self.min_batch = min_batch
        self.max_queued = max_queued
        self.batch: list[bytes] = []
        self.queued = 0
        self.pending: asyncio.Future[Any] | None = None

    def _start(self) -> None:
        batch, self.batch, self.queued = self.batch, [], 0
        self.pending = asyncio.ensure_future(self.blocking(self.fn, batch))

    async def feed(self, chunk: bytes) -> None:
        self.batch.append(chunk)
        self.queued += len(chunk)
        if self.pending is not None:
            if self.pending.done():
                pending, self.pending = self.pending, None
                pending.result()  # a failed call ends the upload here
            elif self.queued >= self.max_queued:
                pending, self.pending = self.pending, None
                await pending
        if self.pending is None and self.queued >= self.min_batch:
            self._start()

    async def drain(self) -> None:
        """Wait until every buffer fed so far has been handed to ``fn``, and the call returned."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await pending
        if self.batch:
            self._start()
            assert self.pending is not None
            pending, self.pending = self.pending, None
            await pending

    async def settle(self) -> None:
        """After a failure: wait for the running call (so nothing writes after the abort)."""
        self.batch = []
        if self.pending is not None:
            pending, self.pending = self.pending, None
            try:
                await pending
            except Exception:  # noqa: S110 - the original error is what matters
                pass


class MethodNotAllowed(RegistryError):
    code = "UNSUPPORTED"
    status = 405

    def __init__(self) -> None:
        super().__init__("method not allowed on this endpoint")


def _basic(cred: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(cred.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise Unauthorized("malformed Basic credentials")
    return username, password


def _accept_list(header: str | None) -> list[str]:
    if not header:
        return []
    return [part.split(";", 1)[0].strip().lower() for part in header.split(",") if part.strip()]


def _int_param(value: str | None, name: str, most: int = MAX_PAGE_SIZE) -> int | None:
    """A page size: None when absent, 400 PAGINATION_NUMBER_INVALID when not a non-negative
    integer, and at most ``most`` (a larger request gets that many and a Link to the rest, as
    Quay clamps ``n`` to its page size; the spec lets a registry return fewer than ``n``)."""
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        raise PaginationInvalid(f"query parameter {name} must be an integer") from None
    if n < 0:
        raise PaginationInvalid(f"query parameter {name} must not be negative")
    return min(n, most)


def _content_range(header: str | None, length: int | None) -> tuple[int, int] | None:
    if not header:
        return None
    m = CONTENT_RANGE.match(header.strip())
    if not m:
        raise RangeInvalid(f"malformed Content-Range {header!r}; expected START-END")
    start, end = int(m.group(1)), int(m.group(2))
    if end < start or (length is not None and length != end - start + 1):
        raise RangeInvalid(f"Content-Range {header!r} does not match Content-Length {length}")
    return start, end


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    spec = header[6:].strip()
    first, sep, last = spec.partition("-")
    if not sep:
        return None
    try:
        if first == "":
            n = int(last)
            if n == 0:
                raise RangeNotSatisfiable(size)
            start, end = max(size - n, 0), size - 1
        else:
            start = int(first)
            end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        raise RangeNotSatisfiable(size)
    return start, min(end, size - 1)


class RangeNotSatisfiable(RegistryError):
    code = "BLOB_UNKNOWN"
    status = 416

    def __init__(self, size: int) -> None:
        super().__init__("requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
