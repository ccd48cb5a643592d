"""Supervision schemes, one module per method, registered in ``benchmark.registry.METHODS``."""
