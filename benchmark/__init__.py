"""pointbench: the harness (registries, cells and suites, data, metrics, engine, store, CLI)."""

__version__ = "0.1.0"
