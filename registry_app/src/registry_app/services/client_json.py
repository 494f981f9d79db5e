"""JSON that a client sent, parsed with a bound on nesting and without non-standard constants.

Python's json parser recurses once per nesting level: a manifest of a few thousand ``[`` raises
RecursionError (not ValueError), which nothing expects, and answered 500. Everything a client
controls (manifests, image configs read from uploaded blobs, label values, webhook bodies) goes
through ``loads`` here: the nesting is measured first, without recursion and in C-speed passes,
and anything deeper than ``MAX_DEPTH`` is refused as a ValueError like any other bad JSON. The
size is bounded by whoever read the bytes (the manifest limit, the body limits).

``NaN`` and ``Infinity`` (which Python's parser accepts, and which are not JSON) are refused too,
so that no number from a client is a float that ``int()`` cannot convert.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any, NoReturn

# Manifests, indexes and image configs nest about five levels; 100 leaves room for any real
# document and stays far below the interpreter's recursion limit (json.dumps recurses too).
MAX_DEPTH = 100

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes


class JsonTooDeep(ValueError):
    """The document nests deeper than the limit."""


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data`` (brackets inside strings ignored).

    Linear in the size, without recursion: strings are cut out by one regular expression, the
    brackets left are turned into +1/-1 steps and the running sum's maximum is the depth. Input
    that is not JSON (an unterminated string) can only make the answer larger."""
    opens = data.count(b"[") + data.count(b"{")
    if opens <= 1:
        return opens
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    steps = memoryview(brackets.translate(_STEP)).cast("b")
    return max(itertools.accumulate(steps), default=0)


def _constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` for client input: raises ValueError (never RecursionError) for anything that
    is not acceptable JSON, including nesting deeper than ``max_depth``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    opens = raw.count(b"[") + raw.count(b"{")
    if opens > max_depth:  # only then can it be too deep: most documents skip the scan
        depth = nesting_depth(raw)
        if depth > max_depth:
            raise JsonTooDeep(f"JSON nested {depth} levels deep; at most {max_depth} levels are accepted")
    try:
        return json.loads(data, parse_constant=_constant)
    except RecursionError:  # cannot happen below MAX_DEPTH; kept so that it never becomes a 500
        raise JsonTooDeep(f"JSON nested too deeply; at most {max_depth} levels are accepted") from None


__all__ = ["MAX_DEPTH", "JsonTooDeep", "loads", "nesting_depth"]
