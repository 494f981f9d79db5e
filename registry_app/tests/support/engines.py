"""Real container clients for end-to-end tests: dockerd, podman, buildah and skopeo.

The machine has no systemd and cgroups v1/hybrid (see shared/ENVIRONMENT.md), so:

* ``ensure_containers_conf`` merges ``runtime = "runc"``, ``cgroup_manager = "cgroupfs"`` and low
  default ulimits into /etc/containers/containers.conf (keys already set are left alone);
* ``ensure_daemon_json`` merges the cgroupfs driver and low ulimits into /etc/docker/daemon.json;
* ``Dockerd`` starts a private dockerd (own data-root, exec-root, pidfile, unix socket, containerd
  namespace, no bridge and no iptables changes) so it cannot disturb another daemon on the host;
* ``ContainersClients`` runs podman/buildah/skopeo with a private storage root and auth file.

Missing clients skip a test, except under CI (``CI=true``) where they fail it: CI must not go green
by not running these tests.

HTTPS trust is what a user would configure: ``trust_ca`` drops the CA into
/etc/containers/certs.d/HOST:PORT/ca.crt and /etc/docker/certs.d/HOST:PORT/ca.crt and removes it
afterwards. dockerd treats every registry whose address is in 127.0.0.0/8 as "insecure" and then
skips certificate verification altogether, so HTTPS against 127.0.0.1 would prove nothing for
docker. ``netns_host`` therefore makes a test host: a network namespace per session (per xdist
worker) joined to the host by a veth pair with a private /30 (10.254.N.1 on the host, 10.254.N.2
inside). The HTTPS server for docker runs inside it (``ip netns exec``) on 10.254.N.2, an address
dockerd does verify; nothing else on the machine answers there, and nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CONTAINERS_CONF = Path("/etc/containers/containers.conf")
DOCKER_DAEMON_JSON = Path("/etc/docker/daemon.json")
CONTAINERS_CERTS_D = Path("/etc/containers/certs.d")
DOCKER_CERTS_D = Path("/etc/docker/certs.d")

# The docker.io CLI (20.10, matches the daemon). /usr/local/bin/docker is another client.
DOCKER_CLI = "/usr/bin/docker"
DOCKERD = "dockerd"

APT_PACKAGE = {
    "skopeo": "skopeo",
    "podman": "podman",
    "buildah": "buildah",
    DOCKER_CLI: "docker.io",
    DOCKERD: "docker.io",
    "runc": "runc",
    "ip": "iproute2",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip outside CI; fail in CI (a missing client there is a broken CI machine, not a pass)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: client tests must run)", pytrace=False)
    pytest.skip(reason)


def require(binary: str) -> str:
    """Absolute path of ``binary`` (a name on PATH or an absolute path), or skip/fail."""
    if os.path.isabs(binary):
        path = binary if os.access(binary, os.X_OK) else None
    else:
        path = shutil.which(binary)
    if not path:
        unavailable(f"{binary} is not installed (apt-get install {APT_PACKAGE.get(binary, binary)})")
    assert path
    return path


class ClientError(AssertionError):
    """A client command failed; the message carries the command, exit code, stdout and stderr."""

    def __init__(self, cmd: Sequence[str], returncode: int | None, stdout: str, stderr: str, note: str = "") -> None:
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"{note}command failed (exit {returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{stdout[-4000:]}\n--- stderr ---\n{stderr[-6000:]}"
        )


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 180,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(cmd),
            env=dict(env) if env is not None else None,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:

        def text(b: bytes | str | None) -> str:
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")

        raise ClientError(cmd, None, text(exc.stdout), text(exc.stderr), f"timed out after {timeout}s: ") from None
    if check and proc.returncode != 0:
        raise ClientError(cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc


def client_env(**extra: str) -> dict[str, str]:
    """The environment for client processes: loopback and the test host never go through a proxy."""
    env = dict(os.environ)
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1,localhost", netns_for_worker().address]))
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------------
# Engine configuration files (merged, never clobbered)
# --------------------------------------------------------------------------------------------

CONTAINERS_CONF_WANTED: dict[str, dict[str, str]] = {
    "containers": {"default_ulimits": '["nofile=1024:1024", "nproc=1024:1024"]'},
    "engine": {"runtime": '"runc"', "cgroup_manager": '"cgroupfs"', "events_logger": '"file"'},
}


def ensure_containers_conf(path: Path = CONTAINERS_CONF) -> list[str]:
    """Add the keys this machine needs to containers.conf where they are missing. Returns what was added."""
    text = path.read_text() if path.exists() else ""
    current = tomllib.loads(text) if text else {}
    lines = text.splitlines()
    added = []
    for section, keys in CONTAINERS_CONF_WANTED.items():
        missing = [(k, v) for k, v in keys.items() if k not in current.get(section, {})]
        if not missing:
            continue
        new = [f"{k} = {v}" for k, v in missing]
        header = f"[{section}]"
        idx = next((i for i, line in enumerate(lines) if line.strip() == header), None)
        if idx is None:
            lines += ["", header, *new]
        else:
            lines[idx + 1 : idx + 1] = new
        added += [f"{section}.{k}" for k, _ in missing]
    if added:
        result = "\n".join(lines).lstrip("\n") + "\n"
        tomllib.loads(result)  # never write a file podman cannot parse
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(result)
        tmp.replace(path)
    return added


DAEMON_JSON_WANTED = {
    "exec-opts": ["native.cgroupdriver=cgroupfs"],
    "default-ulimits": {
        "nofile": {"Name": "nofile", "Soft": 1024, "Hard": 1024},
        "nproc": {"Name": "nproc", "Soft": 1024, "Hard": 1024},
    },
}


def ensure_daemon_json(path: Path = DOCKER_DAEMON_JSON) -> dict[str, object]:
    """Merge the keys ENVIRONMENT.md asks for into daemon.json (existing values win). Returns the result."""
    current: dict[str, object] = json.loads(path.read_text()) if path.exists() and path.read_text().strip() else {}
    merged = dict(current)
    opts = list(merged.get("exec-opts") or [])  # type: ignore[call-overload]
    if not any(str(o).startswith("native.cgroupdriver=") for o in opts):
        opts.append("native.cgroupdriver=cgroupfs")
    merged["exec-opts"] = opts
    ulimits = dict(merged.get("default-ulimits") or {})  # type: ignore[call-overload]
    for name, value in DAEMON_JSON_WANTED["default-ulimits"].items():  # type: ignore[attr-defined]
        ulimits.setdefault(name, value)
    merged["default-ulimits"] = ulimits
    if merged != current:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(merged, indent=2) + "\n")
        tmp.replace(path)
    return merged


# Keys our private dockerd sets by flag; dockerd refuses a key given both ways.
_DOCKERD_FLAG_KEYS = {
    "hosts",
    "data-root",
    "graph",
    "exec-root",
    "pidfile",
    "bridge",
    "bip",
    "iptables",
    "ip6tables",
    "ip-masq",
    "containerd",
    "containerd-namespace",
    "containerd-plugin-namespace",
    "userland-proxy",
}


# --------------------------------------------------------------------------------------------
# dockerd
# --------------------------------------------------------------------------------------------


@dataclass
class Dockerd:
    """A private dockerd. ``docker(*args, config=DIR)`` runs /usr/bin/docker against it."""

    base: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def socket(self) -> Path:
        return self.base / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> Path:
        return self.base / "dockerd.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 90.0) -> Dockerd:
        dockerd = require(DOCKERD)
        require(DOCKER_CLI)
        require("runc")
        self.base.mkdir(parents=True, exist_ok=True)
        merged = ensure_daemon_json()
        config = {k: v for k, v in merged.items() if k not in _DOCKERD_FLAG_KEYS}
        config_file = self.base / "daemon.json"
        config_file.write_text(json.dumps(config, indent=2))
        ns = f"registry-app-tests-{os.getpid()}"
        cmd = [
            dockerd,
            "--config-file",
            str(config_file),
            "--host",
            self.host,
            "--data-root",
            str(self.base / "data"),
            "--exec-root",
            str(self.base / "exec"),
            "--pidfile",
            str(self.base / "dockerd.pid"),
            "--containerd-namespace",
            ns,
            "--containerd-plugins-namespace",
            f"{ns}-plugins",
            "--bridge",
            "none",
            "--iptables=false",
            "--ip-masq=false",
        ]
        log = open(self.log_path, "ab")  # the child keeps it
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=client_env(), start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.proc.returncode}:\n{self.log()[-6000:]}")
            if self.socket.exists():
                ok = run(
                    [DOCKER_CLI, "version", "--format", "{{.Server.Version}}"],
                    env=self.env(self.base / "cli-probe"),
                    check=False,
                    timeout=20,
                )
                if ok.returncode == 0:
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"dockerd did not answer on {self.socket} in {timeout}s:\n{self.log()[-6000:]}")

    def env(self, config_dir: Path) -> dict[str, str]:
        config_dir.mkdir(parents=True, exist_ok=True)
        cfg = config_dir / "config.json"
        if not cfg.exists():
            cfg.write_text('{"auths": {}}\n')  # no credsStore: creds stay in this directory
        return client_env(DOCKER_HOST=self.host, DOCKER_CONFIG=str(config_dir))

    def docker(
        self, *args: str, config_dir: Path, input: str | None = None, timeout: float = 180, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run([DOCKER_CLI, *args], env=self.env(config_dir), input=input, timeout=timeout, check=check)

    def stop(self) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # dockerd and the containerd it manages
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # containerd-shim processes are not expected (no containers run), but be sure.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# podman / buildah / skopeo
# --------------------------------------------------------------------------------------------


@dataclass
class ContainersClients:
    """podman, buildah and skopeo sharing one private storage root and one auth file (``close()`` or
    ``with``: unmounts what podman left mounted and removes the run root)."""

    base: Path
    authfile: Path = field(init=False)
    runroot: Path = field(init=False)

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        # podman refuses a runroot path longer than 50 characters; pytest's tmp paths are longer.
        self.runroot = Path(tempfile.mkdtemp(prefix="rapp-run-", dir="/tmp"))
        self.authfile = self.base / "auth.json"
        if not self.authfile.exists():
            self.authfile.write_text('{"auths": {}}\n')

    @property
    def env(self) -> dict[str, str]:
        return client_env(REGISTRY_AUTH_FILE=str(self.authfile), TMPDIR=str(self._dir("tmp")))

    def _dir(self, name: str) -> Path:
        path = self.base / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def storage_opts(self) -> list[str]:
        return ["--root", str(self._dir("root")), "--runroot", str(self.runroot)]

    def __enter__(self) -> ContainersClients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # A podman command that fails (a refused pull or push) exits without unmounting its
        # overlay storage home (root/overlay): unmount what is left under this client's dirs.
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for base in (str(self.base), str(self.runroot)):
            for mountpoint in sorted((m for m in mounts if m.startswith(f"{base}/")), key=len, reverse=True):
                subprocess.run(["umount", mountpoint], check=False, capture_output=True)
        shutil.rmtree(self.runroot, ignore_errors=True)

    @property
    def podman_options(self) -> list[str]:
        """podman's global options for this client (private storage, no systemd, runc)."""
        return [
            *self.storage_opts,
            "--tmpdir",
            str(self._dir("libpod-tmp")),
            "--events-backend",
            "file",
            "--cgroup-manager",
            "cgroupfs",
            "--runtime",
            "runc",
        ]

    def podman(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        podman = require("podman")
        return run([podman, *self.podman_options, *args], env=self.env, input=input, check=check, timeout=timeout)

    def buildah(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        buildah = require("buildah")
        return run([buildah, *self.storage_opts, *args], env=self.env, input=input, check=check, timeout=timeout)

    def skopeo(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        skopeo = require("skopeo")
        return run([skopeo, *args], env=self.env, input=input, check=check, timeout=timeout)


# --------------------------------------------------------------------------------------------
# TLS trust and a test host in a network namespace for dockerd
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def trust_ca(hosts: Sequence[str], ca_file: Path) -> Iterator[list[Path]]:
    """Install ``ca_file`` as certs.d/HOST/ca.crt for containers and docker; remove it afterwards."""
    created: list[Path] = []
    written: list[Path] = []
    try:
        for root in (CONTAINERS_CERTS_D, DOCKER_CERTS_D):
            for host in hosts:
                d = root / host
                if not d.exists():
                    # Remember every level we create so cleanup leaves no empty directories behind.
                    missing = [p for p in [d, *d.parents] if not p.exists()]
                    d.mkdir(parents=True)
                    created += missing  # deepest first
                target = d / "ca.crt"
                if target.exists():
                    raise RuntimeError(f"{target} already exists; refusing to overwrite another CA")
                shutil.copyfile(ca_file, target)
                written.append(target)
        yield written
    finally:
        for path in written:
            path.unlink(missing_ok=True)
        for d in sorted(set(created), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()


@dataclass(frozen=True)
class NetnsHost:
    """A test host: network namespace ``name`` joined to the host by the veth pair ``host_if``/``ns_if``.

    The host side has ``host_address``/30, the namespace side ``address``/30 and ``lo`` is up inside.
    A server started with ``ip netns exec NAME`` and bound to ``address`` is reachable from the host
    (dockerd, skopeo, httpx) through the veth, and from nowhere else.
    """

    name: str
    host_if: str
    ns_if: str
    host_address: str
    address: str

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self.address}/30", strict=False)


def netns_for_worker(worker: str | None = None) -> NetnsHost:
    """The namespace, veth names and /30 of this pytest session (one per xdist worker).

    Without xdist: ``quaytest-main``, 10.254.0.0/30; xdist worker ``gwK``: ``quaytest-gwK``,
    10.254.(K+1).0/30. Interface names stay below the kernel's 15 characters.
    """
    worker = worker or os.environ.get("PYTEST_XDIST_WORKER") or "main"
    if worker.startswith("gw") and worker[2:].isdigit():
        n = int(worker[2:]) + 1
    else:
        worker, n = "main", 0
    if n > 253:
        raise RuntimeError(f"xdist worker {worker}: no 10.254.x.0/30 left for its test host")
    return NetnsHost(
        name=f"quaytest-{worker}",
        host_if=f"qt{n}h",
        ns_if=f"qt{n}n",
        host_address=f"10.254.{n}.1",
        address=f"10.254.{n}.2",
    )


def _route_clash(ip: str, network: ipaddress.IPv4Network) -> str:
    """An existing route as specific as ``network`` or more that overlaps it ("" if none): ours would not win."""
    for line in run([ip, "-4", "route", "show", "table", "all"], check=False).stdout.splitlines():
        dest = line.split(" ", 1)[0]
        if dest in ("default", "broadcast", "local", "unreachable", "blackhole", "prohibit", "multicast"):
            dest = line.split(" ")[1] if dest != "default" else "0.0.0.0/0"
        try:
            route = ipaddress.ip_network(dest, strict=False)
        except ValueError:
            continue
        if route.version == 4 and route.prefixlen >= network.prefixlen and route.overlaps(network):
            return line.strip()
    return ""


def _remove_netns(ip: str, host: NetnsHost) -> None:
    run([ip, "netns", "del", host.name], check=False)
    run([ip, "link", "del", host.host_if], check=False)  # normally gone with the namespace's peer


def _netns_exists(ip: str, name: str) -> bool:
    listed = run([ip, "netns", "list"], check=False).stdout.split("\n")
    return any(line.split(" ", 1)[0] == name for line in listed)


def _pids_in(ip: str, name: str) -> list[int]:
    out = run([ip, "netns", "pids", name], check=False).stdout
    return [int(pid) for pid in out.split() if pid.isdigit()]


@contextlib.contextmanager
def netns_host(host: NetnsHost | None = None) -> Iterator[NetnsHost]:
    """Create the test host's namespace and veth pair (needs CAP_NET_ADMIN) and remove both afterwards.

    Leftovers of a crashed run with the same names are removed first, unless processes still run in
    that namespace (another live session): then the tests are unavailable rather than disturbing it.
    """
    ip = require("ip")
    host = host or netns_for_worker()
    if _netns_exists(ip, host.name):
        if pids := _pids_in(ip, host.name):
            unavailable(f"network namespace {host.name} exists with processes {pids} in it (another test run?)")
        _remove_netns(ip, host)
    elif run([ip, "link", "show", host.host_if], check=False).returncode == 0:
        _remove_netns(ip, host)
    if clash := _route_clash(ip, host.network):
        unavailable(f"{host.network} is already routed on this machine ({clash}); not creating {host.name}")
    steps = [
        [ip, "netns", "add", host.name],
        [ip, "link", "add", host.host_if, "type", "veth", "peer", "name", host.ns_if, "netns", host.name],
        [ip, "addr", "add", f"{host.host_address}/30", "dev", host.host_if],
        [ip, "link", "set", host.host_if, "up"],
        [ip, "-n", host.name, "addr", "add", f"{host.address}/30", "dev", host.ns_if],
        [ip, "-n", host.name, "link", "set", "lo", "up"],
        [ip, "-n", host.name, "link", "set", host.ns_if, "up"],
    ]
    try:
        for step in steps:
            res = run(step, check=False)
            if res.returncode != 0:
                _remove_netns(ip, host)
                unavailable(
                    f"cannot create the test host network namespace {host.name} for the docker HTTPS tests "
                    f"({' '.join(step[1:])}: {res.stderr.strip()}); it needs CAP_NET_ADMIN"
                )
        yield host
    finally:
        # Whatever still runs in our namespace was started by this session (servers are stopped by
        # their fixtures first); end it by pid so the namespace can go.
        for pid in _pids_in(ip, host.name) if _netns_exists(ip, host.name) else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _remove_netns(ip, host)
