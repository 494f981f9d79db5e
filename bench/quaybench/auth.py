"""Bearer tokens: self-issued RS256 JWTs for distribution, /v2/auth tokens for registry_app."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import uuid
from pathlib import Path
from urllib.parse import urlencode, urljoin

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .util import BenchError, request

TOKEN_LIFETIME_S = 3600


def libtrust_key_id(public_key) -> str:
    """The key id distribution's token verifier computes for a trusted root key (libtrust format).

    base32 of the first 30 bytes of sha256(DER SubjectPublicKeyInfo), in 4-character groups.
    """
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


def jwk_thumbprint(public_key) -> str:
    """The key id distribution 3.x computes for a trusted root key: the RFC 7638 JWK thumbprint.

    3.x dropped libtrust; `GetJWKThumbprint` (registry/auth/token/util.go) hashes the canonical
    JSON of the RSA key's e and n with SHA-256, base64url without padding.
    """
    numbers = public_key.public_numbers()

    def b64(n: int) -> str:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    canonical = f'{{"e":"{b64(numbers.e)}","kty":"RSA","n":"{b64(numbers.n)}"}}'
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")


class DistributionTokenIssuer:
    """Plays the token server for distribution's `auth: token` (the realm is never called).

    `kid_format` is "libtrust" for 2.8 and "jwk" for 3.x: each looks the signing key up in
    `rootcertbundle` by its own form of key id.
    """

    issuer = "quay-bench-issuer"
    service = "quay-bench-distribution"

    def __init__(self, directory: Path, kid_format: str = "libtrust") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "quay-bench token signer")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = directory / "token-signer.crt"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if kid_format == "libtrust":
            self.kid = libtrust_key_id(self.key.public_key())
        elif kid_format == "jwk":
            self.kid = jwk_thumbprint(self.key.public_key())
        else:
            raise ValueError(f"unknown kid format {kid_format!r}")
        self._pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def token(self, repos: list[str], actions: tuple[str, ...] = ("pull", "push"),
              subject: str = "bench") -> str:
        now = int(dt.datetime.now(dt.UTC).timestamp())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + TOKEN_LIFETIME_S,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": [{"type": "repository", "name": r, "actions": list(actions)} for r in repos],
        }
        return jwt.encode(claims, self._pem, algorithm="RS256", headers={"kid": self.kid})


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_bearer_challenge(value: str) -> dict[str, str]:
    if not value.lower().startswith("bearer "):
        raise BenchError(f"expected a Bearer challenge, got {value!r}")
    return dict(_CHALLENGE_PARAM.findall(value))


class RegistryAppTokens:
    """Fetches tokens the way docker/podman do: 401 challenge on /v2/, then GET realm with basic auth."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.basic = basic_header(username, password)
        resp = request("GET", f"{base_url}/v2/")
        if resp.status != 401:
            raise BenchError(f"registry_app GET /v2/ without credentials: expected 401, got {resp.status}")
        challenge = parse_bearer_challenge(resp.header("WWW-Authenticate"))
        if "realm" not in challenge:
            raise BenchError(f"registry_app challenge has no realm: {challenge}")
        self.realm = urljoin(base_url + "/", challenge["realm"])
        self.service = challenge.get("service", "")

    def auth_url(self, repos: list[str], actions: tuple[str, ...] = ("pull", "push")) -> str:
        """The realm URL a client asks for a token with these scopes (as docker/podman build it)."""
        params = [("service", self.service)] + [
            ("scope", f"repository:{r}:{','.join(actions)}") for r in repos
        ]
        sep = "&" if "?" in self.realm else "?"
        return f"{self.realm}{sep}{urlencode(params)}"

    def token(self, repos: list[str], actions: tuple[str, ...] = ("pull", "push")) -> str:
        resp = request("GET", self.auth_url(repos, actions), headers={"Authorization": self.basic})
        if resp.status != 200:
            raise BenchError(f"registry_app token endpoint: {resp.status} {resp.body[:300]!r}")
        doc = json.loads(resp.body)
        tok = doc.get("token") or doc.get("access_token")
        if not tok:
            raise BenchError(f"registry_app token endpoint returned no token: {doc}")
        return str(tok)
