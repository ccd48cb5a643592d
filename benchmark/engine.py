"""``run_cell(cell) -> record``: data + detector + method -> train -> evaluate.

A pure function of the cell (no Ray here): every random source is seeded from the cell,
and each epoch reseeds from (seed, epoch), so a cell resumed from its checkpoint ends
exactly where an uninterrupted run would. The test set is evaluated every
``eval_every`` epochs and at the last; the record keeps the last epoch's metrics and,
separately, the best evaluated epoch's (the field's papers select on the test set).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from benchmark import metrics as metriclib
from benchmark.cells import Cell
from benchmark.data.catalog import dataset_spec
from benchmark.data.loader import load_split
from benchmark.data.split import Split
from benchmark.data.training import TrainingData
from benchmark.data.transforms import norm_stats
from benchmark.fingerprints import record_fingerprints
from benchmark.inference import autocast, predict_probs
from benchmark.profiles import Profile
from benchmark.pseudolabels import label_quality
from benchmark.provenance import provenance
from benchmark.resolve import ResolvedCell, resolve
from benchmark.schema import SCHEMA_VERSION, Evaluation, Record
from benchmark.seeding import seed_everything, seed_hash
from benchmark.store import Store
from benchmark.variants import variant_key
from detectors.base import WithTargetPrior, build_detector
from methods.base import MethodContext

log = logging.getLogger(__name__)

BEST_SELECTION = "best test IoU over evaluated epochs (as PAL/D2D select)"
LAST_SELECTION = "last epoch"


@dataclasses.dataclass
class RunOptions:
    """Where and how a cell runs; none of it changes what the cell is (its key).

    ``threads`` sets torch's CPU threads for the cell: a different count changes the
    order of floating-point sums, so bitwise-equal CPU results need the same count
    (every record says which, in ``provenance.threads``).
    """

    data_root: Path | None = None
    cache_dir: Path | None = None
    device: str | None = None  # default: cuda if available else cpu
    progress: bool | None = None  # default: when stderr is a terminal
    keep_checkpoint: bool = False
    threads: int | None = None  # torch CPU threads (default: torch's own choice)


def pick_device(requested: str | None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_optimizer(model: torch.nn.Module, profile: Profile) -> torch.optim.Optimizer:
    params = model.parameters()
    name = profile.optimizer.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=profile.lr, weight_decay=profile.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=profile.lr, weight_decay=profile.weight_decay)  # 0 means 0
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=profile.lr, weight_decay=profile.weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=profile.lr, momentum=0.9, weight_decay=profile.weight_decay)
    raise ValueError(f"unknown optimizer {profile.optimizer!r}; use adam, adamw, adagrad or sgd")


def make_scheduler(optimizer: torch.optim.Optimizer, profile: Profile) -> torch.optim.lr_scheduler.LRScheduler:
    name = profile.scheduler.lower()
    if name == "multistep":
        milestones = sorted({max(1, int(round(f * profile.epochs))) for f in profile.milestones})
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=profile.gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=profile.epochs, eta_min=profile.min_lr)
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    raise ValueError(f"unknown scheduler {profile.scheduler!r}; use multistep, cosine or constant")


def label_iou(labels: Sequence[np.ndarray], split: Split) -> float | None:
    """Dataset-level IoU (%) of the training labels against the ground truth (None without masks)."""
    if any(s.mask is None for s in split.samples):
        return None
    return label_quality(labels, split.samples)["iou"]


class _Run:
    """The state of one cell's training; split out so ``run_cell`` reads as the recipe."""

    def __init__(self, rc: ResolvedCell, options: RunOptions, workdir: Path):
        self.rc, self.cell, self.profile, self.method = rc, rc.cell, rc.profile, rc.method
        self.options, self.workdir = options, workdir
        self.device = pick_device(options.device)
        self.progress = sys.stderr.isatty() if options.progress is None else options.progress
        spec = dataset_spec(self.cell.dataset)
        self.train = load_split(self.cell.dataset, "train", options.data_root, options.cache_dir).head(
            self.profile.max_train_images
        )
        self.test = load_split(self.cell.dataset, "test", options.data_root, options.cache_dir).head(
            self.profile.max_test_images
        )
        self.norm = (spec.mean, spec.std) if spec.mean is not None else norm_stats(self.train.samples)
        self.channels = self.profile.in_channels
        seed_everything(self.rc.init_seed)
        self.model = build_detector(self.cell.detector, in_channels=self.channels, width=self.profile.detector_width)
        if self.profile.target_prior is not None:
            self.model = WithTargetPrior(
                self.model, self.profile.target_prior, standardize=self.profile.standardize_logits, in_channels=self.channels
            )
        self.model.to(self.device)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.model, self.profile)
        self.scheduler = make_scheduler(self.optimizer, self.profile)
        visible = self.train.samples if self.method.privileged else [dataclasses.replace(s, mask=None) for s in self.train.samples]
        self.ctx = MethodContext(
            samples=visible,
            label_type=self.cell.labels,
            profile=self.profile,
            labels=[np.zeros(s.shape, np.float32) for s in self.train.samples],
            rng=np.random.default_rng(seed_hash("method", self.rc.init_seed)),
            workdir=workdir,
            predict=self.predict_train,
            device=self.device,
            dataset=self.cell.dataset,
            detector=self.cell.detector,
            fingerprint=self.train.fingerprint,
            seed=self.cell.seed,
            cache_dir=options.cache_dir,
        )
        self.training = TrainingData(
            self.train.samples, self.ctx.labels, self.cell.labels, self.norm, self.channels, self.profile, self.rc.data_seed
        )
        self.history: list[dict[str, Any]] = []
        self.label_quality: list[dict[str, float]] = []
        self.best: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None
        self.start_epoch = 0
        self.train_seconds = self.eval_seconds = 0.0
        self.trained_images = 0

    # predictions ----------------------------------------------------------------------
    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return predict_probs(
            self.model, images, self.norm, self.channels, self.device, self.profile.eval_batch_size, self.profile.amp
        )

    def predict_train(self, indices: Sequence[int]) -> list[np.ndarray]:
        return self.predict([self.train.samples[i].image for i in indices])

    def evaluate(self, epoch: int, selection: str) -> Evaluation:
        start = time.perf_counter()
        probs = self.predict([s.image for s in self.test.samples])
        masks = [s.mask for s in self.test.samples]
        subsets = metriclib.evaluate_by_subset(probs, masks, self.test.subsets)
        if len(set(self.test.subsets)) == 1:
            subsets = {"all": subsets["all"]}
        self.eval_seconds += time.perf_counter() - start
        return {"epoch": epoch, "selection": selection, "subsets": subsets}

    # checkpoints ----------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.workdir / "checkpoint.pt"

    def save_checkpoint(self, next_epoch: int) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        state = {
            "key": self.rc.key,
            "next_epoch": next_epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "labels": [l.astype(np.float32) for l in self.ctx.labels],
            "method_state": self.method.state_dict(),
            "ctx_state": self.ctx.state,
            "history": self.history,
            "label_quality": self.label_quality,
            "best": self.best,
            "last": self.last,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "trained_images": self.trained_images,
        }
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    def load_checkpoint(self) -> bool:
        if not self.checkpoint_path.is_file():
            return False
        try:
            state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=False)
        except Exception as exc:  # a torn file from a kill mid-write cannot happen (rename), but be safe
            log.warning("ignoring unreadable checkpoint %s: %s", self.checkpoint_path, exc)
            return False
        if state.get("key") != self.rc.key:
            return False
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.ctx.labels[:] = state["labels"]
        self.method.load_state_dict(state["method_state"])
        self.ctx.state.update(state["ctx_state"])
        for name in ("history", "label_quality", "best", "last", "train_seconds", "eval_seconds", "trained_images"):
            setattr(self, name, state[name])
        self.start_epoch = state["next_epoch"]
        log.info("resumed %s at epoch %d", self.cell.name, self.start_epoch + 1)
        return True

    # training -------------------------------------------------------------------------
    def log_label_quality(self, epoch: int) -> float | None:
        quality = label_iou(self.ctx.labels, self.train)
        if quality is not None:
            self.label_quality.append({"epoch": epoch, "iou": quality})
        return quality

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        torch.manual_seed(seed_hash(self.rc.init_seed, "epoch", epoch))
        self.ctx.epoch = epoch
        indices = self.method.epoch_indices(epoch, self.ctx)
        loader = self.training.loader(epoch, indices)
        self.model.train()
        total, batches, images = 0.0, 0, 0
        start = time.perf_counter()
        for batch in loader:
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            x = batch["image"]
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(self.device, self.profile.amp):
                out = self.model(x)
            loss = self.method.loss(out, batch, self.ctx)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch + 1}; lower the learning rate")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach())
            batches += 1
            images += x.shape[0]
        seconds = time.perf_counter() - start
        self.train_seconds += seconds
        self.trained_images += images
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        return {"epoch": epoch + 1, "loss": total / max(batches, 1), "lr": lr, "seconds": seconds, "train_images": images}

    def run(self, on_epoch: Callable[[dict[str, Any]], None] | None) -> None:
        resumed = self.load_checkpoint()
        if not resumed:
            self.method.setup(self.ctx)
            self.log_label_quality(0)
        epochs = self.profile.epochs
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=epochs, initial=self.start_epoch, desc=self.cell.name, unit="ep", leave=False)
        try:
            for epoch in range(self.start_epoch, epochs):
                entry = self.train_epoch(epoch)
                self.ctx.last_epoch = entry
                method_log = self.method.end_epoch(epoch, self.ctx) or {}
                if method_log.pop("labels_changed", False):
                    quality = self.log_label_quality(epoch + 1)
                    if quality is not None:
                        entry["label_iou"] = quality
                if method_log:
                    entry["method"] = method_log
                last_epoch = epoch + 1 == epochs
                if last_epoch or (epoch + 1) % self.profile.eval_every == 0:
                    evaluation = self.evaluate(epoch + 1, LAST_SELECTION)
                    entry["test"] = evaluation["subsets"]["all"]
                    if self.best is None or evaluation["subsets"]["all"]["iou"] > self.best["subsets"]["all"]["iou"]:
                        self.best = {**evaluation, "selection": BEST_SELECTION}
                    if last_epoch:
                        self.last = evaluation
                self.history.append(entry)
                if last_epoch or (epoch + 1) % self.profile.checkpoint_every == 0:
                    self.save_checkpoint(epoch + 1)
                if on_epoch is not None:
                    on_epoch(entry)
                if bar is not None:
                    bar.set_postfix(loss=f"{entry['loss']:.4f}", **({"IoU": f"{entry['test']['iou']:.1f}"} if "test" in entry else {}))
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()


def _base_record(rc: ResolvedCell, suite: str) -> Record:
    return {
        "schema_version": SCHEMA_VERSION,
        "key": rc.key,
        "variant": variant_key(rc.config),  # the key less the seed: what reports average over
        "name": rc.cell.name,
        "suite": suite,
        "cell": rc.config["cell"],
        "config": rc.config,
        "method": {**rc.method.describe(), "spec": rc.cell.method_spec},
        "seeds": rc.seeds,
    }


def run_cell(
    cell: Cell,
    store: Store,
    options: RunOptions | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> Record:
    """Train and evaluate one cell, write its record into ``store``, and return it.

    A failure is recorded (status "failed", with the error and traceback) and returned,
    never raised, so one bad cell cannot stop a grid. Configuration errors (unknown
    names) raise before anything runs.
    """
    options = options or RunOptions()
    rc = resolve(cell)
    threads_before = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(options.threads)
    try:
        return _run_and_record(rc, store, options, on_epoch)
    finally:
        torch.set_num_threads(threads_before)


def _run_and_record(
    rc: ResolvedCell, store: Store, options: RunOptions, on_epoch: Callable[[dict[str, Any]], None] | None
) -> Record:
    record = _base_record(rc, store.suite)
    started = datetime.now(timezone.utc)
    wall = time.perf_counter()
    run = None
    try:
        run = _Run(rc, options, store.work_dir(rc.key))
        run.run(on_epoch)
        record.update(
            status="done",
            metrics={"last": run.last, "best": run.best},
            label_quality=run.label_quality,
            history=run.history,
        )
    except Exception as exc:  # recorded, not raised: the grid goes on
        log.error("cell %s failed: %s", rc.cell.name, exc)
        record.update(
            status="failed",
            error={"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()},
        )
    if run is not None:
        params = sum(p.numel() for p in run.model.parameters())
        record["detector"] = {
            "name": rc.cell.detector,
            "width": run.profile.detector_width,
            "in_channels": run.channels,
            "parameters": params,
        }
        record["data"] = {
            "dataset": rc.cell.dataset,
            "train_fingerprint": run.train.fingerprint,
            "test_fingerprint": run.test.fingerprint,
            "train_images": len(run.train),
            "test_images": len(run.test),
            "norm": {"mean": run.norm[0], "std": run.norm[1]},
            "repairs": sorted(set(run.train.repairs + run.test.repairs)),
        }
        record["fingerprints"] = record_fingerprints(rc, run.train.fingerprint, run.test.fingerprint)  # staleness
        record["timing"] = {
            "train_seconds": run.train_seconds,
            "eval_seconds": run.eval_seconds,
            "train_images_per_second": run.trained_images / run.train_seconds if run.train_seconds else None,
            "wall_seconds_this_run": time.perf_counter() - wall,
            "resumed_from_epoch": run.start_epoch,  # 0: trained from scratch; k: continued a checkpoint after epoch k
        }
    record["provenance"] = {
        **provenance(pick_device(options.device)),
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    store.write(record)
    if record["status"] == "done" and not options.keep_checkpoint and run is not None:
        run.checkpoint_path.unlink(missing_ok=True)
        try:
            run.workdir.rmdir()
        except OSError:
            pass
    return record
