"""Sign-in through OpenID Connect providers, configured as Quay does: every ``{NAME}_LOGIN_CONFIG``
with an ``OIDC_SERVER`` is a provider whose service id is ``name`` in lower case (``KEYCLOAK_LOGIN_CONFIG``
-> ``keycloak``, callback ``/oauth2/keycloak/callback``).

The authorization code flow with a ``state`` (CSRF), a ``nonce`` (replay) and, with
``USE_PKCE``, a PKCE verifier. Between the start and the callback these live in a short-lived
token the browser keeps (HS256, keyed from SECRET_KEY; the HTTP layer puts it in an HttpOnly
cookie), so any app host can finish a sign-in another started. A provider's ``sub`` is linked to
one account (table ``external_login``); on the first sign-in the account is created (with
FEATURE_USER_CREATION, as Quay) with a name made from the ``preferred_username`` claim (or
``PREFERRED_USERNAME_CLAIM_NAME``), the e-mail claim, and no password: such a user signs in with
the provider and uses app-specific or API tokens (``$app``, ``$oauthtoken``) for registry clients.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import jwt

from registry_app.clients.oidc import OidcClient, OidcError
from registry_app.settings.web import CONFIG_SUFFIX, oidc_config_keys

FLOW_LIFETIME_S = 600
NAME_MAX = 255
USERNAME_SEPARATORS = re.compile(r"[._-]+")


class ExternalLoginError(Exception):
    """A sign-in that cannot complete; the message is safe to show to the person signing in."""


class Account(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def enabled(self) -> bool: ...


A = TypeVar("A", bound=Account)


class LinkStore(Protocol):
    def user_id(self, service_id: str, subject: str) -> int | None: ...
    def link(self, service_id: str, subject: str, user_id: int, now_ms: int) -> bool: ...


@dataclass(frozen=True)
class Accounts(Generic[A]):
    """What the service needs of accounts: find by id, is a name taken, create (name, e-mail)."""

    by_id: Callable[[int], A | None]
    taken: Callable[[str], bool]
    create: Callable[[str, str | None], A]


@dataclass(frozen=True)
class Provider:
    service_id: str
    title: str
    client: OidcClient
    scopes: tuple[str, ...]
    pkce_method: str | None  # "S256", "plain" or None
    username_claim: str = "preferred_username"
    verified_email_claim: str | None = None
    issuer: str | None = None
    use_userinfo: bool = True
    icon: str | None = None


@dataclass(frozen=True)
class Started:
    auth_url: str
    flow: str  # the token the browser keeps until the callback


def ssl_context(config_dir: Path | None) -> ssl.SSLContext:
    """The system's CAs plus the bundle's ``extra_ca_certs/*.crt|*.pem`` (Quay's place for them)."""
    context = ssl.create_default_context()
    extra = config_dir / "extra_ca_certs" if config_dir is not None else None
    if extra is not None and extra.is_dir():
        for path in sorted(extra.iterdir()):
            if path.suffix in (".crt", ".pem") and path.is_file():
                context.load_verify_locations(cafile=str(path))
    return context


def providers_from(values: Mapping[str, Mapping[str, Any]], context: ssl.SSLContext | None) -> list[Provider]:
    out = []
    for key in oidc_config_keys(values):
        entry = values[key]
        service_id = key[: -len(CONFIG_SUFFIX)].lower()
        pkce = str(entry.get("PKCE_METHOD") or "S256") if entry.get("USE_PKCE") else None
        client = OidcClient(
            entry["OIDC_SERVER"],
            str(entry["CLIENT_ID"]),
            None if entry.get("PUBLIC_CLIENT") else str(entry.get("CLIENT_SECRET") or ""),
            context,
        )
        scopes = entry.get("LOGIN_SCOPES") or ["openid", "profile", "email"]
        out.append(
            Provider(
                service_id=service_id,
                title=str(entry.get("SERVICE_NAME") or service_id),
                client=client,
                scopes=tuple(dict.fromkeys(["openid", *scopes])),
                pkce_method=pkce,
                username_claim=str(entry.get("PREFERRED_USERNAME_CLAIM_NAME") or "preferred_username"),
                verified_email_claim=entry.get("VERIFIED_EMAIL_CLAIM_NAME"),
                issuer=entry.get("OIDC_ISSUER"),
                use_userinfo=not entry.get("OIDC_DISABLE_USER_ENDPOINT", False),
                icon=entry.get("SERVICE_ICON"),
            )
        )
    return out


def username_from(claim: str) -> str:
    """A namespace-valid user name from a claim: lower case, runs of anything else than letters
    and digits as one separator, none at the ends (``John.Doe@Corp`` -> ``john.doe-corp``)."""
    text = re.sub(r"[^a-z0-9._-]+", "-", claim.strip().lower())
    text = USERNAME_SEPARATORS.sub(lambda m: m.group(0)[0], text).strip("._-")
    text = text[:NAME_MAX].strip("._-")
    return text if len(text) >= 2 else ""


@dataclass
class ExternalLoginService(Generic[A]):
    providers: list[Provider]
    links: LinkStore
    accounts: Accounts[A]
    secret_key: str
    external_url: str  # PREFERRED_URL_SCHEME://SERVER_HOSTNAME
    user_creation: bool
    clock: Callable[[], float] = time.time
    _key: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._key = hashlib.sha256(b"registry-app oidc flow v1\0" + self.secret_key.encode()).digest()

    def provider(self, service_id: str) -> Provider:
        for p in self.providers:
            if p.service_id == service_id:
                return p
        raise ExternalLoginError(f"no sign-in service {service_id!r}")

    def public(self) -> list[dict[str, Any]]:
        """Quay's ``external_login`` list in /config."""
        return [
            {"id": p.service_id, "title": p.title, "icon": p.icon, "config": {"OIDC": True}} for p in self.providers
        ]

    def redirect_uri(self, service_id: str) -> str:
        return f"{self.external_url}/oauth2/{service_id}/callback"

    def begin(self, service_id: str) -> Started:
        provider = self.provider(service_id)
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        extra: dict[str, str] = {}
        verifier = None
        if provider.pkce_method:
            verifier = secrets.token_urlsafe(48)
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                if provider.pkce_method == "S256"
                else verifier
            )
            extra = {"code_challenge": challenge, "code_challenge_method": provider.pkce_method}
        try:
            url = provider.client.authorization_url(
                self.redirect_uri(service_id), list(provider.scopes), state, nonce, extra
            )
        except OidcError as exc:
            raise ExternalLoginError(f"{provider.title} cannot be used now: {exc}") from None
        now = int(self.clock())
        claims = {"svc": service_id, "state": state, "nonce": nonce, "iat": now, "exp": now + FLOW_LIFETIME_S}
        if verifier:
            claims["pkce"] = verifier
        return Started(url, jwt.encode(claims, self._key, algorithm="HS256"))

    def finish(self, service_id: str, flow: str | None, code: str | None, state: str | None, error: str | None) -> A:
        """The account the provider's answer names (created on first sign-in), or ExternalLoginError."""
        provider = self.provider(service_id)
        if error:
            raise ExternalLoginError(f"{provider.title} refused the sign-in ({error[:100]})")
        try:
            claims = jwt.decode(
                flow or "",
                self._key,
                algorithms=["HS256"],
                options={"require": ["svc", "state", "nonce", "exp"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise ExternalLoginError(
                "this sign-in was not started here, or it was started in another browser"
            ) from None
        if claims["exp"] <= self.clock():
            raise ExternalLoginError("this sign-in took too long; start again")
        if claims["svc"] != service_id or not state or not secrets.compare_digest(str(claims["state"]), state):
            raise ExternalLoginError("the sign-in's state does not match (start again)")
        if not code:
            raise ExternalLoginError(f"{provider.title} sent no authorization code")
        try:
            tokens = provider.client.exchange(code, self.redirect_uri(service_id), claims.get("pkce"))
            identity = provider.client.verify_id_token(tokens.id_token, str(claims["nonce"]), provider.issuer)
            info = provider.client.userinfo(tokens.access_token) if provider.use_userinfo else {}
        except OidcError as exc:
            raise ExternalLoginError(f"signing in with {provider.title} failed: {exc}") from None
        if info and info.get("sub") not in (None, identity["sub"]):
            raise ExternalLoginError(f"{provider.title}'s user information is about someone else")
        return self._account(provider, str(identity["sub"]), {**identity, **info})

    def _account(self, provider: Provider, subject: str, claims: dict[str, Any]) -> A:
        user_id = self.links.user_id(provider.service_id, subject)
        if user_id is not None:
            account = self.accounts.by_id(user_id)
            if account is None or not account.enabled:
                raise ExternalLoginError("this account is disabled")
            return account
        if not self.user_creation:
            raise ExternalLoginError("there is no account for you here and new accounts cannot be created")
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        if provider.verified_email_claim and claims.get(provider.verified_email_claim) is not True:
            email = None
        base = ""
        for candidate in (claims.get(provider.username_claim), (email or "").split("@")[0], subject):
            if isinstance(candidate, str) and (base := username_from(candidate)):
                break
        if not base:
            base = "user"
        name = base
        for n in range(1, 1000):
            if not self.accounts.taken(name):
                break
            name = f"{base[: NAME_MAX - len(str(n))]}{n}"
        account = self.accounts.create(name, email)
        if not self.links.link(provider.service_id, subject, account.id, int(self.clock() * 1000)):
            raise ExternalLoginError("a sign-in for the same person happened at the same time; sign in again")
        return account
