"""Small helpers shared by the benchmark modules: HTTP one-shots, ports, logging."""

from __future__ import annotations

import http.client
import socket
import statistics
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

MB = 1_000_000  # throughput is reported in MB/s = 10^6 bytes per second
MiB = 1 << 20


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """A measurement could not be made (wrong status, server died, ...)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        value = self.headers.get(name)
        return default if value is None else value


def request(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 60.0,
) -> Response:
    """One request on a fresh connection (used only outside timed sections)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path or "/", body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.headers, data)
    finally:
        conn.close()


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as exc:  # the server may not be listening yet
            last_exc = exc
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_exc!r})")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
