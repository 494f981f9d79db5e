"""Start a real ``redis-server`` (Debian's) on a free loopback port with a random password.

The configuration (``requirepass`` included) is written to a 0600 file in a throwaway directory and
given to redis-server as its argument, so the password is never on a command line. ``stop()`` and
``start()`` again on the same port let a test take Redis away and bring it back.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.support.server import free_port


class RedisServerUnavailable(RuntimeError):
    """redis-server is not installed."""


@dataclass
class RedisServer:
    directory: Path
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def config_block(self) -> dict[str, Any]:
        """The value of USER_EVENTS_REDIS / BUILDLOGS_REDIS for a registry_app bundle."""
        return {"host": "127.0.0.1", "port": self.port, "password": self.password}

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, decode_responses=True)

    def start(self, timeout: float = 30.0) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RedisServerUnavailable("redis-server is not installed; apt-get install redis-server")
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "redis.conf"
        conf.touch(mode=0o600)
        conf.write_text(
            f"bind 127.0.0.1\nport {self.port}\nrequirepass {self.password}\ndir {self.directory}\n"
            'save ""\nappendonly no\ndaemonize no\nlogfile ""\n'
        )
        log = open(self.directory / "redis.log", "ab")
        self.proc = subprocess.Popen([binary, str(conf)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            try:
                if self.client().ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer in {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
