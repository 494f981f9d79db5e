"""An OpenID Connect relying party's client: discovery, the token endpoint, the ID token's
signature (JWKS) and claims, and the userinfo endpoint. Standard library HTTP (urllib) with an
SSL context the caller gives (the system's CAs plus the bundle's ``extra_ca_certs/``), PyJWT for
the tokens. Imports nothing of registry_app."""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
CLOCK_SKEW_S = 30
DISCOVERY_TTL_S = 3600
TIMEOUT_S = 10.0
MAX_RESPONSE = 1024 * 1024


class OidcError(Exception):
    """The provider could not be used or its answer was not acceptable. The message names no secret."""


@dataclass(frozen=True)
class Tokens:
    id_token: str
    access_token: str


class OidcClient:
    def __init__(self, server: str, client_id: str, client_secret: str | None, context: ssl.SSLContext | None) -> None:
        self.server = server.rstrip("/") + "/"
        self.client_id = client_id
        self.client_secret = client_secret
        self.context = context
        self._lock = threading.Lock()
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._jwks: jwt.PyJWKClient | None = None

    # -- HTTP ------------------------------------------------------------------------------------
    @staticmethod
    def _https(url: str, what: str) -> str:
        """Only https URLs are fetched (discovery names the others: never file: or plain http)."""
        if urllib.parse.urlsplit(url).scheme != "https":
            raise OidcError(f"{what} is not an https:// URL")
        return url

    def _request(self, req: urllib.request.Request, what: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S, context=self.context) as resp:  # noqa: S310
                body = resp.read(MAX_RESPONSE + 1)
        except urllib.error.HTTPError as exc:
            detail = ""
            try:
                answer = json.loads(exc.read(4096))
                detail = f": {answer.get('error')}" if isinstance(answer, dict) and answer.get("error") else ""
            except ValueError:
                pass
            raise OidcError(f"{what} answered {exc.code}{detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OidcError(f"{what} could not be reached ({reason})") from None
        if len(body) > MAX_RESPONSE:
            raise OidcError(f"{what} answered more than {MAX_RESPONSE} bytes")
        try:
            data = json.loads(body)
        except ValueError:
            raise OidcError(f"{what} did not answer JSON") from None
        if not isinstance(data, dict):
            raise OidcError(f"{what} did not answer a JSON object")
        return data

    def discovery(self) -> dict[str, Any]:
        """``.well-known/openid-configuration``, kept for an hour."""
        with self._lock:
            if self._discovery is not None and self._discovery[0] > time.monotonic():
                return self._discovery[1]
        url = urllib.parse.urljoin(self.server, ".well-known/openid-configuration")
        req = urllib.request.Request(self._https(url, "OIDC discovery"), headers={"Accept": "application/json"})  # noqa: S310
        data = self._request(req, "OIDC discovery")
        for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(key), str):
                raise OidcError(f"OIDC discovery has no {key}")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            self._https(data[key], f"discovery's {key}")
        with self._lock:
            self._discovery = (time.monotonic() + DISCOVERY_TTL_S, data)
            self._jwks = jwt.PyJWKClient(data["jwks_uri"], ssl_context=self.context, timeout=TIMEOUT_S)
        return data

    # -- the authorization code flow ---------------------------------------------------------------
    def authorization_url(
        self, redirect_uri: str, scopes: list[str], state: str, nonce: str, extra: dict[str, str]
    ) -> str:
        endpoint = self.discovery()["authorization_endpoint"]
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
            "state": state,
            "nonce": nonce,
            **extra,
        }
        sep = "&" if urllib.parse.urlsplit(endpoint).query else "?"
        return f"{endpoint}{sep}{urllib.parse.urlencode(params)}"

    def exchange(self, code: str, redirect_uri: str, code_verifier: str | None) -> Tokens:
        """The code for tokens (client_secret_post, as Quay sends them)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
        }
        if self.client_secret:
            form["client_secret"] = self.client_secret
        if code_verifier:
            form["code_verifier"] = code_verifier
        req = urllib.request.Request(  # noqa: S310 (https only)
            self._https(self.discovery()["token_endpoint"], "the token endpoint"),
            data=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            method="POST",
        )
        data = self._request(req, "the OIDC token endpoint")
        id_token, access_token = data.get("id_token"), data.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise OidcError("the OIDC token endpoint gave no id_token and access_token")
        return Tokens(id_token, access_token)

    def verify_id_token(self, token: str, nonce: str, issuer: str | None = None) -> dict[str, Any]:
        """The ID token's claims: signed by a key of the provider's JWKS, issued by the provider
        (or ``issuer``), for this client, not expired, with our nonce."""
        expected_issuer = issuer or self.discovery()["issuer"]
        assert self._jwks is not None
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.client_id,
                issuer=expected_issuer,
                leeway=CLOCK_SKEW_S,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise OidcError(f"the ID token is not acceptable ({exc})") from None
        if claims.get("nonce") != nonce:
            raise OidcError("the ID token's nonce is not the one this sign-in sent")
        return claims

    def userinfo(self, access_token: str) -> dict[str, Any]:
        endpoint = self.discovery().get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            return {}
        req = urllib.request.Request(  # noqa: S310 (https only)
            self._https(endpoint, "the userinfo endpoint"),
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        return self._request(req, "the OIDC userinfo endpoint")
