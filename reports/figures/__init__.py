"""Figures from record frames (matplotlib Agg + seaborn): one style, PNG and PDF each."""
