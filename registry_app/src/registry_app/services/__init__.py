"""The domain: push/pull rules, permissions, manifests. No web framework, no SQL."""
