"""The machine's own limits, measured in the same run as the registries.

A registry cannot push faster than one core hashes SHA-256, than the disk takes bytes with fsync,
or than loopback TCP carries them; it cannot serve a blob faster than nginx's sendfile() of the
same file from the same filesystem. These give each registry figure a ceiling to be read against.
"""

from __future__ import annotations

import mmap
import os
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from .procs import ManagedProcess, run_checked
from .util import MB, BenchError, MiB, free_port, request, wait_until

WRITE_BYTES = 4 * MiB  # registry_app writes an upload in writev()s of 4 MiB or more


def disk_fsync_rate(directory: Path, source: Path, size: int) -> tuple[float, str]:
    """MB/s for writing `size` bytes to a new file in `directory` and fsync()ing it.

    The bytes come from `source` (tmpfs, mmapped) in 4 MiB write()s; the clock runs from open()
    to the end of fsync(), as for an upload that must be durable before it is acknowledged.
    """
    path = directory / f"fsync-probe-{time.time_ns()}.bin"
    os.sync()  # the previous run's dirty pages must not be flushed inside this one's fsync
    with open(source, "rb") as src, mmap.mmap(src.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        try:
            t0 = time.perf_counter()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                off = 0
                while off < size:  # bounded: size / 4 MiB iterations
                    off += os.write(fd, view[off:min(off + WRITE_BYTES, size)])
                t_written = time.perf_counter()
                os.fsync(fd)
            finally:
                os.close(fd)
            elapsed = time.perf_counter() - t0
        finally:
            view.release()
            path.unlink(missing_ok=True)
    written = t_written - t0
    return size / MB / elapsed, f"{elapsed:.2f}s (write {written:.2f}s, fsync {elapsed - written:.2f}s)"


def loopback_rate(sink_url: str, source: Path) -> tuple[float, str]:
    """MB/s for one PUT of `source` to the null sink over loopback TCP, sent with sendfile().

    The sink (sink.py) drains the body into a reused buffer and answers 201: the figure is what
    the kernel's loopback path plus one receive copy allow, with no registry work at all.
    """
    parts = urlsplit(sink_url)
    size = source.stat().st_size
    head = (f"PUT /v2/sink/blobs/uploads/x?digest=sha256:0 HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n").encode()
    addr = (parts.hostname, parts.port)
    with socket.create_connection(addr, timeout=120) as sock, open(source, "rb") as fh:
        t0 = time.perf_counter()
        sock.sendall(head)
        sent = sock.sendfile(fh)
        reply = b""
        while b"\r\n\r\n" not in reply:  # bounded: the sink answers with one short header block
            data = sock.recv(4096)
            if not data:
                break
            reply += data
        elapsed = time.perf_counter() - t0
    if sent != size or not reply.startswith(b"HTTP/1.1 201"):
        raise BenchError(f"loopback probe: sent {sent} of {size} bytes, reply {reply[:80]!r}")
    return size / MB / elapsed, f"{elapsed:.2f}s"


class Nginx:
    """Debian's nginx serving one directory on a loopback port, sendfile on: the serving ceiling.

    Started by hand from a generated config in `workdir` (no system config, no service), in the
    foreground of its own process group like the registries, and stopped with them.
    """

    def __init__(self, workdir: Path, root: Path, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(self.binary).exists():
            raise BenchError("nginx not found (apt-get install nginx); the serving ceiling is not measured")
        res = run_checked([self.binary, "-v"], timeout=10)
        self.label = (res.stdout + res.stderr).decode().strip().replace("nginx version: ", "")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: ManagedProcess | None = None

    def _config(self) -> Path:
        w = self.workdir
        # As root, workers would drop to `nobody`, who cannot read the benchmark's 0700 temp dirs.
        user = "user root;\n" if os.geteuid() == 0 else ""
        kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        temp = "".join(f"  {k}_temp_path {w}/{k};\n" for k in kinds)
        text = (
            f"{user}daemon off;\nworker_processes auto;\npid {w}/nginx.pid;\nerror_log {w}/error.log warn;\n"
            "events { worker_connections 512; }\n"
            "http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n"
            "  default_type application/octet-stream;\n"
            f"{temp}"
            f"  server {{\n    listen 127.0.0.1:{self.port};\n    root {self.root};\n  }}\n}}\n"
        )
        path = w / "nginx.conf"
        path.write_text(text)
        return path

    def start(self) -> None:
        conf = self._config()
        # -e: the error log before the config is read (otherwise /var/log/nginx/error.log).
        self.proc = ManagedProcess("nginx", [self.binary, "-p", str(self.workdir), "-e",
                                             str(self.workdir / "error.log"), "-c", str(conf)],
                                   self.workdir / "nginx.out")
        proc = self.proc

        def ready() -> bool:
            if not proc.alive():
                raise BenchError(f"nginx exited:\n{proc.log_tail()}\n"
                                 f"{(self.workdir / 'error.log').read_text(errors='replace')[-800:]}")
            return request("GET", f"{self.base_url}/", timeout=2).status in (200, 403, 404)

        wait_until(ready, 20, what="nginx")

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
