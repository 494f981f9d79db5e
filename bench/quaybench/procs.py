"""Child processes in their own process groups, always killed on exit, and RSS sampling."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from .util import log

_LIVE: list[ManagedProcess] = []
_NICE: int | None = None


def set_priority(nice: int) -> None:
    """Run the benchmark, and every server it starts, at `nice`.

    The kernel here groups scheduling by session (sched_autogroup), so a per-process nice value
    only counts inside its own session. The benchmark's session and each server's session (they
    are started with setsid) therefore get the value in /proc/PID/autogroup too. curl and wrk run
    in the benchmark's session and inherit it.
    """
    global _NICE
    _NICE = nice
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    try:
        with open("/proc/self/autogroup") as fh:  # "/autogroup-15 nice 0"
            previous = int(fh.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return
    _set_autogroup(os.getpid(), nice)
    # The session may be the user's shell: give it its old value back when the benchmark ends.
    atexit.register(_set_autogroup, os.getpid(), previous)


def _set_autogroup(pid: int, nice: int) -> None:
    try:
        with open(f"/proc/{pid}/autogroup", "w") as fh:
            fh.write(str(nice))
    except OSError as exc:  # no autogroup support, or not allowed: the process nice still applies
        log(f"cannot set autogroup nice for pid {pid}: {exc}")


class ManagedProcess:
    """A long-running child (a server) started in a new session so that killpg reaches its tree."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env, cwd=cwd,
        )
        self.pid = self.proc.pid
        _LIVE.append(self)
        if _NICE is not None:
            _set_autogroup(self.pid, _NICE)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        if self in _LIVE:
            _LIVE.remove(self)
        try:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    log(f"{self.name}: still running after SIGTERM, sending SIGKILL")
            # Kill whatever is left of the group (workers that outlived their parent).
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: pid {self.pid} did not exit after SIGKILL")
        finally:
            self._log.close()


def stop_all() -> None:
    for p in list(_LIVE):
        try:
            p.stop(grace=5.0)
        except Exception as exc:  # keep stopping the others
            log(f"stopping {p.name} failed: {exc!r}")


atexit.register(stop_all)


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # comm may contain spaces and parentheses: split after the last ')'.
        rest = stat[stat.rfind(b")") + 2:].split()
        children.setdefault(int(rest[1]), []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    children = _children_map()
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def _read_kib(path: str, key: bytes) -> int:
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class TreeMemorySampler:
    """Samples the summed VmRSS (and PSS) of a process tree every `interval` seconds.

    RSS summed over forked workers counts shared pages once per process; PSS divides shared
    pages between the processes that map them, so the PSS sum is the honest total.
    """

    def __init__(self, root_pid: int, interval: float = 0.25) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.peak_rss_kib = 0
        self.peak_pss_kib = 0
        self.peak_procs = 0
        self.phase = "startup"
        self.phase_peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def sample(self) -> None:
        pids = process_tree(self.root_pid)
        rss = sum(_read_kib(f"/proc/{p}/status", b"VmRSS:") for p in pids)
        pss = sum(_read_kib(f"/proc/{p}/smaps_rollup", b"Pss:") for p in pids)
        self.peak_rss_kib = max(self.peak_rss_kib, rss)
        self.peak_pss_kib = max(self.peak_pss_kib, pss)
        self.peak_procs = max(self.peak_procs, len(pids))
        self.phase_peaks[self.phase] = max(self.phase_peaks.get(self.phase, 0), rss)

    def _run(self) -> None:
        # Bounded by the stop event; the benchmark itself is bounded in time.
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_checked(argv: list[str], timeout: float, input_bytes: bytes | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=input_bytes, capture_output=True, timeout=timeout, check=False, env=env)


def wait_for_exit(proc: ManagedProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while proc.alive() and time.monotonic() < deadline:
        time.sleep(0.1)


def _machine_jiffies() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        parts = fh.readline().split()[1:]
    vals = [int(x) for x in parts]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals[:8]), idle


def _pid_jiffies(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return 0
    rest = stat[stat.rfind(b")") + 2:].split()
    return int(rest[11]) + int(rest[12])  # utime + stime


class ForeignLoadMonitor:
    """Estimates CPU used by processes that are not part of this benchmark (other jobs on the box).

    Every `interval` seconds: machine busy time (/proc/stat) minus the CPU time of this process's
    tree (servers, curl, wrk, the benchmark itself). Reported as a share of all cores, per phase.
    Processes that exit between two samples lose their last slice, so it errs slightly high.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.phase = "setup"
        self.by_phase: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-monitor", daemon=True)

    def start(self) -> ForeignLoadMonitor:
        self._thread.start()
        return self

    def _ours(self) -> dict[int, int]:
        return {p: _pid_jiffies(p) for p in process_tree(os.getpid())}

    def _run(self) -> None:
        total0, idle0 = _machine_jiffies()
        ours0 = self._ours()
        while not self._stop.wait(self.interval):
            total1, idle1 = _machine_jiffies()
            ours1 = self._ours()
            dt = total1 - total0
            if dt > 0:
                busy = (dt - (idle1 - idle0))
                mine = sum(max(0, j - ours0.get(p, 0)) for p, j in ours1.items())
                foreign = max(0.0, (busy - mine) / dt)
                self.by_phase.setdefault(self.phase, []).append(foreign)
            total0, idle0, ours0 = total1, idle1, ours1

    def mean(self, phase: str) -> float | None:
        vals = self.by_phase.get(phase)
        return sum(vals) / len(vals) if vals else None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def background_busy(seconds: float = 2.0) -> float:
    """Share of all cores busy over `seconds` (call while the benchmark itself is idle)."""
    t0, i0 = _machine_jiffies()
    time.sleep(seconds)
    t1, i1 = _machine_jiffies()
    return 0.0 if t1 == t0 else 1.0 - (i1 - i0) / (t1 - t0)
