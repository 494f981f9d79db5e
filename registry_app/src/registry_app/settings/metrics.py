"""Where ``registry-app serve`` answers Prometheus (docs/architecture.md, "Metrics").

Quay serves its metrics on port 9091 in every container (its pushgateway, which each process
pushes to, started by default); it has no key for that port. Here the serve process answers
``/metrics`` itself, on by default on 9091 as in Quay: REGISTRY_APP_METRICS_PORT (0 turns it
off) and REGISTRY_APP_METRICS_HOST (default: the host ``serve --bind`` listens on, so the
embedded default on 127.0.0.1 stays on loopback) are registry_app keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_METRICS_PORT = 9091  # Quay's (its pushgateway's) port


@dataclass(frozen=True)
class MetricsSettings:
    port: int = DEFAULT_METRICS_PORT  # REGISTRY_APP_METRICS_PORT; 0: no metrics endpoint
    host: str | None = None  # REGISTRY_APP_METRICS_HOST; None: the listening process's own host

    @property
    def enabled(self) -> bool:
        return self.port > 0

    def host_or(self, bind_host: str) -> str:
        """The address to listen on: REGISTRY_APP_METRICS_HOST, else ``bind_host`` (``serve``:
        its ``--bind`` host, which only the command line knows; ``worker``: loopback)."""
        return self.host or bind_host

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> MetricsSettings:
        host = values.get("REGISTRY_APP_METRICS_HOST")
        return cls(
            port=int(values.get("REGISTRY_APP_METRICS_PORT", DEFAULT_METRICS_PORT)),
            host=str(host) if host else None,
        )


__all__ = ["DEFAULT_METRICS_PORT", "MetricsSettings"]
