"""Background workers: one base (``base.py``), one module per worker.

Every worker is registered by name in ``registry_app/wiring.py`` (``WORKERS``), which builds it
from the configuration; ``registry-app serve`` runs them in each server process (unless
``--no-workers``) and ``registry-app worker [NAME...]`` in a process of its own.

To add one (GC, notification delivery, mirroring, the upload collector of issue 9, ...): a module
here with a ``Worker`` subclass (``name``, ``mode``, ``run_once()``; a singleton gets a ``Lease``, a
queue consumer takes rows with ``db.claims.ClaimQueue``), and its entry in ``wiring.WORKERS``.
"""
