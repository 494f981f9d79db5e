"""Start a real OpenLDAP ``slapd`` (Debian's) on a free loopback port, in a throwaway directory.

The server runs in the foreground as a child process (``-d 0``), with an mdb database for
``dc=example,dc=org`` whose root DN is ``cn=admin,dc=example,dc=org``. The admin password is random
and travels to ``ldapadd`` through a 0600 file (``-y``), never on a command line. Entries are added
over LDAP with ``ldapadd``, as an administrator would.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import ldap3

from tests.support.server import free_port

SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
PEOPLE_DN = f"ou=people,{SUFFIX}"


class SlapdUnavailable(RuntimeError):
    """slapd, ldapadd or the schema files are missing."""


def find_tools() -> tuple[str, str]:
    """(slapd, ldapadd) paths, or raise SlapdUnavailable."""
    slapd = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").is_file() else None)
    ldapadd = shutil.which("ldapadd")
    missing = [name for name, path in (("slapd", slapd), ("ldapadd", ldapadd)) if not path]
    schemas = [SCHEMA_DIR / f"{name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")]
    missing += [str(p) for p in schemas if not p.is_file()]
    if missing or slapd is None or ldapadd is None:
        raise SlapdUnavailable(
            f"OpenLDAP is not installed (missing: {', '.join(missing)}); apt-get install slapd ldap-utils"
        )
    return slapd, ldapadd


def ssha(password: str) -> str:
    """An RFC 2307 {SSHA} userPassword value, as ``slappasswd`` makes."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - the format slapd verifies
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


@dataclass(frozen=True)
class Person:
    uid: str
    password: str
    mail: str | None = None
    employee_types: tuple[str, ...] = ()

    @property
    def dn(self) -> str:
        return f"uid={self.uid},{PEOPLE_DN}"

    def ldif(self) -> str:
        lines = [
            f"dn: {self.dn}",
            "objectClass: inetOrgPerson",
            f"uid: {self.uid}",
            f"cn: {self.uid.capitalize()}",
            f"sn: {self.uid.capitalize()}",
            f"userPassword: {ssha(self.password)}",
        ]
        if self.mail:
            lines.append(f"mail: {self.mail}")
        lines += [f"employeeType: {t}" for t in self.employee_types]
        return "\n".join(lines) + "\n"


@dataclass
class SlapdServer:
    """One slapd. ``uri`` is ldap://127.0.0.1:PORT; ``admin_dn``/``admin_password`` administer it."""

    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    base_dir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    tls_cert: Path | None = None  # with tls_key: also listen on ldaps://127.0.0.1:TLS_PORT
    tls_key: Path | None = None
    tls_port: int = field(default_factory=free_port)
    _tools: tuple[str, str] = field(default_factory=find_tools)

    admin_dn = ADMIN_DN
    suffix = SUFFIX
    people_dn = PEOPLE_DN

    @property
    def uri(self) -> str:
        return f"ldap://{self.host}:{self.port}"

    @property
    def ldaps_uri(self) -> str:
        return f"ldaps://{self.host}:{self.tls_port}"

    @property
    def log_path(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "slapd.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.base_dir and self.log_path.exists() else ""

    def _write_config(self) -> Path:
        assert self.base_dir is not None
        data = self.base_dir / "data"
        data.mkdir(exist_ok=True)
        includes = "".join(
            f"include {SCHEMA_DIR / name}.schema\n" for name in ("core", "cosine", "inetorgperson", "nis")
        )
        tls = f"TLSCertificateFile {self.tls_cert}\nTLSCertificateKeyFile {self.tls_key}\n" if self.tls_cert else ""
        conf = self.base_dir / "slapd.conf"
        conf.write_text(
            f"{includes}"
            f"pidfile {self.base_dir / 'slapd.pid'}\n"
            f"argsfile {self.base_dir / 'slapd.args'}\n"
            f"modulepath {MODULE_DIR}\n"
            "moduleload back_mdb\n"
            f"{tls}"
            "database mdb\n"
            "maxsize 16777216\n"
            f'suffix "{SUFFIX}"\n'
            f'rootdn "{ADMIN_DN}"\n'
            f"rootpw {ssha(self.admin_password)}\n"
            f"directory {data}\n"
            "access to attrs=userPassword by self write by anonymous auth by * none\n"
            "access to * by users read by * none\n"
        )
        conf.chmod(0o600)
        return conf

    def start(self, attempts: int = 3, timeout: float = 30.0) -> SlapdServer:
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="quay-test-ldap-"))
        conf = self._write_config()
        slapd = self._tools[0]
        last = ""
        for _ in range(attempts):
            log = open(self.log_path, "ab")
            # -d 0: stay in the foreground (our child, stopped by pid), no debug output.
            self.proc = subprocess.Popen(
                [slapd, "-d", "0", "-f", str(conf), "-h", self._listen()],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.base_dir,
            )
            log.close()
            try:
                self.wait_ready(timeout)
                return self
            except RuntimeError as exc:
                last = str(exc)
                self.stop_process()
                if "Address already in use" in last:
                    self.port, self.tls_port = free_port(), free_port()  # lost a race for a port
                    continue
                break
        raise RuntimeError(f"slapd did not start: {last}")

    def _listen(self) -> str:
        return f"{self.uri}/" + (f" {self.ldaps_uri}/" if self.tls_cert else "")

    def wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"slapd exited with {self.proc.returncode}:\n{self.log()}")
            try:
                # A new Server each time: ldap3 marks a refused address unusable for 5 s.
                server = ldap3.Server(self.uri, connect_timeout=2, get_info=ldap3.NONE)
                conn = ldap3.Connection(server, self.admin_dn, self.admin_password, receive_timeout=2)
                if conn.bind():
                    conn.unbind()
                    return
                conn.unbind()
            except ldap3.core.exceptions.LDAPException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"slapd did not answer on {self.uri} within {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def ldapadd(self, ldif: str) -> None:
        """Add entries as the admin with ``ldapadd`` (password from a 0600 file, not argv)."""
        assert self.base_dir is not None
        pwfile = self.base_dir / "admin.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.admin_password)  # -y uses the file's bytes exactly: no newline
        try:
            res = subprocess.run(
                [self._tools[1], "-x", "-H", self.uri, "-D", self.admin_dn, "-y", str(pwfile)],
                input=ldif.encode(), capture_output=True, timeout=60, check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise RuntimeError(f"ldapadd exited {res.returncode}:\n{res.stdout.decode()}{res.stderr.decode()}")

    def add_tree(self) -> None:
        """The suffix entry and ou=people."""
        self.ldapadd(
            f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n"
            f"dn: {PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people\n"
        )

    def add_people(self, people: list[Person]) -> None:
        self.ldapadd("\n".join(p.ldif() for p in people))

    def stop_process(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.stop_process()
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
