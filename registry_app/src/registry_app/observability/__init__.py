"""Prometheus metrics: ``metrics`` (the definitions every layer records) and ``exporter`` (the
serve process's ``/metrics`` endpoint). This package's own import loads nothing, so that
``exporter.MetricsDirectory`` can set PROMETHEUS_MULTIPROC_DIR before prometheus_client loads."""
