"""Side-by-side benchmark of registry_app against distribution's docker-registry.

The entry point is bench/run.py; docs/benchmarks.md explains what is measured and why.
"""
