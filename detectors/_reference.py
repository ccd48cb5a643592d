"""Our state_dict keys mapped to the public code's, for detectors ported module by module.

A port keeps its own descriptive attribute names but registers its modules in the
reference's order, so its parameters line up one to one with the reference's (the shape
tests check this against a table read from the public code). ``KeyRules`` say how each of
our keys is spelled in the reference: ordered regex substitutions, applied in turn. With
them a checkpoint saved by the public code loads into our module; the reference's modules
that its forward never calls have no counterpart here and are ignored.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence, Union

import torch
from torch import nn

Replacement = Union[str, Callable[["re.Match[str]"], str]]
KeyRules = Sequence[tuple[str, Replacement]]


def reference_key(name: str, rules: KeyRules) -> str:
    """The reference's key for our parameter or buffer ``name``."""
    for pattern, replacement in rules:
        name = re.sub(pattern, replacement, name)
    return name


def load_reference_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], rules: KeyRules) -> None:
    """Load a state_dict saved by the reference code into ``model`` (strict on our side)."""
    ours = model.state_dict()
    mapped = {key: reference_key(key, rules) for key in ours}
    missing = [f"{theirs} (for {key})" for key, theirs in mapped.items() if theirs not in state]
    if missing:
        raise KeyError(f"reference state_dict lacks {len(missing)} keys, e.g. {missing[:3]}")
    model.load_state_dict({key: state[theirs] for key, theirs in mapped.items()})
