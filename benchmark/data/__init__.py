"""Datasets in the common IRSTD layout, the embedded synthetic dataset, and transforms."""
