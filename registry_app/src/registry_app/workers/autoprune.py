"""The autoprune worker, as Quay's ``workers/autopruneworker.py``: every AUTO_PRUNING_POLL_PERIOD
(30 s), one process of the deployment (the holder of the database lease ``autoprune-worker``)
applies the auto-prune policies of every namespace and repository, and
DEFAULT_NAMESPACE_AUTOPRUNE_POLICY to every namespace. Pruned tags end like deleted ones (the
time machine keeps them for the namespace's window; collecting them is garbage collection's work)
and each is logged as ``autoprune_tag_delete``.

The rules live in ``services/tag_policy.py``; this module only schedules them. Quay keeps a task
row per namespace so that several workers share the namespaces; one singleton walks them all here
(a round is a few queries per repository), and ``keep_going()`` between repositories renews the
lease and stops a round when the process stops.
"""

from __future__ import annotations

from registry_app.services.tag_policy import TagPolicyService
from registry_app.workers.base import DEFAULT_JITTER, Lease, Mode, Worker

LEASE_NAME = "autoprune-worker"


class AutoPruneWorker(Worker):
    """Apply auto-prune policies: end the tags they select, each in the audit log."""

    name = "autoprune"
    mode = Mode.SINGLETON

    def __init__(
        self, policies: TagPolicyService, lease: Lease, interval_s: float, jitter: float = DEFAULT_JITTER
    ) -> None:
        super().__init__(interval_s, jitter=jitter, lease=lease)
        self.policies = policies

    def run_once(self) -> int:
        result = self.policies.prune_round(self.keep_going)
        if result.pruned:
            self.log.info("%s: pruned %d tags in %d repositories", self.name, result.pruned, result.repositories)
        return result.pruned
