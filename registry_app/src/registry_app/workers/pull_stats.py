"""Pull statistics to Redis and from Redis to the database (services/pull_stats.py says how).
Local to each process (its own buffer of pulls); the drain from Redis is safe in every process at
once (an atomic Lua script), so it needs no lease."""

from __future__ import annotations

from registry_app.services.pull_stats import PullStats
from registry_app.workers.base import Mode, Worker

INTERVAL_S = 1.0


class PullStatsWorker(Worker):
    """Move this process's pull counts into Redis and drain Redis's into the database."""

    name = "pull-stats"
    mode = Mode.LOCAL

    def __init__(self, stats: PullStats, interval_s: float = INTERVAL_S) -> None:
        super().__init__(interval_s)
        self.pull_stats = stats

    def run_once(self) -> int:
        return self.pull_stats.flush()

    def on_stop(self) -> None:
        self.pull_stats.flush()
