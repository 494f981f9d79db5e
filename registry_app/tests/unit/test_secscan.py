"""Security scanning logic that needs no Clair: Quay's response shape from a Clair vulnerability
report, the PSK JWTs, the index request the worker sends, notification payloads, config checks."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from registry_app.config import ConfigError, load_bundle
from registry_app.db import secscan as db
from registry_app.db.secscan import Candidate, ScanStatus
from registry_app.db.store import RepoRow
from registry_app.services.secscan import (
    maybe_urlencoded,
    notification_vulnerability,
    repository_event_data,
    security_information,
    sign_psk_jwt,
    verify_psk_jwt,
)
from registry_app.settings.scanner import decode_psk
from registry_app.settings.units import parse_size as parse_layer_size

LAYER = "sha256:" + "a" * 64
MANIFEST = "sha256:" + "b" * 64
PSK = base64.b64encode(b"k" * 32).decode()
CVSS_ENRICHMENT = (
    "message/vnd.clair.map.vulnerability; enricher=clair.cvss "
    "schema=https://csrc.nist.gov/schema/nvd/feed/1.1/cvss-v3.x.json"
)


def clair_report(**overrides: Any) -> dict[str, Any]:
    """A Clair v4 VulnerabilityReport in the shape the matcher returns."""
    debian = {"id": "1", "did": "debian", "name": "Debian GNU/Linux", "version": "12 (bookworm)", "version_id": "12"}
    vuln = {
        "id": "101",
        "updater": "debian/updater",
        "name": "CVE-2099-0001",
        "description": "planted",
        "issued": "2025-01-01T00:00:00Z",
        "links": "https://security-tracker.debian.org/tracker/CVE-2099-0001",
        "severity": "high",
        "normalized_severity": "Critical",
        "package": {"id": "", "name": "gzip", "kind": "binary"},
        "distribution": debian,
        "repository": None,
        "fixed_in_version": "1.12-2",
    }
    report: dict[str, Any] = {
        "manifest_hash": MANIFEST,
        "packages": {
            "10": {"id": "10", "name": "gzip", "version": "1.12-1", "kind": "binary", "arch": "amd64"},
            "11": {"id": "11", "name": "bash", "version": "5.2.15-2+b2", "kind": "binary", "arch": "amd64"},
        },
        "distributions": {"1": debian},
        "environments": {
            "10": [{"package_db": "var/lib/dpkg/status", "introduced_in": LAYER, "distribution_id": "1"}],
            "11": [{"package_db": "var/lib/dpkg/status", "introduced_in": LAYER, "distribution_id": "1"}],
        },
        "vulnerabilities": {"101": vuln},
        "package_vulnerabilities": {"10": ["101"]},
        "enrichments": {},
    }
    report.update(overrides)
    return report


def feature(info: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in info["Layer"]["Features"] if f["Name"] == name)


def test_report_becomes_quays_security_information() -> None:
    info = security_information(clair_report())
    layer = info["Layer"]
    assert (layer["Name"], layer["ParentName"], layer["NamespaceName"], layer["IndexedByVersion"]) == (
        MANIFEST,
        "",
        "",
        4,
    )
    gzip = feature(info, "gzip")
    assert set(gzip) == {
        "Name",
        "VersionFormat",
        "NamespaceName",
        "AddedBy",
        "Version",
        "BaseScores",
        "CVEIds",
        "Vulnerabilities",
    }
    assert (gzip["Version"], gzip["AddedBy"], gzip["VersionFormat"], gzip["NamespaceName"]) == ("1.12-1", LAYER, "", "")
    assert gzip["CVEIds"] == ["CVE-2099-0001"] and gzip["BaseScores"] == []
    [vuln] = gzip["Vulnerabilities"]
    assert vuln == {
        "Severity": "Critical",
        "NamespaceName": "debian/updater",
        "Link": "https://security-tracker.debian.org/tracker/CVE-2099-0001",
        "FixedBy": "1.12-2",
        "Description": "planted",
        "Name": "CVE-2099-0001",
        "Metadata": {
            "UpdatedBy": "debian/updater",
            "RepoName": None,
            "RepoLink": None,
            "DistroName": "Debian GNU/Linux",
            "DistroVersion": "12 (bookworm)",
            "NVD": {"CVSSv3": {"Vectors": "", "Score": ""}},
        },
    }
    assert feature(info, "bash")["Vulnerabilities"] == []
    json.dumps(info)  # plain JSON


def test_duplicates_from_other_repositories_are_dropped_and_fixed_by_zero_is_empty() -> None:
    report = clair_report()
    twin = dict(report["vulnerabilities"]["101"], id="102", repository={"name": "other", "uri": "x"})
    report["vulnerabilities"]["102"] = twin
    report["vulnerabilities"]["101"]["fixed_in_version"] = "0"
    report["package_vulnerabilities"]["10"] = ["101", "102"]
    [vuln] = feature(security_information(report), "gzip")["Vulnerabilities"]
    assert vuln["FixedBy"] == ""


def test_severity_falls_back_to_the_cvss_enrichment() -> None:
    report = clair_report()
    report["vulnerabilities"]["101"]["normalized_severity"] = "Unknown"
    report["enrichments"] = {
        CVSS_ENRICHMENT: [
            {
                "101": [
                    {"vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", "baseScore": 5.3},
                    {"vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N", "baseScore": 9.1},
                ]
            }
        ]
    }
    gzip = feature(security_information(report), "gzip")
    [vuln] = gzip["Vulnerabilities"]
    assert vuln["Severity"] == "Critical"  # 9.1, the highest score
    assert vuln["Metadata"]["NVD"]["CVSSv3"] == {
        "Vectors": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N",
        "Score": 9.1,
    }
    assert gzip["BaseScores"] == [9.1]


def test_fixed_in_version_may_be_url_encoded() -> None:
    assert maybe_urlencoded("fixed=1.2.3&arch=amd64") == "1.2.3"
    assert maybe_urlencoded("1:2.3-4+deb12u1") == "1:2.3-4+deb12u1"
    assert maybe_urlencoded("") == ""


def test_psk_jwt_is_quays_and_verifies_only_with_the_key() -> None:
    key = decode_psk(PSK)
    token = sign_psk_jwt(key)
    claims = jwt.decode(token, key, algorithms=["HS256"])
    assert claims["iss"] == "quay" and claims["exp"] > time.time()
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert verify_psk_jwt(f"Bearer {token}", key)
    assert not verify_psk_jwt(f"Bearer {token}", b"another key of thirty-two bytes!")
    assert not verify_psk_jwt(f"Basic {token}", key)
    assert not verify_psk_jwt(None, key)
    expired = jwt.encode({"iss": "clair-notifier", "exp": int(time.time()) - 600}, key, algorithm="HS256")
    assert not verify_psk_jwt(f"Bearer {expired}", key)
    notifier = jwt.encode({"iss": "clair-notifier", "exp": int(time.time()) + 60}, key, algorithm="HS256")
    assert verify_psk_jwt(f"Bearer {notifier}", key)


def test_layer_sizes() -> None:
    assert parse_layer_size("8G") == 8 * 2**30
    assert parse_layer_size("512m") == 512 * 2**20
    assert parse_layer_size(1000) == 1000
    assert parse_layer_size(None) is None
    with pytest.raises(ValueError):
        parse_layer_size("eight gigs")


BUNDLE = """
SERVER_HOSTNAME: registry.example.com
DB_URI: sqlite:////tmp/never-opened.db
DISTRIBUTED_STORAGE_CONFIG:
  default: [LocalStorage, {storage_path: /tmp/never-used}]
DISTRIBUTED_STORAGE_PREFERENCE: [default]
FEATURE_SECURITY_SCANNER: true
"""


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("", "SECURITY_SCANNER_V4_ENDPOINT: required when FEATURE_SECURITY_SCANNER is true"),
        (
            "SECURITY_SCANNER_V4_ENDPOINT: clair:8081\n",
            "SECURITY_SCANNER_V4_ENDPOINT: 'clair:8081' is not valid (expected: Clair v4",
        ),
        (
            "SECURITY_SCANNER_V4_ENDPOINT: http://clair:8081\nSECURITY_SCANNER_V4_PSK: 'not base64!'\n",
            "SECURITY_SCANNER_V4_PSK: is not valid base64",
        ),
        (
            "SECURITY_SCANNER_V4_ENDPOINT: http://clair:8081\nSECURITY_SCANNER_V4_INDEX_MAX_LAYER_SIZE: 8 gigs\n",
            "SECURITY_SCANNER_V4_INDEX_MAX_LAYER_SIZE:",
        ),
        ("SECURITY_SCANNER_V4_ENDPOINT: http://clair:8081\nSECURITY_SCANNER_INDEXING_INTERVAL: 0\n", "INTERVAL"),
    ],
)
def test_scanner_config_problems_are_named(tmp_path: Path, extra: str, needle: str) -> None:
    (tmp_path / "config.yaml").write_text(BUNDLE + extra)
    with pytest.raises(ConfigError) as err:
        load_bundle(tmp_path)
    assert any(needle in p for p in err.value.problems), err.value.problems
    assert "not base64!" not in str(err.value)  # the PSK is never echoed


def test_good_scanner_config(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        BUNDLE
        + f"SECURITY_SCANNER_V4_ENDPOINT: http://clair:8081\nSECURITY_SCANNER_V4_PSK: {PSK}\n"
        + "SECURITY_SCANNER_V4_INDEX_MAX_LAYER_SIZE: 8G\nSECURITY_SCANNER_V4_MANIFEST_CLEANUP: true\n"
        + "FEATURE_SECURITY_NOTIFICATIONS: true\n"
    )
    cfg = load_bundle(tmp_path)
    assert not [w for w in cfg.warnings if "SECURITY" in w]


def test_notification_event_payload_is_quays() -> None:
    repo = RepoRow(7, 3, "acme", "web", "private")
    vuln = notification_vulnerability(
        {
            "name": "CVE-2099-0001",
            "description": "planted",
            "links": "https://security-tracker.debian.org/tracker/CVE-2099-0001",
            "normalized_severity": "High",
            "fixed_in_version": "fixed=1.2",
        }
    )
    payload = repository_event_data("https", "quay.example:8443", repo, {"tags": ["latest"], "vulnerability": vuln})
    assert payload == {
        "repository": "acme/web",
        "namespace": "acme",
        "name": "web",
        "docker_url": "quay.example:8443/acme/web",
        "homepage": "https://quay.example:8443/repository/acme/web",
        "tags": ["latest"],
        "vulnerability": {
            "id": "CVE-2099-0001",
            "description": "planted",
            "link": "https://security-tracker.debian.org/tracker/CVE-2099-0001",
            "priority": "High",
            "has_fix": True,
        },
    }
    assert notification_vulnerability({"name": "X", "normalized_severity": "Weird"})["priority"] == "Unknown"
    # Clair v4.9's notifier names the normalized severity "severity".
    assert notification_vulnerability({"name": "X", "severity": "Medium"})["priority"] == "Medium"


# -- the index request, with a real AuthService on a temporary SQLite database ------------------
@pytest.fixture
def scanner(tmp_path: Path) -> Any:
    from registry_app.config import embedded_default
    from registry_app.db.engine import ensure_schema, make_engine
    from registry_app.db.secscan import SecscanStore
    from registry_app.db.store import Store
    from registry_app.services.auth import AuthService
    from registry_app.services.secscan import SecurityScanner

    config = embedded_default(tmp_path, "127.0.0.1", 5999)
    values = dict(config.values)
    values.update(
        {
            "FEATURE_SECURITY_SCANNER": True,
            "SECURITY_SCANNER_V4_ENDPOINT": "http://127.0.0.1:9",
            "SECURITY_SCANNER_V4_PSK": PSK,
            "SECURITY_SCANNER_V4_INDEX_MAX_LAYER_SIZE": "1M",
        }
    )
    engine = make_engine(config.db_uri)
    ensure_schema(engine, auto_migrate=True)
    settings = type(config)(values=values, data_dir=config.data_dir).settings
    assert settings.scanner is not None
    auth = AuthService(Store(engine), settings.auth, settings.secrets, settings.tags)
    return SecurityScanner(SecscanStore(engine), auth, settings.scanner)


def candidate(doc: dict[str, Any], media_type: str, status: ScanStatus | None = None) -> Candidate:
    return Candidate(1, 1, "acme", "web", MANIFEST, media_type, json.dumps(doc).encode(), status)


OCI = "application/vnd.oci.image.manifest.v1+json"
CONFIG = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "c" * 64, "size": 2}


def test_index_request_points_clair_at_the_registrys_blobs_with_a_pull_token(scanner: Any) -> None:
    doc = {
        "schemaVersion": 2,
        "config": CONFIG,
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": LAYER, "size": 10}],
    }
    body = scanner.index_request(candidate(doc, OCI))
    assert body["hash"] == MANIFEST
    [layer] = body["layers"]
    assert layer["hash"] == LAYER
    assert layer["uri"] == f"http://localhost:5999/v2/acme/web/blobs/{LAYER}"
    assert layer["headers"]["Accept"] == ["application/gzip"]
    [auth] = layer["headers"]["Authorization"]
    ident = scanner.auth.verify_token(auth.removeprefix("Bearer "))
    assert ident.access == {"acme/web": frozenset({"pull"})}
    claims = jwt.decode(auth.removeprefix("Bearer "), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] <= 600  # short-lived


def test_lists_artifacts_and_big_layers_are_not_sent(scanner: Any) -> None:
    index = {"schemaVersion": 2, "manifests": []}
    assert scanner.index_request(candidate(index, "application/vnd.oci.image.index.v1+json")) == db.MANIFEST_UNSUPPORTED
    helm = {
        "schemaVersion": 2,
        "config": CONFIG,
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": LAYER, "size": 1}],
    }
    assert scanner.index_request(candidate(helm, OCI)) == db.MANIFEST_UNSUPPORTED
    empty = {"schemaVersion": 2, "config": CONFIG, "layers": []}
    assert scanner.index_request(candidate(empty, OCI)) == db.MANIFEST_UNSUPPORTED
    big = {
        "schemaVersion": 2,
        "config": CONFIG,
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": LAYER, "size": 2 * 2**20}],
    }
    assert scanner.index_request(candidate(big, OCI)) == db.MANIFEST_LAYER_TOO_LARGE


def test_failed_manifests_back_off_between_bounded_retries(scanner: Any) -> None:
    now = int(time.time() * 1000)
    doc: dict[str, Any] = {"schemaVersion": 2}
    just_failed = candidate(doc, OCI, ScanStatus(db.FAILED, "s", now, 1, None))
    assert scanner._backing_off(just_failed, now)
    long_ago = candidate(doc, OCI, ScanStatus(db.FAILED, "s", now - 10**7, 1, None))
    assert not scanner._backing_off(long_ago, now)
    assert not scanner._backing_off(candidate(doc, OCI), now)
