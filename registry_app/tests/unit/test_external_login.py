"""services/external_login.py without a provider: names made from claims, the sign-in's flow
token (tampered, expired, for another service), and what config validation says about
``*_LOGIN_CONFIG``. The whole flow against a real provider is tests/e2e/test_web_oidc.py."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest

from registry_app.clients.oidc import OidcClient
from registry_app.config import ConfigError, embedded_default, validate_values
from registry_app.services.external_login import (
    Accounts,
    ExternalLoginError,
    ExternalLoginService,
    Provider,
    username_from,
)


@pytest.mark.parametrize(
    ("claim", "name"),
    [
        ("alice", "alice"),
        ("John.Doe@Corp", "john.doe-corp"),
        ("  Ünïcode Name ", "n-code-name"),
        ("--a", ""),
        ("a__b..c", "a_b.c"),
        ("x" * 300, "x" * 255),
        ("org+robot", "org-robot"),
    ],
)
def test_usernames_from_claims(claim: str, name: str) -> None:
    assert username_from(claim) == name


@dataclass(frozen=True)
class Person:
    id: int
    enabled: bool = True


class Links:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], int] = {}

    def user_id(self, service_id: str, subject: str) -> int | None:
        return self.rows.get((service_id, subject))

    def link(self, service_id: str, subject: str, user_id: int, now_ms: int) -> bool:
        return self.rows.setdefault((service_id, subject), user_id) == user_id


class World:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.names: dict[str, Person] = {"alice": Person(1)}
        self.links = Links()
        client = OidcClient("https://idp.example/", "client", "secret", None)
        client._discovery = (float("inf"), {"authorization_endpoint": "https://idp.example/auth"})  # no network
        provider = Provider("corp", "Corp SSO", client, ("openid",), "S256")
        self.service: ExternalLoginService[Person] = ExternalLoginService(
            providers=[provider],
            links=self.links,
            accounts=Accounts(
                by_id=lambda i: next((p for p in self.names.values() if p.id == i), None),
                taken=lambda n: n in self.names,
                create=self.create,
            ),
            secret_key=secrets.token_urlsafe(16),
            external_url="https://registry.example",
            user_creation=True,
            clock=lambda: self.now,
        )

    def create(self, name: str, email: str | None) -> Person:
        person = Person(len(self.names) + 1)
        self.names[name] = person
        return person


def test_the_authorization_url_carries_state_nonce_and_pkce() -> None:
    world = World()
    started = world.service.begin("corp")
    claims = jwt.decode(started.flow, options={"verify_signature": False})
    assert f"state={claims['state']}" in started.auth_url and f"nonce={claims['nonce']}" in started.auth_url
    assert "code_challenge_method=S256" in started.auth_url and claims["pkce"] not in started.auth_url
    assert "redirect_uri=https%3A%2F%2Fregistry.example%2Foauth2%2Fcorp%2Fcallback" in started.auth_url


def test_the_flow_must_be_this_registrys_this_services_and_recent() -> None:
    world = World()
    flow = world.service.begin("corp").flow
    state = jwt.decode(flow, options={"verify_signature": False})["state"]
    forged = jwt.encode(jwt.decode(flow, options={"verify_signature": False}), "other-key", algorithm="HS256")
    with pytest.raises(ExternalLoginError, match="not started here"):
        world.service.finish("corp", forged, "code", state, None)
    with pytest.raises(ExternalLoginError, match="state does not match"):
        world.service.finish("corp", flow, "code", "another-state", None)
    with pytest.raises(ExternalLoginError, match="refused"):
        world.service.finish("corp", flow, "code", state, "access_denied")
    with pytest.raises(ExternalLoginError, match="no sign-in service"):
        world.service.finish("other", flow, "code", state, None)
    world.now += 601
    with pytest.raises(ExternalLoginError, match="too long"):
        world.service.finish("corp", flow, "code", state, None)


def test_accounts_are_linked_once_and_names_kept_free() -> None:
    world = World()
    provider = world.service.provider("corp")
    first = world.service._account(provider, "sub-1", {"preferred_username": "Alice"})
    assert world.names["alice1"] == first
    again = world.service._account(provider, "sub-1", {"preferred_username": "someone-else"})
    assert again == first and len(world.names) == 2
    by_mail = world.service._account(provider, "sub-2", {"email": "bob@example.com"})
    assert world.names["bob"] == by_mail


def test_no_new_accounts_without_user_creation() -> None:
    world = World()
    world.service.user_creation = False
    with pytest.raises(ExternalLoginError, match="cannot be created"):
        world.service._account(world.service.provider("corp"), "sub-9", {"preferred_username": "zed"})


def test_config_validation_of_login_configs(tmp_path: Path) -> None:
    base = dict(embedded_default(tmp_path).values)
    good = {"OIDC_SERVER": "https://idp.example/", "CLIENT_ID": "c", "CLIENT_SECRET": "s"}
    warnings = validate_values({**base, "CORP_LOGIN_CONFIG": good})
    assert not [w for w in warnings if "CORP_LOGIN_CONFIG" in w], warnings
    for entry, problem in (
        ({**good, "OIDC_SERVER": "http://idp.example/"}, "CORP_LOGIN_CONFIG.OIDC_SERVER"),
        ({k: v for k, v in good.items() if k != "CLIENT_SECRET"}, "CORP_LOGIN_CONFIG.CLIENT_SECRET"),
        ({k: v for k, v in good.items() if k != "CLIENT_ID"}, "CORP_LOGIN_CONFIG.CLIENT_ID"),
    ):
        with pytest.raises(ConfigError) as err:
            validate_values({**base, "CORP_LOGIN_CONFIG": entry})
        assert any(p.startswith(problem) for p in err.value.problems), err.value.problems
    with pytest.raises(ConfigError, match="reserved"):
        validate_values({**base, "LDAP_LOGIN_CONFIG": good})
    # Quay's GitHub/Google logins are not OpenID Connect: still only reported as not implemented.
    warnings = validate_values({**base, "GITHUB_LOGIN_CONFIG": {"CLIENT_ID": "x"}})
    assert any(w.startswith("GITHUB_LOGIN_CONFIG") for w in warnings), warnings
