"""Repository notification delivery (Quay's notificationworker). A queue consumer: it runs in every
process that runs workers. Each round turns new ``repository_event`` rows into deliveries (one
transaction, so each event fans out once), runs the image-expiry scan when due, then claims
deliveries (``db/claims.ClaimQueue``) and sends them. A failed delivery comes back after
``retry_after * 2^attempts`` (capped at an hour) and is dropped after ``max_attempts``; each
failure counts on the notification, which is disabled at three in a row, as in Quay.
"""

from __future__ import annotations

import json
import time

from registry_app.services.notifications import NotificationService
from registry_app.workers.base import DEFAULT_JITTER, Mode, Worker

BATCH = 20
MAX_DELAY_S = 3600.0


class NotificationWorker(Worker):
    """Deliver repository notifications (webhook, email, slack)."""

    name = "notification"
    mode = Mode.QUEUE

    def __init__(self, service: NotificationService, jitter: float = DEFAULT_JITTER) -> None:
        super().__init__(service.settings.interval_s, jitter=jitter)
        self.service = service
        self._next_expiry_scan = 0.0

    def claim_ms(self) -> int:
        # longer than a batch takes, even when every send waits its whole timeout
        return int((BATCH * self.service.settings.send_timeout_s * 2 + 60) * 1000)

    def run_once(self) -> int:
        handled = 0
        while self.keep_going() and self.service.fan_out() > 0:
            pass
        now = time.monotonic()
        if now >= self._next_expiry_scan:
            self.service.scan_image_expiry()
            self._next_expiry_scan = now + min(self.service.settings.expiry_scan_s, 300.0)
            self.service.fan_out()
        queue = self.service.store.deliveries
        while self.keep_going():
            rows = queue.claim(self.holder, BATCH, self.claim_ms())
            if not rows:
                break
            for i, row in enumerate(rows):
                if not self.keep_going():  # give the rest back to the queue
                    queue.release([r["id"] for r in rows[i:]], self.holder)
                    return handled
                handled += self._one(row)
        return handled

    def _one(self, row: dict[str, object]) -> int:
        queue = self.service.store.deliveries
        row_id = int(str(row["id"]))
        try:
            data = json.loads(str(row["payload_json"]))
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.log.error("%s: delivery %d holds no JSON object; dropped", self.name, row_id)
            queue.complete([row_id], self.holder)
            return 0
        outcome = self.service.deliver(int(str(row["notification_id"])), data)
        if outcome.sent or outcome.skipped:
            queue.complete([row_id], self.holder)
            return 1 if outcome.sent else 0
        attempts = int(str(row["attempts"])) + 1
        settings = self.service.settings
        if outcome.disabled:
            self.log.warning(
                "%s: notification %s failed %d times in a row and is disabled: %s",
                self.name, row["notification_id"], outcome.failures, outcome.error,
            )
        if attempts >= settings.max_attempts:
            self.log.error(
                "%s: giving up delivery %d after %d attempts: %s", self.name, row_id, attempts, outcome.error
            )
            queue.complete([row_id], self.holder)
            return 0
        delay_s = min(MAX_DELAY_S, settings.retry_after_s * 2 ** (attempts - 1))
        self.log.warning("%s: delivery %d failed: %s; retrying in %.0fs", self.name, row_id, outcome.error, delay_s)
        queue.release([row_id], self.holder, delay_ms=int(delay_s * 1000), attempts=attempts)
        return 0
