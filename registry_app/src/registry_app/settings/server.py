"""Where the registry is reached, and where its bundle and data live."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ServerSettings:
    """``scheme`` is the external URL scheme, decided once for every URL the registry hands out
    (token realms, the layer URLs Clair fetches, event payloads): ``https`` when this process
    serves TLS (``ssl.cert``/``ssl.key`` in the bundle) or ``PREFERRED_URL_SCHEME`` says so (TLS
    ended by a proxy in front), else ``http``."""

    hostname: str  # SERVER_HOSTNAME: host[:port] clients use
    scheme: str
    data_dir: Path  # generated secrets; the embedded default's database and blobs
    config_dir: Path | None = None  # the bundle; None: the embedded default
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def embedded(self) -> bool:
        """The embedded default (no bundle): tokens are for the Host the client used."""
        return self.config_dir is None

    @property
    def tls(self) -> bool:
        """Whether this process itself serves HTTPS."""
        return self.tls_cert is not None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.hostname}"

    @classmethod
    def from_values(
        cls,
        values: Mapping[str, Any],
        *,
        data_dir: Path,
        config_dir: Path | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ) -> ServerSettings:
        https = tls_cert is not None or values.get("PREFERRED_URL_SCHEME") == "https"
        return cls(
            hostname=str(values["SERVER_HOSTNAME"]),
            scheme="https" if https else "http",
            data_dir=data_dir,
            config_dir=config_dir,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
