"""ISNet and MSDA-Net parameter by parameter against tables read from the public code.

Each table (``tests/data/*_reference_shapes.json``) lists the reference model's parameters
in registration order with their shapes, and marks those its forward never calls; the
file and commit it was read from are in the table. Our port must have exactly the used
ones, in the same order, with the same shapes, and its key rules must spell each of our
names as the reference does.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from detectors import isnet, msdanet
from detectors._reference import load_reference_state_dict, reference_key
from detectors.base import build_detector, detector_info

DATA = Path(__file__).resolve().parent / "data"

# name -> (table, module with REFERENCE_KEY_RULES, reference modules our port leaves out)
CASES: dict[str, tuple[str, ModuleType, set[str]]] = {
    "ISNet": (
        "isnet_reference_shapes.json",
        isnet,
        {"res1", "res2", "res3", "d1", "d2", "d3", "cw", "gate1", "gate2", "gate3"}
        | {"SA", "SA_att", "head2", "conv2_1", "conv16"},
    ),
    "MSDANet": ("msdanet_reference_shapes.json", msdanet, {f"mlcl{i}.conv_res" for i in range(1, 6)}),
}


def _table(name: str) -> dict[str, Any]:
    return json.loads((DATA / CASES[name][0]).read_text())


def _reference_rows(name: str, used: bool) -> list[tuple[str, tuple[int, ...]]]:
    return [(n, tuple(shape)) for n, shape, u in _table(name)["parameters"] if u is used]


def _model(name: str) -> torch.nn.Module:
    table = _table(name)
    return build_detector(name, in_channels=table["in_channels"], width=table["width"])


@pytest.mark.parametrize("name", CASES)
def test_parameter_shapes_match_the_reference_in_order(name: str) -> None:
    ours = [(n, tuple(p.shape)) for n, p in _model(name).named_parameters()]
    reference = _reference_rows(name, used=True)
    assert [shape for _, shape in ours] == [shape for _, shape in reference]
    rules = CASES[name][1].REFERENCE_KEY_RULES
    assert [reference_key(n, rules) for n, _ in ours] == [n for n, _ in reference]


@pytest.mark.parametrize("name", CASES)
def test_only_modules_the_reference_never_calls_are_left_out(name: str) -> None:
    left_out = _reference_rows(name, used=False)
    owners = {n.rsplit(".", 2)[0] if name == "MSDANet" else n.split(".")[0] for n, _ in left_out}
    assert owners == CASES[name][2]
    table = _table(name)
    ours = sum(p.numel() for p in _model(name).parameters())
    left_out_count = sum(torch.Size(shape).numel() for _, shape in left_out)
    assert ours == table["used_parameters"] == table["total_parameters"] - left_out_count
    # the published count is the reference's total, modules never called included
    published = detector_info(name).published_params_m
    assert published is not None and abs(table["total_parameters"] / 1e6 - published) <= 1e-3 * published


@pytest.mark.parametrize("name", CASES)
def test_a_reference_state_dict_loads_and_extra_reference_keys_are_ignored(name: str) -> None:
    rules = CASES[name][1].REFERENCE_KEY_RULES
    torch.manual_seed(1)
    source = _model(name)
    state = {reference_key(k, rules): v for k, v in source.state_dict().items()}
    unused_name, unused_shape = _reference_rows(name, used=False)[0]
    state[unused_name] = torch.zeros(unused_shape)
    torch.manual_seed(2)
    target = _model(name)
    load_reference_state_dict(target, state, rules)
    for (key, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert torch.equal(a, b), key
    del state[reference_key("stem.0.weight", rules)]
    with pytest.raises(KeyError, match="stem"):
        load_reference_state_dict(target, state, rules)
