import json

import pytest

from registry_app.services import manifests as mf
from registry_app.services.errors import ManifestInvalid, Unsupported

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def image(**extra: object) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D1, "size": 2},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D2, "size": 3}]}
    doc.update(extra)
    return json.dumps(doc).encode()


def test_image_manifest_references() -> None:
    p = mf.parse(image(), mf.OCI_MANIFEST)
    assert p.media_type == mf.OCI_MANIFEST and p.blobs == [D1, D2] and p.children == []
    assert p.artifact_type == "application/vnd.oci.image.config.v1+json"


def test_subject_and_artifact_type() -> None:
    p = mf.parse(image(subject={"mediaType": mf.OCI_MANIFEST, "digest": D2, "size": 9}, artifactType="x/y",
                       annotations={"a": "b"}), mf.OCI_MANIFEST)
    assert p.subject == D2 and p.artifact_type == "x/y" and p.annotations == {"a": "b"}


def test_index_children() -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_INDEX,
                       "manifests": [{"mediaType": mf.OCI_MANIFEST, "digest": D1, "size": 5}]}).encode()
    p = mf.parse(body, mf.OCI_INDEX)
    assert p.children == [D1] and p.blobs == []


@pytest.mark.parametrize(
    ("body", "ctype", "needle"),
    [
        (b"{not json", mf.OCI_MANIFEST, "not valid JSON"),
        (b"[]", mf.OCI_MANIFEST, "JSON object"),
        (image(schemaVersion=3), mf.OCI_MANIFEST, "schemaVersion"),
        (image(config={"digest": "sha256:zz", "size": 1}), mf.OCI_MANIFEST, "digest"),
        (image(layers=[{"digest": D2, "size": -1}]), mf.OCI_MANIFEST, "size"),
        (image(), mf.DOCKER_MANIFEST, "does not match"),
        (image(), "text/plain", "unsupported manifest media type"),
    ],
)
def test_invalid(body: bytes, ctype: str, needle: str) -> None:
    with pytest.raises(ManifestInvalid) as err:
        mf.parse(body, ctype)
    assert needle in err.value.message


def test_schema1_is_unsupported() -> None:
    with pytest.raises(Unsupported):
        mf.parse(json.dumps({"schemaVersion": 1, "name": "a/b"}).encode(), mf.DOCKER_SCHEMA1[1])


def test_accept() -> None:
    assert mf.accepts([], mf.OCI_INDEX)
    assert mf.accepts(["*/*"], mf.OCI_INDEX)
    assert mf.accepts([mf.OCI_MANIFEST, mf.OCI_INDEX], mf.OCI_INDEX)
    assert not mf.accepts([mf.DOCKER_MANIFEST], mf.OCI_INDEX)
