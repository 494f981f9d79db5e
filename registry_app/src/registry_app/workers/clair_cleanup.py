"""Clair cleanup (SECURITY_SCANNER_V4_MANIFEST_CLEANUP): deleting a manifest or a repository queues
the digests (table ``secscan_cleanup``); this worker deletes Clair's index report of each digest
that no repository holds any more. A queue consumer: it runs in every process that runs workers,
and each row goes to one of them (``db/claims.ClaimQueue``). Clair unreachable: the row comes back
after a growing delay, and is dropped (logged) after ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

from registry_app.clients.clair import ClairError
from registry_app.db.claims import ClaimQueue
from registry_app.services.secscan import SecurityScanner
from registry_app.workers.base import DEFAULT_JITTER, Mode, Worker

BATCH = 20
CLAIM_S = 300.0  # longer than a batch of DELETEs takes, even with Clair's 30 s timeout on a few
MAX_ATTEMPTS = 10
MAX_DELAY_S = 3600.0


class ClairCleanupWorker(Worker):
    """Delete Clair's index reports of deleted manifests."""

    name = "clair-cleanup"
    mode = Mode.QUEUE

    def __init__(
        self, scanner: SecurityScanner, queue: ClaimQueue, interval_s: float, jitter: float = DEFAULT_JITTER
    ) -> None:
        super().__init__(interval_s, jitter=jitter)
        self.scanner = scanner
        self.queue = queue

    def run_once(self) -> int:
        handled = 0
        while self.keep_going():
            rows = self.queue.claim(self.holder, BATCH, int(CLAIM_S * 1000))
            if not rows:
                break
            for i, row in enumerate(rows):
                if not self.keep_going():  # give the rest back to the queue
                    self.queue.release([r["id"] for r in rows[i:]], self.holder)
                    return handled
                handled += self._one(row["id"], str(row["digest"]), int(row["attempts"]))
        return handled

    def _one(self, row_id: int, digest: str, attempts: int) -> int:
        try:
            self.scanner.clean_up(digest)
        except ClairError as exc:
            attempts += 1
            if attempts >= MAX_ATTEMPTS:
                self.log.error("%s: giving up on Clair's index report of %s: %s", self.name, digest, exc.message)
                self.queue.complete([row_id], self.holder)
            else:
                delay_s = min(MAX_DELAY_S, self.interval_s * 2**attempts)
                self.log.warning("%s: %s: %s; retrying in %.0fs", self.name, digest, exc.message, delay_s)
                self.queue.release([row_id], self.holder, delay_ms=int(delay_s * 1000), attempts=attempts)
            return 0
        self.queue.complete([row_id], self.holder)
        return 1
