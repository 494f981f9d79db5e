import pytest

from registry_app.services.errors import DigestInvalid, ManifestInvalid, NameInvalid
from registry_app.services.names import check_digest, check_tag, split_repository


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a/b", ("a", "b")), ("my-org/app.web/x_y", ("my-org", "app.web/x_y")), ("a__b/c--d", ("a__b", "c--d"))],
)
def test_valid_names(name: str, expected: tuple[str, str]) -> None:
    assert split_repository(name) == expected


@pytest.mark.parametrize(
    "name",
    ["a/..", "a/../b", "A/b", "a/B", "a//b", "a/b/", "/a/b", "a/.b", "a/b.", "a/-b", "single", "a/" + "x" * 300,
     "a/b c", "a/%2e%2e"],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(NameInvalid) as err:
        split_repository(name)
    assert err.value.code == "NAME_INVALID" and err.value.message


def test_digests() -> None:
    assert check_digest("sha256:" + "a" * 64) == "sha256"
    assert check_digest("sha512:" + "0" * 128) == "sha512"
    for bad in ["sha256:" + "a" * 63, "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha256", "sha512:" + "a" * 64]:
        with pytest.raises(DigestInvalid):
            check_digest(bad)


def test_tags() -> None:
    check_tag("v1.0_rc-1")
    check_tag("a" * 128)
    for bad in ["-x", ".x", "a" * 129, "a/b", ""]:
        with pytest.raises(ManifestInvalid):
            check_tag(bad)
