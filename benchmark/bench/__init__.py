"""Benchmarks behind ``pointbench bench ...``: measured figures, never timed tests."""
