"""Digests whose running state can be saved and resumed in another process.

A chunked upload's PATCH requests may land on different worker processes, or on a restarted
server. ``hashlib`` objects cannot be serialised, and the PyPI packages that once did this (rehash)
do not support OpenSSL 3, so we call OpenSSL's SHA256_*/SHA512_* functions (deprecated in 3.0 but
still exported) through ctypes and keep the raw context bytes. The context is a plain C struct, so
its bytes are a complete, portable-on-this-host snapshot. If libcrypto lacks the functions, the
hasher falls back to hashlib and reports that its state cannot be saved; the caller then re-hashes
the stored upload at commit time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import struct
from typing import Protocol

SUPPORTED = ("sha256", "sha512")
DIGEST_HEX_LEN = {"sha256": 64, "sha512": 128}

# sizeof(SHA256_CTX) is 112 and sizeof(SHA512_CTX) is 216 on x86_64/aarch64; we reserve more.
_CTX_BUF = 256
_CTX_SIZE = {"sha256": 112, "sha512": 216}
_OUT_SIZE = {"sha256": 32, "sha512": 64}


def _load() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("crypto")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    for alg in ("SHA256", "SHA512"):
        for fn in ("Init", "Update", "Final"):
            if not hasattr(lib, f"{alg}_{fn}"):
                return None
    for alg in ("SHA256", "SHA512"):
        getattr(lib, f"{alg}_Update").argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t)
        getattr(lib, f"{alg}_Init").argtypes = (ctypes.c_void_p,)
        getattr(lib, f"{alg}_Final").argtypes = (ctypes.c_char_p, ctypes.c_void_p)
    return lib


_LIB = _load()


class Hasher(Protocol):
    algorithm: str

    def update(self, data: bytes | bytearray | memoryview) -> None: ...
    def hexdigest(self) -> str: ...
    def state(self) -> bytes | None: ...


class ResumableHasher:
    """SHA-256/512 over OpenSSL's low-level API; ``state()`` snapshots, ``resume()`` restores."""

    def __init__(self, algorithm: str, state: bytes | None = None) -> None:
        if _LIB is None:
            raise RuntimeError("libcrypto low-level SHA functions are not available")
        self.algorithm = algorithm
        self._prefix = "SHA256" if algorithm == "sha256" else "SHA512"
        self._ctx = ctypes.create_string_buffer(_CTX_BUF)
        if state is None:
            getattr(_LIB, f"{self._prefix}_Init")(self._ctx)
        else:
            if len(state) != _CTX_SIZE[algorithm]:
                raise ValueError("saved hash state has the wrong size")
            ctypes.memmove(self._ctx, state, len(state))
        self._update = getattr(_LIB, f"{self._prefix}_Update")

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if isinstance(data, bytearray):  # hashed in place: no copy
            self._update(self._ctx, (ctypes.c_char * len(data)).from_buffer(data), len(data))
            return
        if not isinstance(data, bytes):
            data = bytes(data)
        self._update(self._ctx, data, len(data))

    def state(self) -> bytes | None:
        return self._ctx.raw[: _CTX_SIZE[self.algorithm]]

    def hexdigest(self) -> str:
        ctx = ctypes.create_string_buffer(self._ctx.raw, _CTX_BUF)  # Final must not consume ours
        out = ctypes.create_string_buffer(_OUT_SIZE[self.algorithm])
        getattr(_LIB, f"{self._prefix}_Final")(out, ctx)
        return out.raw.hex()


class PlainHasher:
    """hashlib fallback: same interface, but its state cannot be saved."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._h = hashlib.new(algorithm)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._h.update(data)

    def state(self) -> bytes | None:
        return None

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def hashed_bytes(algorithm: str, state: bytes) -> int:
    """How many bytes a saved state has consumed: the bit count OpenSSL keeps in the context
    (SHA256_CTX: two 32-bit words after h[8]; SHA512_CTX: two 64-bit words after h[8])."""
    if len(state) != _CTX_SIZE.get(algorithm):
        raise ValueError("saved hash state has the wrong size")
    if algorithm == "sha256":
        low, high = struct.unpack_from("=II", state, 32)
        return ((high << 32) | low) // 8
    low, high = struct.unpack_from("=QQ", state, 64)
    return ((high << 64) | low) // 8


def new_hasher(algorithm: str, state: bytes | None = None) -> Hasher:
    if algorithm not in SUPPORTED:
        raise ValueError(f"unsupported digest algorithm {algorithm}")
    if _LIB is not None:
        return ResumableHasher(algorithm, state)
    if state is not None:
        raise ValueError("cannot resume a hash without libcrypto")
    return PlainHasher(algorithm)


def resumable() -> bool:
    return _LIB is not None
