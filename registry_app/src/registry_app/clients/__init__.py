"""Outbound protocol clients (Clair v4 today; upstream registries, SMTP and webhooks later).

A client speaks one protocol and imports nothing of registry_app above it: services and workers
use clients, never the other way round."""
