"""AUTHENTICATION_TYPE: LDAP against a real OpenLDAP (slapd), through the real server over HTTP.

The directory holds ou=people with alice and dave (staff), bob (a contractor, outside
LDAP_USER_FILTER) and carol (staff and admin, inside LDAP_SUPERUSER_FILTER). The last tests talk to
``LdapDirectory`` directly for what needs no HTTP server of its own: TLS (ldaps://), timeouts,
configuration mistakes, several URIs and user bases.
"""

from __future__ import annotations

import base64
import re
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry_app.services.ldap import LdapDirectory, LdapUnavailable
from registry_app.settings import LdapSettings
from tests.conftest import missing_dependency
from tests.support.bundle import bundle_server
from tests.support.ldap import Person, SlapdServer, SlapdUnavailable
from tests.support.oci import Client, Image, error_code
from tests.support.server import RegistryServer, free_port
from tests.support.tls import CertificateAuthority, make_server_cert

ALICE = Person("alice", "alice-" + secrets.token_urlsafe(8), "alice@example.org", ("staff",))
BOB = Person("bob", "bob-" + secrets.token_urlsafe(8), "bob@example.org", ("contractor",))
CAROL = Person("carol", "carol-" + secrets.token_urlsafe(8), "carol@example.org", ("staff", "admin"))
DAVE = Person("dave", "dave-" + secrets.token_urlsafe(8), None, ("staff",))
PEOPLE = [ALICE, BOB, CAROL, DAVE]

USER_FILTER = "(employeeType=staff)"
SUPERUSER_FILTER = "(employeeType=admin)"


def _start_slapd(**kwargs: Any) -> SlapdServer:
    try:
        server = SlapdServer(**kwargs)
    except SlapdUnavailable as exc:
        missing_dependency(str(exc))
    server.start()
    try:
        server.add_tree()
        server.add_people(PEOPLE)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def ldap_server() -> Iterator[SlapdServer]:
    """A real slapd on a free loopback port with the people above, shared by the session."""
    server = _start_slapd()
    try:
        yield server
    finally:
        server.stop()


def ldap_values(ldap: SlapdServer, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "AUTHENTICATION_TYPE": "LDAP",
        "LDAP_URI": ldap.uri,
        "LDAP_BASE_DN": ["dc=example", "dc=org"],
        "LDAP_ADMIN_DN": ldap.admin_dn,
        "LDAP_ADMIN_PASSWD": ldap.admin_password,
        "LDAP_USER_RDN": ["ou=people"],
        "LDAP_UID_ATTR": "uid",
        "LDAP_EMAIL_ATTR": "mail",
        "LDAP_USER_FILTER": USER_FILTER,
        "LDAP_SUPERUSER_FILTER": SUPERUSER_FILTER,
        "FEATURE_SUPERUSERS_FULL_ACCESS": True,
    }
    values.update(overrides)
    return values


def start_ldap_registry(base: Path, ldap: SlapdServer, **overrides: Any) -> RegistryServer:
    """A started server on a config bundle with AUTHENTICATION_TYPE: LDAP. Call ``.stop()``."""
    return bundle_server(base, migrate=False, **ldap_values(ldap, **overrides)).start()


@pytest.fixture(scope="module")
def ldap_registry(tmp_path_factory: pytest.TempPathFactory, ldap_server: SlapdServer) -> Iterator[RegistryServer]:
    server = start_ldap_registry(tmp_path_factory.mktemp("ldap-registry"), ldap_server)
    try:
        yield server
    finally:
        server.stop()
        assert_no_secrets(server.log(), ldap_server.admin_password)


def assert_no_secrets(text: str, *secrets_: str) -> None:
    for secret in (*secrets_, *(p.password for p in PEOPLE)):
        assert secret not in text
        assert base64.b64encode(secret.encode()).decode() not in text


def api_user(server: RegistryServer, user: str, password: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v1/user/", auth=(user, password), timeout=60)


# --- through the server ------------------------------------------------------------------------


def test_first_login_creates_the_account_from_the_directory(ldap_registry: RegistryServer) -> None:
    r = ldap_registry.v2_token((ALICE.uid, ALICE.password), "repository:alice/app:push,pull")
    assert r.status_code == 200, r.text
    assert r.json()["token"]
    r = api_user(ldap_registry, ALICE.uid, ALICE.password)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["username"], body["email"], body["super_user"]) == ("alice", ALICE.mail, False)


def test_directory_user_pushes_to_own_namespace_only(ldap_registry: RegistryServer) -> None:
    c = Client(ldap_registry.url, auth=(ALICE.uid, ALICE.password))
    try:
        r = c.push_image("alice/app", Image.random(), "v1")
        assert r.status_code == 201, r.text
        r = c.http.post("/v2/carol/app/blobs/uploads/")
        assert r.status_code in (401, 403), r.text
    finally:
        c.close()


def test_email_and_other_case_sign_in_to_the_same_account(ldap_registry: RegistryServer) -> None:
    for name in (ALICE.mail, "ALICE"):
        assert name is not None
        r = api_user(ldap_registry, name, ALICE.password)
        assert r.status_code == 200, r.text
        assert r.json()["username"] == "alice"


def test_wrong_password_is_401(ldap_registry: RegistryServer) -> None:
    r = ldap_registry.v2_token((ALICE.uid, ALICE.password + "x"))
    assert r.status_code == 401, r.text
    assert api_user(ldap_registry, ALICE.uid, "").status_code == 401  # no unauthenticated bind


def test_user_outside_the_user_filter_is_401(ldap_registry: RegistryServer) -> None:
    r = ldap_registry.v2_token((BOB.uid, BOB.password))
    assert r.status_code == 401, r.text
    assert api_user(ldap_registry, BOB.uid, BOB.password).status_code == 401


@pytest.mark.parametrize("name", ["*", "al*", "alice)(uid=*", "*)(|(uid=*", "alice\\", "nobody"])
def test_filter_metacharacters_in_the_username_match_nobody(ldap_registry: RegistryServer, name: str) -> None:
    r = ldap_registry.v2_token((name, ALICE.password))
    assert r.status_code == 401, r.text


def test_superuser_filter_makes_a_superuser(ldap_registry: RegistryServer) -> None:
    assert ldap_registry.v2_token((ALICE.uid, ALICE.password)).status_code == 200  # namespace alice exists
    r = api_user(ldap_registry, CAROL.uid, CAROL.password)
    assert r.status_code == 200, r.text
    assert (r.json()["username"], r.json()["email"], r.json()["super_user"]) == ("carol", CAROL.mail, True)
    c = Client(ldap_registry.url, auth=(CAROL.uid, CAROL.password))
    try:
        r = c.push_image("alice/from-carol", Image.random(), "v1")
        assert r.status_code == 201, r.text
    finally:
        c.close()


def test_user_without_mail_signs_in(ldap_registry: RegistryServer) -> None:
    r = api_user(ldap_registry, DAVE.uid, DAVE.password)
    assert r.status_code == 200, r.text
    assert (r.json()["username"], r.json()["email"]) == ("dave", None)


def test_unreachable_directory_is_503_the_log_names_the_uri(tmp_path: Path, ldap_server: SlapdServer) -> None:
    """The client is told the directory is unavailable, with a reference; where and why (the URI,
    the socket error) are only in the server log, under that reference (issue 9, item 5)."""
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        uri = f"ldap://127.0.0.1:{port}"
    server = start_ldap_registry(tmp_path, ldap_server, LDAP_URI=uri)
    references = []
    try:
        for r in (server.v2_token((ALICE.uid, ALICE.password)), api_user(server, ALICE.uid, ALICE.password)):
            assert r.status_code == 503, r.text
            assert "the LDAP directory is unavailable" in r.text, r.text
            assert str(port) not in r.text and "Connection refused" not in r.text and "ldap://" not in r.text, r.text
            assert_no_secrets(r.text, ldap_server.admin_password)
            found = re.search(r"reference ([0-9a-f]{8})", r.text)
            assert found, r.text
            references.append(found.group(1))
        assert error_code(server.v2_token((ALICE.uid, ALICE.password))) == "UNKNOWN"
    finally:
        server.stop()
    log = server.log()
    assert uri in log and "Connection refused" in log
    for ref in references:
        assert any(ref in line and uri in line for line in log.splitlines()), (ref, log[-3000:])
    assert_no_secrets(log, ldap_server.admin_password)


# --- LdapDirectory directly: TLS and timeouts --------------------------------------------------


@pytest.fixture(scope="module")
def ldaps_server(tmp_path_factory: pytest.TempPathFactory, test_ca: CertificateAuthority) -> Iterator[SlapdServer]:
    """slapd on ldap:// and ldaps://, its certificate for 127.0.0.1 signed by ``test_ca``."""
    base = tmp_path_factory.mktemp("ldaps")
    make_server_cert(test_ca, base / "ldap.crt", base / "ldap.key")
    server = _start_slapd(tls_cert=base / "ldap.crt", tls_key=base / "ldap.key")
    try:
        yield server
    finally:
        server.stop()


def directory(tmp_path: Path, values: dict[str, Any], ca: CertificateAuthority | None = None) -> LdapDirectory:
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    if ca is not None:
        (bundle / "ldap.crt").write_bytes(ca.cert_path.read_bytes())  # as Quay: ldap.crt in the bundle
    return LdapDirectory(LdapSettings.from_values(values, config_dir=bundle))


def test_ldaps_verifies_the_certificate_with_ldap_crt(
    tmp_path: Path, ldaps_server: SlapdServer, test_ca: CertificateAuthority
) -> None:
    values = ldap_values(ldaps_server, LDAP_URI=ldaps_server.ldaps_uri)
    assert directory(tmp_path, values, test_ca).authenticate(ALICE.uid, ALICE.password) == ("alice", ALICE.mail)
    assert directory(tmp_path, values, test_ca).authenticate(ALICE.uid, "nope") is None


def test_ldaps_with_an_unknown_ca_is_refused(tmp_path: Path, ldaps_server: SlapdServer) -> None:
    values = ldap_values(ldaps_server, LDAP_URI=ldaps_server.ldaps_uri)
    with pytest.raises(LdapUnavailable) as info:
        directory(tmp_path, values).authenticate(ALICE.uid, ALICE.password)
    assert info.value.status == 503
    assert info.value.message == "the LDAP directory is unavailable"  # where and why: only in the log
    detail = info.value.log_detail or ""
    assert ldaps_server.ldaps_uri in detail and "CERTIFICATE_VERIFY_FAILED" in detail


def test_ldaps_certificate_for_another_name_is_refused(
    tmp_path: Path, test_ca: CertificateAuthority
) -> None:
    make_server_cert(test_ca, tmp_path / "other.crt", tmp_path / "other.key", ["ldap.example.test"])
    server = _start_slapd(tls_cert=tmp_path / "other.crt", tls_key=tmp_path / "other.key")
    try:
        values = ldap_values(server, LDAP_URI=server.ldaps_uri)
        with pytest.raises(LdapUnavailable) as info:
            directory(tmp_path, values, test_ca).authenticate(ALICE.uid, ALICE.password)
        detail = info.value.log_detail or ""
        assert "doesn't match" in detail or "mismatch" in detail, detail
        # LDAP_ALLOW_INSECURE_FALLBACK accepts what cannot be verified (and says so in the log).
        insecure = directory(tmp_path, {**values, "LDAP_ALLOW_INSECURE_FALLBACK": True})
        assert insecure.authenticate(ALICE.uid, ALICE.password) == ("alice", ALICE.mail)
    finally:
        server.stop()


def test_rejected_admin_bind_is_503_not_401(tmp_path: Path, ldap_server: SlapdServer) -> None:
    wrong = "wrong-" + secrets.token_urlsafe(12)
    with pytest.raises(LdapUnavailable) as info:
        directory(tmp_path, ldap_values(ldap_server, LDAP_ADMIN_PASSWD=wrong)).authenticate(ALICE.uid, ALICE.password)
    assert info.value.status == 503
    assert info.value.log_detail == (
        f"the LDAP directory at {ldap_server.uri} is unavailable: "
        "it refused the LDAP_ADMIN_DN/LDAP_ADMIN_PASSWD bind (invalidCredentials)"
    )


def test_misconfiguration_is_503_at_login_not_a_crash_at_start(tmp_path: Path, ldap_server: SlapdServer) -> None:
    # Each server worker builds the directory: raising there would respawn workers forever.
    values = ldap_values(ldap_server, LDAP_USER_FILTER="((broken", LDAP_URI="http://ldap.example.org")
    d = directory(tmp_path, values)
    with pytest.raises(LdapUnavailable) as info:
        d.authenticate(ALICE.uid, ALICE.password)
    assert info.value.status == 503
    assert info.value.message == "the LDAP directory is unavailable"
    assert "LDAP_USER_FILTER: '((broken' is not an LDAP filter" in (info.value.log_detail or "")
    assert "LDAP_URI: 'http://ldap.example.org' must start with ldap:// or ldaps://" in (info.value.log_detail or "")


def test_silent_directory_times_out_with_a_clear_error(tmp_path: Path, ldap_server: SlapdServer) -> None:
    import time

    with socket.socket() as silent:  # accepts connections (kernel backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        uri = f"ldap://127.0.0.1:{silent.getsockname()[1]}"
        d = directory(tmp_path, ldap_values(ldap_server, LDAP_URI=uri, LDAP_TIMEOUT=1))
        start = time.monotonic()
        with pytest.raises(LdapUnavailable) as info:
            d.authenticate(ALICE.uid, ALICE.password)
        assert time.monotonic() - start < 5
    assert info.value.log_detail == f"the LDAP directory at {uri} is unavailable: no answer within 1 s (LDAP_TIMEOUT)"


def test_second_uri_is_used_when_the_first_is_down(tmp_path: Path, ldap_server: SlapdServer) -> None:
    down = f"ldap://127.0.0.1:{free_port()}"
    d = directory(tmp_path, ldap_values(ldap_server, LDAP_URI=f"{down} {ldap_server.uri}/"))
    assert d.authenticate(CAROL.uid, CAROL.password) == ("carol", CAROL.mail)
    assert d.is_superuser("carol") and not d.is_superuser("alice") and not d.is_superuser("bob")


def test_secondary_user_rdns_and_missing_bases(tmp_path: Path, ldap_server: SlapdServer) -> None:
    values = ldap_values(ldap_server, LDAP_USER_RDN=["ou=nobody-here"], LDAP_SECONDARY_USER_RDNS=["ou=people"])
    assert directory(tmp_path, values).authenticate(ALICE.uid, ALICE.password) == ("alice", ALICE.mail)
    values = ldap_values(ldap_server, LDAP_USER_RDN=["ou=nobody-here"])
    assert directory(tmp_path, values).authenticate(ALICE.uid, ALICE.password) is None
