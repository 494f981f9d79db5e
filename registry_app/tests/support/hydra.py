"""A real OpenID Connect provider for the web UI's sign-in tests: ory/hydra v2 (built from source
by scripts/build-go-tools; ``HYDRA_BIN`` overrides), serving HTTPS with a certificate from the
test CA and an in-memory database.

Hydra does the whole of OAuth 2.0 and OpenID Connect (discovery, authorization, tokens, ID tokens
signed with its JWKS, userinfo, PKCE) and leaves the login and consent screens to an application
of the deployer's: ``LoginApp`` is that application here, a small HTTP server on loopback that
shows a username/password form, checks it against its ``people`` and accepts the login and the
consent through hydra's admin API, putting ``preferred_username``/``email`` in the ID token.
"""

from __future__ import annotations

import html
import os
import secrets
import shutil
import ssl
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import free_port
from tests.support.tls import CertificateAuthority, make_server_cert


def hydra_binary() -> str | None:
    explicit = os.environ.get("HYDRA_BIN")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    cached = Path(os.environ.get("QUAY_CI_CACHE", "/var/cache/quay-registry-ci")) / "go" / "bin" / "hydra"
    if os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which("hydra")


@dataclass(frozen=True)
class Person:
    password: str
    subject: str
    claims: dict[str, Any]  # what goes into the ID token (preferred_username, email, ...)


@dataclass
class LoginApp:
    """Hydra's login and consent application (plain HTTP on loopback)."""

    admin_url: str
    context: ssl.SSLContext
    people: dict[str, Person] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = httpx.request(method, f"{self.admin_url}{path}", json=body, verify=self.context, timeout=30)
        resp.raise_for_status()
        return dict(resp.json())

    def start(self) -> LoginApp:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def redirect(self, to: str) -> None:
                self.send_response(302)
                self.send_header("Location", to)
                self.end_headers()

            def page(self, body: str, status: int = 200) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                if url.path == "/login":
                    challenge = query["login_challenge"][0]
                    self.page(
                        "<!doctype html><html lang=en><title>Test IdP</title><main><h1>Test IdP sign-in</h1>"
                        '<form method="post" action="/login">'
                        f'<input type="hidden" name="challenge" value="{html.escape(challenge)}">'
                        '<label>Username <input name="username"></label>'
                        '<label>Password <input name="password" type="password"></label>'
                        '<button type="submit">Log in</button>'
                        '<button type="submit" name="deny" value="1">Deny</button></form></main></html>'
                    )
                elif url.path == "/consent":
                    challenge = query["consent_challenge"][0]
                    q = urllib.parse.urlencode({"consent_challenge": challenge})
                    request = app.admin("GET", f"/admin/oauth2/auth/requests/consent?{q}")
                    person = next(p for p in app.people.values() if p.subject == request["subject"])
                    accepted = app.admin(
                        "PUT",
                        f"/admin/oauth2/auth/requests/consent/accept?{q}",
                        {
                            "grant_scope": request["requested_scope"],
                            "grant_access_token_audience": request["requested_access_token_audience"],
                            "session": {"id_token": person.claims, "access_token": {}},
                        },
                    )
                    self.redirect(accepted["redirect_to"])
                else:
                    self.page("not found", 404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                challenge = form["challenge"][0]
                q = urllib.parse.urlencode({"login_challenge": challenge})
                if form.get("deny"):
                    rejected = app.admin(
                        "PUT",
                        f"/admin/oauth2/auth/requests/login/reject?{q}",
                        {"error": "access_denied", "error_description": "The person declined"},
                    )
                    self.redirect(rejected["redirect_to"])
                    return
                person = app.people.get(form.get("username", [""])[0])
                if person is None or not secrets.compare_digest(person.password, form.get("password", [""])[0]):
                    self.page("<!doctype html><html lang=en><title>Test IdP</title><p>Wrong password</p></html>", 403)
                    return
                accepted = app.admin(
                    "PUT",
                    f"/admin/oauth2/auth/requests/login/accept?{q}",
                    {"subject": person.subject, "remember": False},
                )
                self.redirect(accepted["redirect_to"])

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="test-idp-login").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class Hydra:
    """``hydra serve all`` on two loopback HTTPS ports (public, admin), in-memory database."""

    binary: str
    workdir: Path
    ca: CertificateAuthority
    login_url: str  # the LoginApp's base URL
    public_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"https://127.0.0.1:{self.public_port}/"

    @property
    def admin_url(self) -> str:
        return f"https://127.0.0.1:{self.admin_port}"

    @property
    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca.cert_path))

    def start(self, timeout: float = 120) -> Hydra:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cert, key = self.workdir / "tls.crt", self.workdir / "tls.key"
        make_server_cert(self.ca, cert, key, ["127.0.0.1", "localhost"])
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "DSN": "memory",
            "SECRETS_SYSTEM": secrets.token_urlsafe(32),
            "URLS_SELF_ISSUER": self.issuer,
            "URLS_LOGIN": f"{self.login_url}/login",
            "URLS_CONSENT": f"{self.login_url}/consent",
            "SERVE_PUBLIC_HOST": "127.0.0.1",
            "SERVE_PUBLIC_PORT": str(self.public_port),
            "SERVE_ADMIN_HOST": "127.0.0.1",
            "SERVE_ADMIN_PORT": str(self.admin_port),
            "SERVE_TLS_ENABLED": "true",
            "SERVE_TLS_CERT_PATH": str(cert),
            "SERVE_TLS_KEY_PATH": str(key),
            "LOG_LEVEL": "warn",
            "OIDC_SUBJECT_IDENTIFIERS_SUPPORTED_TYPES": "public",
        }
        log = open(self.workdir / "hydra.log", "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "all"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hydra exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.admin_url}/health/ready", verify=self.context, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"hydra did not become ready in {timeout}s:\n{self.log()}")

    def create_client(self, client_id: str, secret: str, redirect_uri: str) -> None:
        """A confidential client for ``redirect_uri`` (secret sent in the form, as Quay does)."""
        body = {
            "client_id": client_id,
            "client_secret": secret,
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "scope": "openid profile email",
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "client_secret_post",
        }
        resp = httpx.post(f"{self.admin_url}/admin/clients", json=body, verify=self.context, timeout=30)
        assert resp.status_code == 201, resp.text

    def log(self) -> str:
        path = self.workdir / "hydra.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
