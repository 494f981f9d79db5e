"""Start a real PostgreSQL (Debian's 15) on a free loopback port, in a throwaway directory.

initdb and the server refuse to run as root, so when the tests run as root every PostgreSQL
command runs as the ``postgres`` system user (``runuser -u postgres --``) on a directory it owns.
The superuser ``postgres`` gets a random password; TCP logins use scram-sha-256, as in production.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import string
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from tests.support.server import free_port

PG_MAJOR = "15"
BIN_DIR_CANDIDATES = (Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin"),)


class PostgresUnavailable(RuntimeError):
    """PostgreSQL binaries (or the postgres system user, when running as root) are missing."""


def find_bin_dir() -> Path:
    """The directory holding initdb/pg_ctl/postgres, or raise PostgresUnavailable."""
    override = os.environ.get("QUAY_TEST_PG_BIN_DIR")
    candidates = (Path(override),) if override else BIN_DIR_CANDIDATES
    for cand in candidates:
        if all((cand / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return cand
    raise PostgresUnavailable(
        f"PostgreSQL {PG_MAJOR} binaries not found in {', '.join(str(c) for c in candidates)} "
        f"(apt-get install postgresql, or set QUAY_TEST_PG_BIN_DIR)"
    )


def _random_password() -> str:
    return secrets.token_urlsafe(24)


def _random_ident(prefix: str) -> str:
    return prefix + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))


@dataclass
class PostgresServer:
    """One PostgreSQL cluster: ``host``/``port`` for TCP, ``superuser``/``password`` to administer it."""

    bin_dir: Path = field(default_factory=find_bin_dir)
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    superuser: str = "postgres"
    password: str = field(default_factory=_random_password)
    base_dir: Path | None = None
    _run_as: list[str] = field(default_factory=list)
    _owned_base: bool = False

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "postgres.log"

    def _cmd(
        self, *args: str | Path, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        cmd = [*self._run_as, *(str(a) for a in args)]
        # cwd: the postgres user may not be able to read the caller's working directory.
        return subprocess.run(
            cmd, capture_output=True, text=True, check=check, timeout=timeout, cwd=self.base_dir
        )

    def _prepare_base(self) -> None:
        if self.base_dir is None:
            # Not under pytest's tmp_path: that lives in a 0700 root directory postgres cannot enter.
            self.base_dir = Path(tempfile.mkdtemp(prefix="quay-test-pg-"))
            self._owned_base = True
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("running as root but there is no 'postgres' system user") from None
            runuser = shutil.which("runuser")
            if not runuser:
                raise PostgresUnavailable("running as root but runuser(1) is missing")
            os.chown(self.base_dir, pw.pw_uid, pw.pw_gid)
            os.chmod(self.base_dir, 0o700)
            self._run_as = [runuser, "-u", "postgres", "--"]

    def start(self, attempts: int = 3) -> PostgresServer:
        self._prepare_base()
        assert self.base_dir is not None
        if not (self.data_dir / "PG_VERSION").exists():
            pwfile = self.base_dir / "pwfile"
            pwfile.write_text(self.password + "\n")
            if self._run_as:
                pw = pwd.getpwnam("postgres")
                os.chown(pwfile, pw.pw_uid, pw.pw_gid)
            os.chmod(pwfile, 0o600)
            try:
                self._cmd(
                    self.bin_dir / "initdb", "-D", self.data_dir, "-U", self.superuser, "--pwfile", pwfile,
                    "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--locale=C.UTF-8",
                    "--no-sync",
                )
            except subprocess.CalledProcessError as exc:
                raise RuntimeError(f"initdb failed ({exc.returncode}):\n{exc.stdout}\n{exc.stderr}") from None
            finally:
                pwfile.unlink(missing_ok=True)
        last_error = ""
        for _ in range(attempts):
            # Throwaway test data: durability settings off for speed. Socket in our own directory.
            options = (
                f"-p {self.port} -h {self.host} -k {self.base_dir} -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=200"
            )
            res = self._cmd(
                self.bin_dir / "pg_ctl", "-D", self.data_dir, "-l", self.log_path, "-o", options,
                "-w", "-t", "60", "start", check=False,
            )
            if res.returncode == 0:
                return self
            last_error = f"{res.stdout}\n{res.stderr}\n{self.log()}"
            if "could not bind" in last_error or "already in use" in last_error:
                self.port = free_port()  # lost a race for the port: try another
                continue
            break
        raise RuntimeError(f"PostgreSQL did not start:\n{last_error}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.base_dir and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.base_dir is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            self._cmd(self.bin_dir / "pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "-t", "30", "stop",
                      check=False)
        if self._owned_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- administration -------------------------------------------------------------------------

    def uri(self, user: str, password: str, dbname: str) -> str:
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{dbname}"

    def admin_uri(self, dbname: str = "postgres") -> str:
        return self.uri(self.superuser, self.password, dbname)

    def execute(self, statements: Sequence[sql.Composed], dbname: str = "postgres") -> None:
        """Run statements as the superuser, in autocommit mode (CREATE/DROP DATABASE need it)."""
        with psycopg.connect(self.admin_uri(dbname), autocommit=True, connect_timeout=10) as conn:
            for stmt in statements:
                conn.execute(stmt)

    def create_database(self) -> tuple[str, str, str]:
        """A new role (random name and password) owning a new database. Returns (user, password, db)."""
        user, dbname, password = _random_ident("u_"), _random_ident("db_"), _random_password()
        self.execute([
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(user), sql.Literal(password)),
            sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                sql.Identifier(dbname), sql.Identifier(user)),
        ])
        return user, password, dbname

    def drop_database(self, user: str, dbname: str) -> None:
        self.execute([
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)),
            sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)),
        ])

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_uri(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
