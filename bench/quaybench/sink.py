"""A null HTTP server used to measure the benchmark's own clients (curl, the chunked client).

It drains request bodies into a reusable buffer and answers like a registry would (202 with a
Location for POST/PATCH, 201 for PUT); GET streams a file with sendfile(). Whatever rate a
client reaches against it is that client's ceiling on this machine: if the registries run well
below it, the client is not the limit.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import socketserver

from .util import wait_until


class _Handler(socketserver.BaseRequestHandler):
    blob_path: str = ""

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        pending = b""
        for _ in range(1_000_000):  # bounded: one iteration per request on this connection
            while b"\r\n\r\n" not in pending:
                data = sock.recv(65536)
                if not data:
                    return
                pending += data
            head, _, pending = pending.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method = lines[0].split(" ", 1)[0]
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            if headers.get("expect", "").lower() == "100-continue":
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            remaining = int(headers.get("content-length", "0") or 0)
            take = min(remaining, len(pending))
            pending = pending[take:]
            remaining -= take
            while remaining > 0:
                n = sock.recv_into(view, min(remaining, len(buf)))
                if n == 0:
                    return
                remaining -= n
            if method == "GET":
                size = os.path.getsize(self.blob_path)
                sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n"
                             "Content-Type: application/octet-stream\r\n\r\n".encode())
                with open(self.blob_path, "rb") as fh:
                    offset = 0
                    while offset < size:
                        sent = os.sendfile(sock.fileno(), fh.fileno(), offset, size - offset)
                        if sent == 0:
                            return
                        offset += sent
            elif method == "HEAD":
                sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            elif method == "PUT":
                sock.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n"
                             b"Docker-Content-Digest: sha256:0\r\n\r\n")
            else:
                sock.sendall(b"HTTP/1.1 202 Accepted\r\nLocation: /v2/sink/blobs/uploads/x\r\n"
                             b"Range: 0-0\r\nContent-Length: 0\r\n\r\n")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _serve(port: int, blob_path: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler raises; not wanted here
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _Handler.blob_path = blob_path
    with _Server(("127.0.0.1", port), _Handler) as srv:
        srv.serve_forever()


class Sink:
    def __init__(self, port: int, blob_path: str) -> None:
        ctx = multiprocessing.get_context("fork")
        self.proc = ctx.Process(target=_serve, args=(port, blob_path), daemon=True)
        self.proc.start()
        self.url = f"http://127.0.0.1:{port}"

        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True

        wait_until(listening, 10, what="sink server")

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)
