"""HTTP/1.1 requests over a raw socket, for tests of what the server does *while* a body arrives.

httpx and http.client send the whole body before they read an answer, so they cannot show that a
server answered early (without reading the body) or dropped a client that stopped sending.
``send_body`` sends a request head and then body pieces, each after a pause, and stops sending as
soon as the server answers; ``Answer`` says what came back, how much of the body had been sent by
then, and whether the server closed the connection afterwards. ``process_tree_rss`` measures the
server's memory.
"""

from __future__ import annotations

import base64
import http.client
import io
import os
import select
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Answer:
    status: int | None  # None: no answer before the deadline
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes (chunk framing excluded) sent before the answer came
    closed: bool  # the server closed the connection after answering
    seconds: float  # from the request head to the end of the answer (or the deadline)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _read_answer(sock: socket.socket, deadline: float) -> tuple[int | None, dict[str, str], bytes, bool]:
    """Parse one response from ``sock``, then see whether the server closes the connection."""
    sock.setblocking(True)
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    resp = http.client.HTTPResponse(sock)  # type: ignore[arg-type]  # it only calls makefile()
    try:
        resp.begin()
        body = resp.read()
    except (TimeoutError, ConnectionError, http.client.HTTPException):
        return None, {}, b"", False
    headers = {k.lower(): v for k, v in resp.getheaders()}
    sock.settimeout(min(10.0, max(0.1, deadline - time.monotonic())))
    try:
        closed = sock.recv(1) == b""
    except ConnectionResetError:
        closed = True
    except TimeoutError:
        closed = False
    return resp.status, headers, body, closed


def send_body(
    host: str,
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    pieces: Iterable[tuple[float, bytes]],
    *,
    chunked: bool = False,
    timeout: float = 120.0,
) -> Answer:
    """Send the head, then each ``(pause, data)`` piece after ``pause`` seconds, until the server
    answers or the pieces run out (then wait for the answer). ``chunked`` frames the pieces with
    Transfer-Encoding: chunked (and ends the body); otherwise give Content-Length in ``headers``."""
    start = time.monotonic()
    deadline = start + timeout
    hdrs = {"Host": f"{host}:{port}", **headers}
    if chunked:
        hdrs["Transfer-Encoding"] = "chunked"
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    sock = socket.create_connection((host, port), timeout=timeout)
    sent = 0
    try:
        sock.sendall(head.encode("latin-1"))
        sock.setblocking(False)
        answered = False

        def push(data: bytes) -> bool:
            """Send ``data`` unless an answer arrives first; False once the server answered or left."""
            view = memoryview(data)
            while view:
                readable, writable, _ = select.select([sock], [sock], [], max(0.0, deadline - time.monotonic()))
                if readable:
                    return False
                if not writable:
                    return False  # deadline
                try:
                    view = view[sock.send(view) :]
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    return False
            return True

        for pause, data in pieces:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if pause > 0 and select.select([sock], [], [], min(pause, left))[0]:
                answered = True
                break
            framed = f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data
            if not data:
                continue
            if not push(framed):
                answered = True
                break
            sent += len(data)
        if not answered and chunked:
            push(b"0\r\n\r\n")
        status, rheaders, body, closed = _read_answer(sock, deadline)
        return Answer(status, rheaders, body, sent, closed, time.monotonic() - start)
    finally:
        sock.close()


def stream(chunks: Iterable[bytes]) -> Iterable[tuple[float, bytes]]:
    """Pieces without pauses."""
    return ((0.0, c) for c in chunks)


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (granian's workers are children of the server process)."""
    parents = {p: _parent(p) for p in (int(d) for d in os.listdir("/proc") if d.isdigit())}
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def process_tree_rss(pid: int) -> int:
    """The resident memory (VmRSS, bytes) of ``pid`` and its descendants together."""
    total = 0
    for p in process_tree(pid):
        try:
            text = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue  # exited meanwhile
        for line in io.StringIO(text):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total
