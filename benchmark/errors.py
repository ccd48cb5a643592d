"""User-facing errors: each says what is wrong, where, and how to fix it.

The CLI prints these without a traceback and exits with status 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations


class PointbenchError(Exception):
    """An error caused by input the user can fix (paths, names, files)."""


class UnknownNameError(PointbenchError, KeyError):
    """A detector, method, dataset or option name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(PointbenchError):
    """A dataset folder that does not follow the common layout."""


class ConfigError(PointbenchError):
    """A suite, profile or cell specification that cannot be used."""
