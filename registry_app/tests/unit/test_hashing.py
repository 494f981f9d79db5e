import hashlib
import os
import pickle

import pytest

from registry_app.storage.hashing import new_hasher, resumable


@pytest.mark.parametrize("alg", ["sha256", "sha512"])
def test_state_resumes_in_a_fresh_object(alg: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    h = new_hasher(alg)
    h.update(data[:1_000_003])
    state = h.state()
    assert resumable() and state is not None
    resumed = new_hasher(alg, pickle.loads(pickle.dumps(state)))  # noqa: S301 (the state this test pickled)
    resumed.update(data[1_000_003:])
    assert resumed.hexdigest() == hashlib.new(alg, data).hexdigest()


def test_hexdigest_does_not_consume_state() -> None:
    h = new_hasher("sha256")
    h.update(b"abc")
    first = h.hexdigest()
    h.update(b"def")
    assert first == hashlib.sha256(b"abc").hexdigest()
    assert h.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()


def test_wrong_state_size_is_rejected() -> None:
    with pytest.raises(ValueError):
        new_hasher("sha256", b"short")


def test_unknown_algorithm() -> None:
    with pytest.raises(ValueError):
        new_hasher("md5")
