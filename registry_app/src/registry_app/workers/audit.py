"""The audit log's flush: every pull is logged (as Quay does), so ``AuditLog.record()`` only
appends to this process's buffer, and this worker writes the buffer every ``interval_s`` (0.5 s)
and once more when it stops. Local to each process (its own buffer): every process that records
entries runs it, with or without the other workers. A crash loses at most one interval."""

from __future__ import annotations

from registry_app.services.audit import AuditLog
from registry_app.workers.base import Mode, Worker

INTERVAL_S = 0.5


class AuditFlushWorker(Worker):
    """Write this process's buffered audit log entries."""

    name = "audit-flush"
    mode = Mode.LOCAL

    def __init__(self, audit: AuditLog, interval_s: float = INTERVAL_S) -> None:
        super().__init__(interval_s, jitter=0.0)  # per process: nothing to spread out
        self.audit = audit

    def on_start(self) -> None:
        self.audit.buffered = True

    def run_once(self) -> int:
        return self.audit.flush()

    def on_stop(self) -> None:
        self.audit.buffered = False  # from now on record() writes at once
        self.audit.flush()
