"""Queue depths for the metrics exporter: what waits for the background workers, read at scrape
time. The exporter (http side of the serve process) calls ``QueueDepths.sample``; the SQL is in
``db/metrics.py``, behind the ``DepthSource`` it is built with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class DepthSource(Protocol):
    def depths(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class QueueDepth:
    queue: str  # a fixed name: repository_event, uploads_open, secscan_unindexed, ...
    depth: int


class QueueDepths:
    """The service: one sample is one read of every queue (raises when the database is away)."""

    def __init__(self, source: DepthSource) -> None:
        self.source = source

    def sample(self) -> tuple[QueueDepth, ...]:
        return tuple(QueueDepth(queue, depth) for queue, depth in sorted(self.source.depths().items()))

    def as_mapping(self) -> dict[str, int]:
        return {d.queue: d.depth for d in self.sample()}


__all__ = ["DepthSource", "QueueDepth", "QueueDepths"]
