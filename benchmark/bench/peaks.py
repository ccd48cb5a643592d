"""Probe: how high the detector's probability rises on the targets and off them, per epoch.

Why: a scheme that "predicts nothing" (naive points, PAL before its first update) can be
short of the 0.5 threshold by a little or by orders of magnitude, and the cure differs
(a longer schedule, or a defect). This trains one cell through the engine and, after
every ``--every`` epochs, predicts a few training and test images and logs:

- ``on``: per target, the maximum probability within 3 px of its point (the Pd window);
  the median over targets and the share of targets above 0.5;
- ``off``: per image, the maximum probability farther than 5 px from every target
  pixel; the median over images and the share of images with a pixel above 0.5.

Nothing is stored in the results; the history goes to ``--out`` as JSON. Run with
``python -m benchmark.bench.peaks DNANet point SIRST --set epochs=30 crop_size=128``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from scipy import ndimage

from benchmark.bench.peaks_ambiguity import flip_candidates  # also registers the probe's basic-noflip control
from benchmark.cells import Cell, parse_spec, parse_value
from benchmark.data.split import Sample
from benchmark.build import Built, build
from benchmark.engine import end_epoch, evaluate_epoch, log_label_quality
from benchmark.loop import RunState, train_epoch
from benchmark.resolve import resolve

ON_RADIUS = 3  # px around a point: the Pd criterion's centroid distance
OFF_MARGIN = 5  # px kept clear of every target pixel before a pixel counts as background


def target_peaks(prob: np.ndarray, points: np.ndarray) -> list[float]:
    """The highest probability within ``ON_RADIUS`` of each point."""
    peaks = []
    h, w = prob.shape
    for r, c in points:
        rows, cols = np.ogrid[max(0, r - ON_RADIUS) : min(h, r + ON_RADIUS + 1), max(0, c - ON_RADIUS) : min(w, c + ON_RADIUS + 1)]
        near = (rows - r) ** 2 + (cols - c) ** 2 <= ON_RADIUS**2
        peaks.append(float(prob[rows, cols][near].max()))
    return peaks


def background_peak(prob: np.ndarray, sample: Sample) -> float:
    """The highest probability farther than ``OFF_MARGIN`` px from every target pixel (the
    mask where there is one, else the points)."""
    target = sample.mask > 127 if sample.mask is not None else np.zeros(sample.shape, bool)
    for r, c in sample.centroid:
        target[r, c] = True
    far = ~ndimage.binary_dilation(target, iterations=OFF_MARGIN) if target.any() else np.ones(sample.shape, bool)
    return float(prob[far].max()) if far.any() else 0.0


def summarize(probs: Sequence[np.ndarray], samples: Sequence[Sample]) -> dict[str, float]:
    """The on/off figures, and the on figures by ``k``: the pixels a target's label
    occupies over the flips (``peaks_ambiguity``; targets of images with a mask)."""
    on = [p for prob, s in zip(probs, samples) for p in target_peaks(prob, s.centroid)]
    off = [background_peak(prob, s) for prob, s in zip(probs, samples)]
    out = {
        "on_median": float(np.median(on)) if on else float("nan"),
        "on_above": float(np.mean(np.asarray(on) > 0.5)) if on else float("nan"),
        "off_median": float(np.median(off)),
        "off_above": float(np.mean(np.asarray(off) > 0.5)),
    }
    by_k: dict[int, list[float]] = {}
    for prob, s in zip(probs, samples):
        if s.mask is not None:
            for k, peak in zip(flip_candidates(s.mask, s.centroid), target_peaks(prob, s.centroid)):
                by_k.setdefault(k, []).append(peak)
    for k, peaks in sorted(by_k.items()):
        out[f"k{k}_n"] = float(len(peaks))
        out[f"k{k}_median"] = float(np.median(peaks))
        out[f"k{k}_above"] = float(np.mean(np.asarray(peaks) > 0.5))
    return out


def probe(b: Built, epoch: int, images: int) -> dict[str, dict[str, float]]:
    """Peaks on the first ``images`` images the epoch trained on (PAL's pool, not the
    whole split) and on the first ``images`` test images."""
    pool = b.rc.method.epoch_plan(epoch, b.ctx).indices
    indices = b.ctx.train_indices if pool is None else pool
    train = [b.train.samples[int(i)] for i in list(indices)[:images]]
    test = b.test.samples[:images]
    return {
        "train": summarize(b.predict([s.image for s in train]), train),
        "test": summarize(b.predict([s.image for s in test]), test),
    }


def probed_run(b: Built, every: int, images: int, on_epoch: Callable[[dict[str, Any]], None]) -> RunState:
    """The engine's epochs (train, the method's update, evaluation when due) with a probe
    after every ``every`` epochs; nothing is checkpointed or stored."""
    state = RunState()
    b.rc.method.setup(b.ctx)
    log_label_quality(b, state, 0)
    epochs = b.profile.epochs
    for epoch in range(epochs):
        entry = train_epoch(b, state, epoch)
        last = epoch + 1 == epochs
        if last or (epoch + 1) % every == 0:
            entry["peaks"] = probe(b, epoch, images)
        end_epoch(b, state, epoch, entry)
        if last or (epoch + 1) % b.profile.eval_every == 0:
            evaluate_epoch(b, state, epoch, entry, last)
        state.history.append(entry)
        on_epoch(entry)
    return state


def _line(entry: dict[str, Any]) -> str:
    parts = [f"ep {entry['epoch']:3d}", f"loss {entry['loss']:.4f}"]
    for split, p in entry.get("peaks", {}).items():
        parts.append(
            f"{split}: on {p['on_median']:.3f} ({100 * p['on_above']:.0f}% >.5) off {p['off_median']:.3f} ({100 * p['off_above']:.0f}% >.5)"
            + "".join(f" k{k} {p[f'k{k}_median']:.2f}/{100 * p[f'k{k}_above']:.0f}%" for k in (1, 2, 4) if f"k{k}_median" in p)
        )
    if "test" in entry:
        t = entry["test"]
        parts.append(f"| IoU {t['iou']:.2f} Pd {t['pd']:.1f} Fa {t['fa']:.0f}")
    if "label_iou" in entry:
        parts.append(f"| label IoU {entry['label_iou']:.2f}")
    if "method" in entry:
        parts.append(json.dumps({k: v for k, v in entry["method"].items() if k != "changed_labels"}))
    return "  ".join(parts)


def _value(text: str) -> Any:
    """A --set value: JSON where it parses (lists such as milestones), else as suites write it."""
    try:
        return json.loads(text)
    except ValueError:
        return parse_value(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("detector")
    parser.add_argument("method", help="method spec, e.g. point or 'pal[pre=0.3]'")
    parser.add_argument("dataset")
    parser.add_argument("--labels", default="centroid")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="profile overrides")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=1, help="epochs between probes")
    parser.add_argument("--images", type=int, default=32, help="training and test images probed")
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the history here as JSON")
    parser.add_argument("--save-model", type=Path, help="write the trained detector's state_dict here")
    args = parser.parse_args(argv)
    overrides = tuple(sorted((k, _value(v)) for k, v in (s.split("=", 1) for s in args.set)))
    name, options = parse_spec(args.method)
    cell = Cell(args.detector, name, args.dataset, args.labels, args.seed, args.profile, tuple(sorted(options.items())), overrides)
    rc = resolve(cell)
    import torch

    torch.set_num_threads(args.threads)
    print(json.dumps({k: v for k, v in rc.profile.to_dict().items()}), flush=True)
    start = time.perf_counter()
    history: list[dict[str, Any]] = []

    def on_epoch(entry: dict[str, Any]) -> None:
        print(_line(entry), f"[{time.perf_counter() - start:.0f}s]", flush=True)
        history.append(entry)
        if args.out:  # after every epoch, so a probe stopped early keeps what it measured
            args.out.write_text(json.dumps({"cell": cell.name, "profile": rc.profile.to_dict(), "history": history}, indent=1))

    with tempfile.TemporaryDirectory() as work:
        b = build(rc, Path(work), None, args.data_root, args.cache_dir)
        state = probed_run(b, args.every, args.images, on_epoch)
    if args.save_model:
        torch.save(b.model.state_dict(), args.save_model)
    if args.out:
        out = {"cell": cell.name, "profile": rc.profile.to_dict(), "history": history, "label_quality": state.label_quality}
        args.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
