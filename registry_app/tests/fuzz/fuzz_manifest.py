"""atheris (libFuzzer) harness for the manifest parser and the client JSON loader.

    python tests/fuzz/fuzz_manifest.py [libFuzzer flags] [corpus dirs]
    e.g. -runs=100000 -dict=tests/fuzz/manifest.dict NEW_CORPUS_DIR tests/fuzz/corpus

(libFuzzer writes new inputs into the first corpus directory: give it a scratch one.)

Each input is a Content-Type (its first byte picks one a client may send, or arbitrary text)
and a body. ``manifests.parse`` must either return or raise a RegistryError with a
4xx status (what a client is answered); ``client_json.loads`` must return what ``json.loads``
returns or raise ValueError. Anything else (RecursionError, TypeError, KeyError, a 5xx error) is a
crash that libFuzzer reports with the input. tests/fuzz/test_fuzz_manifest.py runs it bounded.
"""

from __future__ import annotations

import json
import sys
import types

import atheris

from registry_app.services import client_json, names
from registry_app.services import manifests as mf
from registry_app.services.errors import RegistryError


def instrument(*modules: types.ModuleType) -> None:
    """Give libFuzzer the branches of these modules' functions. (instrument_imports() saw nothing
    of registry_app here, behind an editable install's import hooks: coverage stayed at 16 edges;
    instrument_all() works but takes a minute on everything loaded.)"""
    for module in modules:
        for name, value in list(vars(module).items()):
            if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
                setattr(module, name, atheris.instrument_func(value))


instrument(mf, client_json, names)

CONTENT_TYPES = [
    None,
    "",
    mf.OCI_MANIFEST,
    mf.OCI_INDEX,
    mf.DOCKER_MANIFEST,
    mf.DOCKER_LIST,
    *mf.DOCKER_SCHEMA1,
    "application/json",
    "application/octet-stream",
]


def test_one_input(data: bytes) -> None:
    """The first byte picks the Content-Type (one of CONTENT_TYPES, or past them the text of the
    next 40 bytes); the rest is the body."""
    if not data:
        return
    pick, rest = data[0], data[1:]
    if pick < len(CONTENT_TYPES):
        content_type, body = CONTENT_TYPES[pick], rest
    else:
        content_type, body = rest[:40].decode("latin-1"), rest[40:]
    try:
        parsed = mf.parse(body, content_type)
    except RegistryError as exc:
        if exc.status >= 500:
            raise AssertionError(f"a {exc.status} for a client's manifest: {exc.message}") from exc
    else:
        assert parsed.media_type in mf.MANIFEST_TYPES, parsed.media_type
        assert all(isinstance(d, str) for d in [*parsed.blobs, *parsed.children]), parsed
    try:
        value = client_json.loads(body)
    except ValueError:
        return
    assert value == json.loads(body), "client_json.loads disagrees with json.loads"


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
