"""The security worker, as Quay's ``workers/securityworker/securityworker.py``: every
SECURITY_SCANNER_INDEXING_INTERVAL, one process of the deployment (the holder of the database
lease ``security-worker``) pages through Clair's queued notifications (with
FEATURE_SECURITY_NOTIFICATIONS) and indexes the manifests that need it.

What is indexed and how lives in ``services/secscan.py`` (Quay's secscan_v4_model), Clair's API in
``clients/clair.py``; this module only schedules it. Between manifests the scanner asks
``keep_going()``, which renews the lease and stops the round when the process is stopping or lost
the lease. A round that outlives the lease (a huge image at Clair) may index one manifest twice in
two processes; Clair's index is idempotent, so that only costs time.
"""

from __future__ import annotations

from registry_app.services.secscan import SecurityScanner
from registry_app.workers.base import DEFAULT_JITTER, Lease, Mode, Worker

LEASE_NAME = "security-worker"


class SecurityWorker(Worker):
    """Index pushed manifests in Clair and turn Clair's notifications into events."""

    name = "security"
    mode = Mode.SINGLETON

    def __init__(
        self, scanner: SecurityScanner, lease: Lease, interval_s: float, jitter: float = DEFAULT_JITTER
    ) -> None:
        super().__init__(interval_s, jitter=jitter, lease=lease)
        self.scanner = scanner

    def run_once(self) -> int:
        handled = 0
        if self.scanner.notifications:
            handled += self.scanner.process_notifications(self.keep_going)
        if self.keep_going():
            handled += self.scanner.index_round(self.keep_going)
        return handled
